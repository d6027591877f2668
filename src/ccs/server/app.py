"""The ASGI application of ``ccs serve``: the endpoint table as Starlette routes behind the guard
(token, body limit), each call run in a worker thread under the per-request timeout."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccs import killswitch
from ccs._meta import package_version
from ccs.client.core import CoherenceAdapterCore
from ccs.coordinator import Limits
from ccs.protocol.errors import (
    CoherenceError,
    InternalError,
    InvalidRequest,
    OutcomeUnknown,
    RequestTimeout,
    UnknownEndpoint,
)
from ccs.protocol.wire import json_safe
from ccs.server import openapi
from ccs.server.api import ENDPOINTS, Endpoint, check_fields, parse_body, parse_query
from ccs.server.auth import SCOPE_AGENTS, Guard, Tokens, check_agent
from ccs.server.config import ServeConfig, max_body_bytes
from ccs.server.errors import error_response
from ccs.server.service import DISABLED, Service
from ccs.server.sse import PING_SECONDS, EventHub

try:
    from ccs.hooks.http import hook_routes
except ImportError:  # the hooks are not installed in this build
    hook_routes = None

log = logging.getLogger("ccs.server")
SERVER = "ccs serve (the HTTP agent API)"
COHERENCE_HEADER = "CCS-Coherence"  # on every response while CCS_DISABLE is on: "disabled"


class Marked:
    """Adds ``CCS-Coherence: disabled`` to every response (refusals by the guard too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marked(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (COHERENCE_HEADER.lower().encode(), b"disabled")]}
            await send(message)
        await self.app(scope, receive, marked if scope["type"] != "lifespan" else send)


def _route(ep: Endpoint, service: Service, timeout: float) -> Callable[[Request], Any]:
    method = getattr(service, ep.handler)

    async def handle(request: Request) -> Response:
        started = False
        raw: dict[str, Any] = {}

        def call(args: dict[str, Any]) -> Any:
            nonlocal started
            started = True
            return method(**args)

        try:
            with anyio.fail_after(timeout):
                if ep.mutating:
                    service.refuse_if_read_only(ep.name)
                if ep.method == "GET":
                    raw = parse_query(ep, request.query_params.multi_items())
                elif request.url.query:
                    raise InvalidRequest(f"{ep.name} takes its fields in the JSON body, not in the "
                                         "query string", query=request.url.query[:200])
                else:
                    raw = parse_body(await request.body())
                args = check_fields(ep, raw)
                if ep.agent:
                    check_agent(request.scope.get(SCOPE_AGENTS), args["agent"])
                result = await anyio.to_thread.run_sync(call, args, abandon_on_cancel=True)
        except TimeoutError:
            shown = raw.get("artifact") if started and isinstance(raw.get("artifact"), str) else None
            if started and ep.mutating:
                return error_response(OutcomeUnknown(
                    f"{ep.name} did not finish within {timeout:g}s; it may still land", artifact=shown,
                    timeout=timeout, recover="read the artifact (or /v1/log) to see whether it landed "
                                             "before writing again"))
            return error_response(RequestTimeout(f"{ep.name} did not finish within {timeout:g}s",
                                                 artifact=shown, timeout=timeout))
        except CoherenceError as exc:
            return error_response(exc)
        except Exception as exc:
            log.exception("ccs serve: unexpected error in %s", ep.name)
            return error_response(InternalError(f"{ep.name} failed unexpectedly ({type(exc).__name__})"))
        if service.disabled and isinstance(result, dict) and ep.agent:
            result = {**result, "coherence": DISABLED}
        return JSONResponse(json_safe(result))

    handle.__name__ = ep.name
    handle.__doc__ = ep.summary
    return handle


def create_app(config: ServeConfig, tokens: Tokens) -> Starlette:
    """The app, with its engine opened now: a bad engine URL fails here, before anything listens."""
    limits = Limits()
    disabled = killswitch.coherence_disabled(SERVER)  # InvalidSwitch if misspelt
    if disabled:  # this line, not the agent API's "still checks every write": here it does not
        killswitch.said(killswitch.AGENT_API)
        log.warning("CCS_DISABLE is set: /v1/write, /v1/commit and transactions without "
                    "expected_versions land blind and reads always ask the engine; /v1/write_cas and "
                    "/v1/commit_cas still compare; every response carries '%s: disabled'",
                    COHERENCE_HEADER)
    core = CoherenceAdapterCore(config.engine, strategy=config.strategy, limits=limits)
    max_body = max_body_bytes(limits)
    service = Service(core, read_only=config.read_only, disabled=disabled, extra={
        "version": package_version(), "max_body_bytes": max_body,
        "max_content_bytes": limits.max_content_bytes, "request_timeout": config.request_timeout})
    hub = EventHub(core.coordinator.bus)

    async def events(request: Request) -> Response:
        """Server-Sent Events: one per invalidation, for remote caches."""
        prefix = request.query_params.get("prefix", "")
        return EventSourceResponse(hub.stream(prefix), ping=PING_SECONDS)

    async def describe(request: Request) -> Response:
        """This API's OpenAPI description."""
        return JSONResponse(openapi.describe(request.app.routes, read_only=config.read_only))

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(UnknownEndpoint(f"no route {request.url.path[:200]}"))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(UnknownEndpoint(f"{request.method} is not allowed on "
                                              f"{request.url.path[:200]}"), status=405)

    routes = [Route(ep.path, _route(ep, service, config.request_timeout), methods=[ep.method])
              for ep in ENDPOINTS]
    routes += [Route("/v1/events", events, methods=["GET"]),
               Route("/openapi.json", describe, methods=["GET"])]
    if hook_routes is not None:
        routes += hook_routes(engine_url=config.engine, read_only=config.read_only)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            hub.close()
            core.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[*([Middleware(Marked)] if disabled else []),
                                Middleware(Guard, tokens=tokens, max_body=max_body)],
                    exception_handlers={404: not_found, 405: not_allowed})
    app.router.redirect_slashes = False  # one spelling per route: /v1/write/ is not /v1/write
    return app
