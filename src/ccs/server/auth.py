"""The guard in front of every route: a bearer token (compared in constant time) and the body
size limit, enforced before a route reads anything.

A pure ASGI middleware, so the limit holds for chunked bodies too: the bytes are counted as they
arrive and the read fails with ``PayloadTooLarge`` the moment the limit is passed.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccs.protocol.errors import (
    CoherenceError,
    Forbidden,
    InvalidRequest,
    PayloadTooLarge,
    Unauthorized,
    UnknownEndpoint,
)
from ccs.server.errors import MALFORMED, error_response

SCOPE_AGENTS = "ccs.agents"  # scope key: the agent names the caller's token may act as (None: any)


class Tokens:
    """The accepted tokens, each with the agent names it may act as (``None``: any)."""

    def __init__(self, admin: str | None, bound: Mapping[str, frozenset[str] | None] | None = None):
        self._tokens: list[tuple[bytes, frozenset[str] | None]] = []
        if admin is not None:
            self._tokens.append((admin.encode(), None))
        for token, names in (bound or {}).items():
            self._tokens.append((token.encode(), names))

    def check(self, authorization: bytes | None) -> frozenset[str] | None:
        """The names the presented token may act as; ``Unauthorized`` if it is none of ours.
        Every configured token is compared, found or not, each in constant time."""
        if not authorization:
            raise Unauthorized("no bearer token: send 'Authorization: Bearer <token>'")
        scheme, _, presented = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not presented.strip():
            raise Unauthorized("the Authorization header is not 'Bearer <token>'")
        presented = presented.strip()
        found: tuple[bool, frozenset[str] | None] = (False, None)
        for token, names in self._tokens:
            if hmac.compare_digest(token, presented) and not found[0]:
                found = (True, names)
        if not found[0]:
            raise Unauthorized("the bearer token is not one this server accepts")
        return found[1]


def check_agent(names: frozenset[str] | None, agent: str) -> None:
    """``Forbidden`` unless the caller's token (allowed ``names``, where one ending in ``*`` is a
    prefix; ``None``: any) may act as ``agent``. Routes mounted from elsewhere (the hooks) find
    ``names`` in ``scope[SCOPE_AGENTS]``."""
    if names is not None and agent not in names and not any(
            n.endswith("*") and agent.startswith(n[:-1]) for n in names):  # a prefix pattern
        raise Forbidden(f"this token may not act as agent {agent!r}", agent=agent)


async def refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse a WebSocket handshake with the typed error as its HTTP response (the ASGI denial
    response, where the server supports it; else a bare close, which the server answers 403)."""
    exc = UnknownEndpoint(f"{scope.get('path', '')[:200]}: this server has no WebSocket endpoints",
                          recover="use plain HTTP requests; invalidations stream over GET /v1/events "
                                  "(Server-Sent Events)")
    await receive()  # websocket.connect
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    response = error_response(exc)
    await send({"type": "websocket.http.response.start", "status": response.status_code,
                "headers": response.raw_headers})
    await send({"type": "websocket.http.response.body", "body": response.body})


class Guard:
    def __init__(self, app: ASGIApp, tokens: Tokens, max_body: int) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no WebSocket routes: refuse rather than pass it on unchecked
            await refuse_websocket(scope, receive, send)
            return
        headers = dict(scope["headers"])  # the last of a repeated header: refused below if odd
        try:
            if sum(1 for k, _ in scope["headers"] if k == b"authorization") > 1:
                raise Unauthorized("more than one Authorization header")
            names = self.tokens.check(headers.get(b"authorization"))
            declared = headers.get(b"content-length")
            if declared is not None and not declared.isdigit():
                raise InvalidRequest("Content-Length is not a number", reason=MALFORMED)
            if declared is not None and int(declared) > self.max_body:
                raise PayloadTooLarge(f"the request body is larger than the server's limit of "
                                      f"{self.max_body} bytes", limit=self.max_body)
        except CoherenceError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope[SCOPE_AGENTS] = names
        received = 0
        limit = self.max_body

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the request body is larger than the server's limit of "
                                          f"{limit} bytes", limit=limit)
            return message

        await self.app(scope, limited, send)
