"""``stale-write-guard-fs``: an MCP server (stdio) over a ``CoherentVolume``.

Any MCP client gets the volume's guarantee with no Python integration: a write derived from a
stale read, a write over an edit made outside the volume, and a compare-and-set at an old version
are refused with a machine-readable payload (``code``, ``current_version``, ``recover``) the model
can act on, and nothing is written.

Configuration (environment, or the command-line flags of ``main``):

``SWG_ROOT``     the workspace root (default: the working directory)
``SWG_MANAGED``  comma-separated globs of the managed files (default: what the root's state
                 recorded, ``**`` for a new root; required when the state was lost)
``SWG_AGENT``    this session's agent name (default ``host:pid``)
``SWG_ENGINE``   engine URL (default ``sqlite:///<root>/.ccs/state.db``)

Each server process is one agent: its reads register the views its writes are checked against.
With ``CCS_DISABLE=1`` the volume is a pass-through (``docs/kill-switches.md``): the tools read and
write the files unchecked, and every result carries ``"coherence": "disabled ..."``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from ccs._meta import package_version
from ccs.adapters.coherent_volume import CoherentVolume
from ccs.adapters.coherent_volume.boundary import translate
from ccs.merge.packet import with_packet
from ccs.protocol.errors import (
    CoherenceError,
    InternalError,
    InvalidRequest,
    InvalidValue,
    MergeConflict,
    StaleView,
)
from ccs.protocol.wire import content_bytes as _payload
from ccs.protocol.wire import content_fields as _content
from ccs.protocol.wire import json_safe as _json_safe

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Files in this workspace are shared with other agents and people. Protocol:
1. read(path) before you change a file; it returns the content and its version.
2. write(path, content) commits your change as derived from your last read of that file.
3. If a call returns ok=false, nothing was written (unless `recover` says the change was
   committed). Follow `recover`: usually reacquire(path) (returns the current content),
   re-apply your change to it, and write again.
write_cas(path, expected_version, content) commits only if the file is still at that version.
write(..., merge="auto") merges your edit with edits made since your read when they do not
overlap (ok=true, merged=true); a refusal carries `conflict_packet`: what changed since your read,
by whom, your change, and the exact call to make next.
publish(files) commits several files at once: all of them or none.
"""


DISABLED_NOTE = ("disabled (CCS_DISABLE is set on this server): files are read and written as they "
                 "are, with no versions and no checks; a write can overwrite another session's edit")


NEXT_WRITE = ("write_cas(path={artifact!r}, expected_version={version}, content=<the current file: "
              "your base with the changes above, plus your change>)")
NEXT_MERGE = ("write_cas(path={artifact!r}, expected_version={version}, content=<the current file: "
              "your base with the changes above, plus your change, the conflicting regions resolved>)")


def _deny(exc: CoherenceError) -> dict[str, Any]:
    payload = exc.to_dict()
    payload["ok"] = False
    payload["path"] = payload.pop("artifact")
    next_call = NEXT_MERGE if isinstance(exc, MergeConflict) else NEXT_WRITE
    if isinstance(exc, StaleView):
        next_call += "; or write(path, content, merge='auto') if your edit does not overlap theirs"
    return _json_safe(with_packet(payload, exc, next_call=next_call))


def _merged(version: int, how: str | None) -> dict[str, Any]:
    """``merged``: whether a write that asked to merge got there by merging."""
    return {} if how is None else {"merged": bool(getattr(version, "merged", False))}


def _merge_arg(merge: Any, path: Any) -> str | None:
    if merge is None or merge == "none":
        return None
    if merge == "auto":
        return "auto"
    raise InvalidValue(f"merge must be 'auto' or 'none', not {merge!r:.40}",
                       artifact=path if isinstance(path, str) else None,
                       recover="pass merge='auto' to merge non-overlapping edits, or omit it")


