"""Run the app under uvicorn on a socket bound here, so the real port (``--port 0``) is known and
announced before the first request can arrive."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from ccs import killswitch
from ccs.server.app import create_app
from ccs.server.auth import Tokens
from ccs.server.config import ServeConfig, default_token_file, load_bindings, load_or_create_token


def prepare(config: ServeConfig) -> tuple[Tokens, dict[str, Any]]:
    """Check the configuration and load (or create) the tokens; what to announce."""
    killswitch.switch(killswitch.DISABLE, False)  # a misspelt CCS_DISABLE: refuse before anything
    config.check()
    token_file = config.token_file or default_token_file()
    token, created = load_or_create_token(token_file)
    bound = load_bindings(config.bind_agents) if config.bind_agents is not None else None
    info = {"token_file": str(token_file), "token_created": created, "read_only": config.read_only,
            "bound_tokens": 0 if bound is None else len(bound)}
    return Tokens(token, bound), info


class RefusalIsNotAnError(logging.Filter):
    """uvicorn's WebSocket protocol logs "ASGI callable returned without completing handshake."
    as an ERROR after a handshake answered with an HTTP response, which is how the guard refuses
    every WebSocket (``ccs.server.auth.refuse_websocket``): a refusal anyone can provoke, not a
    server error, so it is not logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


def serve(config: ServeConfig, announce: Callable[[dict[str, Any]], None]) -> None:
    tokens, info = prepare(config)
    app = create_app(config, tokens)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    scheme = "https" if config.tls else "http"
    host = f"[{config.host}]" if ":" in config.host else config.host
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_keep_alive=5,
        timeout_graceful_shutdown=2,
        ssl_certfile=None if config.tls_cert is None else str(config.tls_cert),
        ssl_keyfile=None if config.tls_key is None else str(config.tls_key)))
    logging.getLogger("uvicorn.error").addFilter(RefusalIsNotAnError())
    announce({"url": f"{scheme}://{host}:{port}", "port": port, **info})
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
