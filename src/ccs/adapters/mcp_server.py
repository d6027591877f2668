"""``stale-write-guard-fs``: an MCP server (stdio) over a ``CoherentVolume``.

Any MCP client gets the volume's guarantee with no Python integration: a write derived from a
stale read, a write over an edit made outside the volume, and a compare-and-set at an old version
are refused with a machine-readable payload (``code``, ``current_version``, ``recover``) the model
can act on, and nothing is written.

Configuration (environment, or the command-line flags of ``main``):

``SWG_ROOT``     the workspace root (default: the working directory)
``SWG_MANAGED``  comma-separated globs of the managed files (default: what the root's state
                 recorded, ``**`` for a new root)
``SWG_AGENT``    this session's agent name (default ``host:pid``)
``SWG_ENGINE``   engine URL (default ``sqlite:///<root>/.ccs/state.db``)

Each server process is one agent: its reads register the views its writes are checked against.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.protocol.errors import CoherenceError, InvalidValue

INSTRUCTIONS = """\
Files in this workspace are shared with other agents and people. Protocol:
1. read(path) before you change a file; it returns the content and its version.
2. write(path, content) commits your change as derived from your last read of that file.
3. If a call returns ok=false, nothing was written. Follow `recover`: usually reacquire(path)
   (returns the current content), re-apply your change to it, and write again.
write_cas(path, expected_version, content) commits only if the file is still at that version.
publish(files) commits several files at once: all of them or none.
"""


def _deny(exc: CoherenceError) -> dict[str, Any]:
    payload = exc.to_dict()
    payload["ok"] = False
    payload["path"] = payload.pop("artifact")
    return payload


def _content(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {"exists": False, "content": None, "encoding": None}
    try:
        return {"exists": True, "content": data.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"exists": True, "content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


def _payload(content: str, encoding: str) -> bytes:
    if encoding == "utf-8":
        return content.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except ValueError as exc:
            raise InvalidValue(f"content is not valid base64: {exc}") from exc
    raise InvalidValue(f"encoding must be 'utf-8' or 'base64', not {encoding!r}")


class Tools:
    """The tool implementations, independent of the MCP package (each returns a JSON object)."""

    def __init__(self, vol: CoherentVolume) -> None:
        self.vol = vol

    def call(self, fn, *args: Any) -> dict[str, Any]:
        try:
            return {"ok": True, **fn(*args)}
        except CoherenceError as exc:
            return _deny(exc)

    def read(self, path: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            _, v = self.vol._read(path)
            return {"path": path, "version": v.version, **_content(v.value)}
        return self.call(run)

    def write(self, path: str, content: str, encoding: str = "utf-8") -> dict[str, Any]:
        return self.call(lambda: {"path": path,
                                  "version": self.vol.write(path, _payload(content, encoding))})

    def write_cas(self, path: str, expected_version: int, content: str,
                  encoding: str = "utf-8") -> dict[str, Any]:
        return self.call(lambda: {"path": path, "version": self.vol.write_cas_at(
            path, expected_version, _payload(content, encoding))})

    def reacquire(self, path: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            v = self.vol._fresh(self.vol._id(path), acquire=True, adopt=True)
            return {"path": path, "version": v.version, **_content(v.value)}
        return self.call(run)

    def publish(self, files: dict[str, str], expected_versions: dict[str, int] | None = None,
                encoding: str = "utf-8") -> dict[str, Any]:
        return self.call(lambda: {"versions": self.vol.publish(
            {p: _payload(c, encoding) for p, c in files.items()}, expected_versions)})

    def status(self, path: str | None = None) -> dict[str, Any]:
        return self.call(lambda: self.vol.status(path))


def build_server(vol: CoherentVolume):
    """An ``MCPServer`` (mcp 2.x; ``FastMCP`` on mcp 1.x) exposing the volume's tools."""
    try:
        from mcp.server.mcpserver import MCPServer as Server
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server
    from mcp.types import CallToolResult, TextContent

    # Tool functions carry no return annotation: they return a CallToolResult, passed through as is.
    tools = Tools(vol)
    server = Server("stale-write-guard-fs", instructions=INSTRUCTIONS)

    def result(payload: dict[str, Any]) -> CallToolResult:
        text = json.dumps(payload, sort_keys=True, default=str)
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structuredContent=payload, isError=not payload["ok"])

    @server.tool()
    def read(path: str):
        """Read a file (path relative to the workspace root). Returns content and version; your
        next write of this file is checked against this read."""
        return result(tools.read(path))

    @server.tool()
    def write(path: str, content: str, encoding: str = "utf-8"):
        """Write a file, derived from your last read of it. Refused (ok=false, nothing written)
        if someone else changed it since: follow `recover`."""
        return result(tools.write(path, content, encoding))

    @server.tool()
    def write_cas(path: str, expected_version: int, content: str,
                  encoding: str = "utf-8"):
        """Write a file only if it is still at expected_version (0: must not exist yet)."""
        return result(tools.write_cas(path, expected_version, content, encoding))

    @server.tool()
    def reacquire(path: str):
        """After a refused write: fetch the current content and version (adopting an edit made
        outside the volume); re-apply your change to it and write again."""
        return result(tools.reacquire(path))

    @server.tool()
    def publish(files: dict[str, str], expected_versions: dict[str, int] | None = None,
                encoding: str = "utf-8"):
        """Write several files at once: all land or none. Each is checked against your last read
        of it, or against expected_versions[path] when given."""
        return result(tools.publish(files, expected_versions, encoding))

    @server.tool()
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stale-write-guard-fs",
        description="MCP server (stdio): workspace files with stale writes refused")
    parser.add_argument("--root", help="workspace root (default: $SWG_ROOT or the working directory)")
    parser.add_argument("--managed", help="comma-separated globs (default: $SWG_MANAGED or the state's)")
    parser.add_argument("--agent", help="agent name of this session (default: $SWG_AGENT or host:pid)")
    parser.add_argument("--engine", help="engine URL (default: $SWG_ENGINE or <root>/.ccs/state.db)")
    args = parser.parse_args(argv)
    try:
        vol = open_volume(args.root, args.managed, args.agent, args.engine)
    except CoherenceError as exc:
        print(json.dumps(_deny(exc)), file=sys.stderr)
        return 2
    try:
        build_server(vol).run("stdio")
    finally:
        vol.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