def _invalid_fields(exc: BaseException) -> list[str] | None:
    """The argument fields a pydantic ``ValidationError`` behind ``exc`` names, or None."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if type(cause).__name__ != "ValidationError" or not callable(errors):
        return None
    return sorted({".".join(str(part) for part in err.get("loc", ())) for err in errors()})


def _absent_expected(exc: CoherenceError, path: str, read_here: bool) -> CoherenceError:
    """A write with no base (version 0) refused because the file exists, said in this server's
    terms: the session never read the file, or read it when it did not exist yet."""
    if not isinstance(exc, StaleView) or exc.details.get("base_version") != 0:
        return exc
    why = "it did not exist when this session read it" if read_here else "never read in this session"
    by = exc.details.get("committed_by")
    new = StaleView(
        f"{path}: expected the file to be absent ({why}), but version {exc.current_version} exists"
        + (f" (written by {by})" if by else ""),
        artifact=exc.artifact, current_version=exc.current_version, current_epoch=exc.current_epoch,
        recover="read(path) to get the current content, apply your change to it, and write again; "
                "nothing was written",
        **exc.details)
    new.context = exc.context
    return new


class Tools:
    """The tool implementations, independent of the MCP package (each returns a JSON object).

    Every call returns ``{"ok": true, ...}`` or the deny payload (``ok: false``, ``code``,
    ``path``, ``current_version``, ``recover``, ``retryable``): a ``CoherenceError`` as is, an
    ``OSError`` or a damaged state as its typed error, anything else as ``internal_error``
    (logged to stderr, never sent as Python text). The volume is opened on first use, and again
    on a later call if that failed (``.ccs`` unusable, state lost...): the model gets the typed
    error instead of a server that never started."""

    def __init__(self, vol: CoherentVolume | Callable[[], CoherentVolume]) -> None:
        self._vol = vol if isinstance(vol, CoherentVolume) else None
        self._open = None if isinstance(vol, CoherentVolume) else vol
        self._lock = threading.Lock()
        self._read_here: set[str] = set()  # paths this session (server process) read or wrote

    @property
    def vol(self) -> CoherentVolume:
        with self._lock:
            if self._vol is None:
                assert self._open is not None
                self._vol = self._open()
            return self._vol

    def close(self) -> None:
        if self._vol is not None:
            self._vol.close()

    def call(self, op: str, path: Any, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return self._disabled_note(_json_safe({"ok": True, **fn()}))
        except Exception as exc:
            shown = path if isinstance(path, str) else None
            if isinstance(exc, CoherenceError):
                return self._disabled_note(_deny(exc))
            err = translate(exc, shown, op, getattr(self._vol, "engine", "?"))
            if err is None:
                log.exception("stale-write-guard-fs: unexpected error in %s", op)
                err = InternalError(f"{op} failed unexpectedly ({type(exc).__name__})", artifact=shown)
            return self._disabled_note(_deny(err))

    def _disabled_note(self, payload: dict[str, Any]) -> dict[str, Any]:
        """With CCS_DISABLE (the volume is a pass-through) every result says so."""
        if getattr(self._vol, "coherence_disabled", False):
            payload["coherence"] = DISABLED_NOTE
        return payload

    def read(self, path: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            _, v = self.vol._read(path)
            self._read_here.add(path)
            return {"path": path, "version": v.version, **_content(v.value)}
        return self.call("read", path, run)

    def write(self, path: str, content: str, encoding: str = "utf-8",
              merge: str | None = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            data = _payload(content, encoding, path)
            how = _merge_arg(merge, path)
            try:
                version = self.vol.write(path, data, merge=how)
            except StaleView as exc:
                raise _absent_expected(exc, path, path in self._read_here) from None
            self._read_here.add(path)
            return {"path": path, "version": version, **_merged(version, how)}
        return self.call("write", path, run)

    def write_cas(self, path: str, expected_version: int, content: str,
                  encoding: str = "utf-8", merge: str | None = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            how = _merge_arg(merge, path)
            version = self.vol.write_cas_at(path, expected_version, _payload(content, encoding, path),
                                            merge=how)
            return {"path": path, "version": version, **_merged(version, how)}
        return self.call("write_cas", path, run)

    def reacquire(self, path: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            v = self.vol._fresh(self.vol._id(path), acquire=True, adopt=True)
            self._read_here.add(path)
            return {"path": path, "version": v.version, **_content(v.value)}
        return self.call("reacquire", path, run)

    def publish(self, files: dict[str, str], expected_versions: dict[str, int] | None = None,
                encoding: str = "utf-8") -> dict[str, Any]:
        def run() -> dict[str, Any]:
            if not isinstance(files, dict):
                raise InvalidValue("files must map paths to contents")
            payloads = {p: _payload(c, encoding, p) for p, c in files.items()}
            return {"versions": self.vol.publish(payloads, expected_versions)}
        return self.call("publish", None, run)

    def status(self, path: str | None = None) -> dict[str, Any]:
        return self.call("status", path, lambda: self.vol.status(path))


def build_server(vol: CoherentVolume | Tools):
    """An ``MCPServer`` (mcp 2.x; ``FastMCP`` on mcp 1.x) exposing the volume's tools."""
    try:
        from mcp.server.mcpserver import MCPServer as Server
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server
    from mcp.types import CallToolResult, TextContent, ToolAnnotations

    # Tool functions carry no return annotation: they return a CallToolResult, passed through as is.
    tools = vol if isinstance(vol, Tools) else Tools(vol)

    def result(payload: dict[str, Any]) -> CallToolResult:
        text = json.dumps(payload, sort_keys=True, default=str)
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structuredContent=payload, isError=not payload["ok"])

    class GuardServer(Server):
        async def call_tool(self, name: str, arguments: dict[str, Any], *args: Any, **kwargs: Any):
            """Arguments of the wrong type (``expected_version: "abc"``) get the deny payload
            too, naming the fields, instead of the validator's text. So do unknown arguments: a
            misspelt ``encodng: "base64"`` would otherwise write the base64 text itself."""
            unknown = sorted(set(arguments) - params[name]) \
                if isinstance(arguments, dict) and name in params else []
            if unknown:
                path = arguments.get("path")
                return result(_deny(InvalidRequest(
                    f"{name}: unknown argument(s): {', '.join(unknown)}", unknown_arguments=unknown,
                    artifact=path if isinstance(path, str) else None,
                    recover=f"call {name} with only its arguments: {', '.join(sorted(params[name]))}; "
                            "nothing was changed")))
            try:
                return await super().call_tool(name, arguments, *args, **kwargs)
            except Exception as exc:
                fields = _invalid_fields(exc)
                if fields is None:
                    raise
                path = arguments.get("path") if isinstance(arguments, dict) else None
                return result(_deny(InvalidRequest(
                    f"{name}: invalid arguments: {', '.join(fields)}", invalid_fields=fields,
                    artifact=path if isinstance(path, str) else None,
                    recover="call the tool again with arguments of the types its schema gives; "
                            "nothing was changed")))

    if "version" in inspect.signature(Server.__init__).parameters:  # mcp 2.x
        server = GuardServer("stale-write-guard-fs", instructions=INSTRUCTIONS, version=package_version())
    else:  # mcp 1.x: the low-level server reports the mcp package's version unless told
        server = GuardServer("stale-write-guard-fs", instructions=INSTRUCTIONS)
        server._mcp_server.version = package_version()
    params: dict[str, set[str]] = {}

    def tool(title: str, **hints: bool) -> Callable[[Any], Any]:
        """Register ``fn`` with a title, its docstring as the description (dedented), and the
        behaviour hints of the MCP spec: every tool acts only on this workspace (closed world)."""
        def register(fn: Any) -> Any:
            params[fn.__name__] = set(inspect.signature(fn).parameters)
            annotations = ToolAnnotations.model_validate({"title": title, "openWorldHint": False, **hints})
            return server.tool(title=title, description=inspect.cleandoc(fn.__doc__),
                               annotations=annotations)(fn)
        return register

    @tool("Read a file", readOnlyHint=True, idempotentHint=True)
    def read(path: str):
        """Read a file (path relative to the workspace root). Returns content and version; your
        next write of this file is checked against this read."""
        return result(tools.read(path))

    @tool("Write a file", readOnlyHint=False, destructiveHint=True, idempotentHint=False)
    def write(path: str, content: str, encoding: str = "utf-8", merge: str | None = None):
        """Write a file, derived from your last read of it. Refused (ok=false, nothing written)
        if someone else changed it since: follow `next` in `conflict_packet`. With
        merge="auto", edits made since your read are merged with yours when they do not
        overlap (merged=true); overlapping edits are refused (code merge_conflict)."""
        return result(tools.write(path, content, encoding, merge))

    @tool("Write a file at a version", readOnlyHint=False, destructiveHint=True, idempotentHint=True)
    def write_cas(path: str, expected_version: int, content: str,
                  encoding: str = "utf-8", merge: str | None = None):
        """Write a file only if it is still at expected_version (0: must not exist yet). With
        merge="auto", a newer version is merged with your change when the edits do not overlap."""
        return result(tools.write_cas(path, expected_version, content, encoding, merge))

    @tool("Reacquire a file after a refusal", readOnlyHint=False, destructiveHint=False, idempotentHint=True)
    def reacquire(path: str):
        """After a refused write: fetch the current content and version (adopting an edit made
        outside the volume); re-apply your change to it and write again."""
        return result(tools.reacquire(path))

    @tool("Write several files at once", readOnlyHint=False, destructiveHint=True, idempotentHint=False)
    def publish(files: dict[str, str], expected_versions: dict[str, int] | None = None,
                encoding: str = "utf-8"):
        """Write several files at once: all land or none. Each is checked against your last read
        of it, or against expected_versions[path] when given."""
        return result(tools.publish(files, expected_versions, encoding))

    @tool("Status of the managed files", readOnlyHint=True, idempotentHint=True)
    def status(path: str | None = None):
        """Versions and disk state of the managed files (or of one path)."""
        return result(tools.status(path))

    return server


