"""`ccs hook claude-code`: a Claude Code hook command (PreToolUse, PostToolUse, SessionEnd).

Reads the hook input JSON on stdin, prints the hook output JSON on stdout (exit 0). Exit codes
are chosen for Claude Code: exit 2 would block the tool call with stderr as the reason, so it is
never used for the hook's own failures; a malformed payload or an unusable state is a typed
error on stderr with exit 1, which Claude Code reports without blocking. An edit the hook could
not check is not such a failure: in strict mode it is refused through the JSON output (fail
closed), in warn mode it runs with a warning.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from ccs.protocol.errors import BackendUnavailable, CoherenceError

DESCRIPTION = ("check a coding session's edits against what it has read, so two sessions on one "
               "repository never silently overwrite each other (a Claude Code hook command)")
EPILOG = """\
examples (in .claude/settings.json, see examples/claude-code/.claude/settings.json):
  ccs hook claude-code                          # warn mode, state in <repo>/.ccs/state.db
  ccs hook claude-code --mode strict            # deny an edit made on a stale view
  ccs hook claude-code --engine postgresql://ccs@db:5432/ccs   # state on a shared engine
  ccs hook claude-code --server http://127.0.0.1:8765          # through `ccs serve`
  echo '{"session_id":"s1","hook_event_name":"PreToolUse","cwd":"'$PWD'","tool_name":"Edit",
         "tool_input":{"file_path":"'$PWD'/plan.md"}}' | ccs hook claude-code --mode strict

Covered: Read, Edit, MultiEdit, Write, NotebookEdit (PreToolUse and PostToolUse) and SessionEnd
(forgets the session's views). Not covered: files written by Bash or other tools (seen later as a
change made outside any session). Exit codes: 0 with the hook JSON on stdout; 1 a typed error on
stderr (Claude Code continues: exit 2, which blocks the tool, is never used); 2 a usage error."""

def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("assistant", choices=["claude-code"], help="the coding assistant whose hook "
                                                              "payloads are on stdin")
    p.add_argument("--mode", choices=["warn", "strict"], default="warn",
                   help="warn: let a stale edit run and tell the model; strict: deny it "
                        "(default: warn)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--engine", metavar="URL",
                       help="state engine URL (default: sqlite under <root>/.ccs/state.db)")
    where.add_argument("--server", metavar="URL",
                       help="post the payload to a `ccs serve` at URL (its /hooks/<event> routes)")
    p.add_argument("--root", metavar="DIR",
                   help="the repository root (default: $CLAUDE_PROJECT_DIR, else the payload's cwd)")
    p.add_argument("--token-file", metavar="FILE",
                   help="bearer token for --server (default: the CCS_TOKEN environment variable)")
    p.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS",
                   help="--server request timeout (default 10)")


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            return f.read().strip()
    return os.environ.get("CCS_TOKEN") or None


def post(server: str, action: str, body: bytes, mode: str, token: str | None,
         timeout: float) -> dict[str, Any]:
    """POST the hook payload to ``<server>/hooks/<route>?mode=...``; the server's typed errors
    come back as the same ``CoherenceError``."""
    from ccs.hooks.payload import route_of

    route = route_of(action)
    req = urllib.request.Request(f"{server.rstrip('/')}/hooks/{route}?mode={mode}", data=body,
                                 method="POST", headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            out = json.loads(resp.read())
        if not isinstance(out, dict):
            raise ValueError(f"expected the hook output object, got {type(out).__name__}")
        return out
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read())
        except ValueError:
            payload = None
        error = payload.get("error", payload) if isinstance(payload, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            err = CoherenceError.from_dict(error)
            if err.code != error["code"]:  # a code this build does not know: keep it readable
                err = CoherenceError(f"{error['code']}: {err.message}", artifact=err.artifact,
                                     recover=err.recover, remote_code=error["code"])
            raise err from None
        raise BackendUnavailable(f"{server} answered HTTP {exc.code}", engine=server) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BackendUnavailable(f"cannot reach {server}: {exc}", engine=server,
                                 recover="start `ccs serve`, or check --server and the token") from None


def handle(args: argparse.Namespace, raw: bytes) -> dict[str, Any]:
    from ccs import killswitch
    from ccs.hooks.claude_code import HOOK, disabled_output, unchecked_output
    from ccs.hooks.claude_code import handle as local
    from ccs.hooks.payload import essentials, parse, parse_json

    payload = parse_json(raw)
    root = args.root or os.environ.get("CLAUDE_PROJECT_DIR") or None
    if root is not None:
        root = os.path.abspath(root)
    if not args.server:
        return local(payload, mode=args.mode, root=root, engine=args.engine)
    call = parse(payload)
    if call.action == "ignore":
        return {}
    try:
        if killswitch.coherence_disabled(HOOK):  # this side's switch: the server has its own
            return disabled_output(call)
        body = json.dumps(essentials(payload)).encode()
        return post(args.server, call.action, body, args.mode, _token(args), args.timeout)
    except CoherenceError as exc:
        if call.action == "pre-edit":
            return unchecked_output(call, exc, args.mode)
        raise


def run(args: argparse.Namespace, stdin: Any = None, stdout: Any = None) -> int:
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    try:
        out = handle(args, stdin.read())
    except CoherenceError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"ccs hook: error [{exc.code}]: {exc.message}", file=sys.stderr)
        if exc.recover:
            print(f"  hint: {exc.recover}", file=sys.stderr)
        return 1
    except OSError as exc:  # --token-file unreadable, stdin closed
        print(f"ccs hook: error [os_error]: {exc}", file=sys.stderr)
        return 1
    stdout.write(json.dumps(out) + "\n")
    stdout.flush()
    return 0



def main(argv: list[str], debug: bool = False) -> int:
    """`ccs hook ...` without building the whole `ccs` parser: Claude Code runs this on every
    tool call, and importing every command's modules would double its start-up time."""
    parser = argparse.ArgumentParser(prog="ccs hook", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", default=debug,
                        help="show a traceback on errors")
    add_arguments(parser)
    return run(parser.parse_args(argv))
