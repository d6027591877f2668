"""The hooks over HTTP, for ``ccs serve``: ``POST /hooks/<route>?mode=warn|strict``.

Each route takes the Claude Code hook input JSON as its body and answers the hook output JSON,
through the same ``ccs.hooks.claude_code.handle`` as ``ccs hook claude-code`` (which posts there
with ``--server``). Routes: ``pre-read`` (a Read, before and after the tool), ``pre-edit``,
``post-edit``, ``session-stop``. The repository is the server's: ``root``, by default the directory
the server was started in, never the payload's ``cwd`` (a client must not make the server adopt,
and so store and serve, any file its process can read); files outside it are not guarded (``{}``).
Errors are the typed error JSON with the server's status for each (``ccs.server.errors``: a body
that is not a JSON object is 400, a bad field 422). Behind ``--bind-agents``, the session's agent
``claude-code:<session_id>`` must be one the caller's token may act as (a token bound to
``claude-code:*`` may act as any session), or the call is refused (403 ``forbidden``).
"""

from __future__ import annotations

import os
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccs.hooks.claude_code import MODES, handle
from ccs.hooks.payload import ROUTES, parse
from ccs.hooks.sessions import session_agent
from ccs.protocol.errors import CoherenceError, InternalError, InvalidRequest
from ccs.server.api import parse_body
from ccs.server.auth import SCOPE_AGENTS, check_agent
from ccs.server.errors import error_response

SUMMARIES = {
    "pre-read": "Claude Code hook: register a Read (PreToolUse) and make it the session's view "
                "(PostToolUse)",
    "pre-edit": "Claude Code hook (PreToolUse Edit/MultiEdit/Write): deny (strict) or flag (warn) "
                "an edit made on a stale view",
    "post-edit": "Claude Code hook (PostToolUse Edit/MultiEdit/Write): commit what the tool wrote "
                 "as the session's change",
    "session-stop": "Claude Code hook (SessionEnd): forget the session's views",
}


def _endpoint(route: str, engine_url: str, read_only: bool, root: str) -> Any:
    async def endpoint(request: Request) -> Response:
        mode = request.query_params.get("mode", "warn")
        try:
            if mode not in MODES:
                raise InvalidRequest(f"mode must be one of {MODES}, not {mode[:40]!r}")
            payload = parse_body(await request.body())
            call = parse(payload, route)
            check_agent(request.scope.get(SCOPE_AGENTS), session_agent(call.session))
            out = await anyio.to_thread.run_sync(lambda: handle(
                payload, mode=mode, root=root, engine=engine_url, route=route, read_only=read_only))
        except CoherenceError as exc:
            return error_response(exc)
        except Exception as exc:  # never a bare 500 page: a typed error the hook client can show
            return error_response(InternalError(f"/hooks/{route} failed unexpectedly ({type(exc).__name__})"))
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