def open_volume(root: str | None = None, managed: str | None = None, agent: str | None = None,
                engine: str | None = None) -> CoherentVolume:
    root = root or os.environ.get("SWG_ROOT") or os.getcwd()
    managed = managed if managed is not None else os.environ.get("SWG_MANAGED")
    globs = None if not managed else tuple(g.strip() for g in managed.split(",") if g.strip())
    return CoherentVolume(root, managed=globs, agent=agent or os.environ.get("SWG_AGENT") or None,
                          engine=engine or os.environ.get("SWG_ENGINE") or None)


def main(argv: list[str] | None = None, prog: str = "stale-write-guard-fs") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="MCP server (stdio): workspace files with stale writes refused")
    parser.add_argument("--root", help="workspace root (default: $SWG_ROOT or the working directory)")
    parser.add_argument("--managed", help="comma-separated globs (default: $SWG_MANAGED or the state's)")
    parser.add_argument("--agent", help="agent name of this session (default: $SWG_AGENT or host:pid)")
    parser.add_argument("--engine", help="engine URL (default: $SWG_ENGINE or <root>/.ccs/state.db)")
    args = parser.parse_args(argv)
    # mcp 1.x with a recent pydantic-settings warns about its own settings model at startup: noise
    # on the one stream a user reads when the server does not start.
    warnings.filterwarnings("ignore", message=r"Field 'lifespan' has an incomplete definition")
    tools = Tools(lambda: open_volume(args.root, args.managed, args.agent, args.engine))
    try:
        tools.vol  # noqa: B018 - open now, so that a bad workspace is reported at start too
    except CoherenceError as exc:
        # Serve anyway: every call returns this typed error (and retries the open) until fixed.
        # Said once on stderr, on one line, in the command line's words.
        recover = exc.recover
        if "managed" in exc.message and "managed=" in recover:
            recover = ("set SWG_MANAGED (or --managed) to comma-separated globs relative to the root, "
                       "e.g. plans/**,CLAUDE.md")
        print(f"{prog}: error [{exc.code}]: {exc.message} (hint: {recover})".replace("\n", " "),
              file=sys.stderr)
    try:
        build_server(tools).run("stdio")
    finally:
        tools.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
