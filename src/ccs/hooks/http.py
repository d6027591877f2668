"""The hooks over HTTP, for ``ccs serve``: ``POST /hooks/<route>?mode=warn|strict``.

Each route takes the Claude Code hook input JSON as its body and answers the hook output JSON,
through the same ``ccs.hooks.claude_code.handle`` as ``ccs hook claude-code`` (which posts there
with ``--server``). Routes: ``pre-read`` (a Read, before and after the tool), ``pre-edit``,
``post-edit``, ``session-stop``. The repository is the server's: ``root``, by default the directory
the server was started in, never the payload's ``cwd`` (a client must not make the server adopt,
and so store and serve, any file its process can read); files outside it are not guarded (``{}``).
Errors are the typed error JSON with a 4xx/5xx status.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccs.hooks.claude_code import MODES, handle
from ccs.hooks.payload import ROUTES, parse_json
from ccs.protocol.errors import (
    BackendUnavailable,
    CoherenceError,
    ConflictError,
    InternalError,
    InvalidRequest,
)

SUMMARIES = {
    "pre-read": "Claude Code hook: register a Read (PreToolUse) and make it the session's view "
                "(PostToolUse)",
    "pre-edit": "Claude Code hook (PreToolUse Edit/MultiEdit/Write): deny (strict) or flag (warn) "
                "an edit made on a stale view",
    "post-edit": "Claude Code hook (PostToolUse Edit/MultiEdit/Write): commit what the tool wrote "
                 "as the session's change",
    "session-stop": "Claude Code hook (SessionEnd): forget the session's views",
}


def _status(exc: CoherenceError) -> int:
    if isinstance(exc, InvalidRequest):
        return 400
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, BackendUnavailable):
        return 503
    return 500


def _error(exc: CoherenceError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=_status(exc))


def _endpoint(route: str, engine_url: str, read_only: bool, root: str) -> Any:
    async def endpoint(request: Request) -> Response:
        mode = request.query_params.get("mode", "warn")
        try:
            if mode not in MODES:
                raise InvalidRequest(f"mode must be one of {MODES}, not {mode[:40]!r}")
            payload = parse_json(await request.body())
            out = await anyio.to_thread.run_sync(lambda: handle(
                payload, mode=mode, root=root, engine=engine_url, route=route, read_only=read_only))
        except CoherenceError as exc:
            return _error(exc)
        except Exception as exc:  # never a bare 500 page: a typed error the hook client can show
            return _error(InternalError(f"/hooks/{route} failed unexpectedly ({type(exc).__name__})"))
        return JSONResponse(out)

    endpoint.__name__ = "hook_" + route.replace("-", "_")
    endpoint.__doc__ = SUMMARIES[route]
    return endpoint


def hook_routes(*, engine_url: str, read_only: bool, root: str | None = None) -> list[Route]:
    """``POST /hooks/pre-read``, ``/hooks/pre-edit``, ``/hooks/post-edit``, ``/hooks/session-stop``
    over the engine at ``engine_url``, for the repository at ``root`` (default: the working
    directory now). With ``read_only`` nothing is recorded, but an edit whose view is provably
    stale is still refused (strict) or flagged (warn)."""
    root = os.path.realpath(root or os.getcwd())
    return [Route(f"/hooks/{route}", _endpoint(route, engine_url, read_only, root), methods=["POST"])
            for route in ROUTES]
