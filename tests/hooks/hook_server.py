"""A real HTTP server (uvicorn) serving only ccs.hooks.http's routes, for testing
`ccs hook claude-code --server` before `ccs serve` mounts them: `python hook_server.py PORT_FILE
ENGINE TOKEN ROOT`. Requests without `Authorization: Bearer TOKEN` get a typed 401, bodies above
64 KiB a typed 413."""

from __future__ import annotations

import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from ccs.hooks.http import hook_routes

MAX_BODY = 64 * 1024  # smaller than the files written in the test: the client must not send them


def main() -> None:
    port_file, engine, token, root = sys.argv[1:5]

    async def bearer(request, call_next):
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return JSONResponse({"code": "payload_too_large", "message": "body too large"}, status_code=413)
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"code": "unauthorized", "message": "missing or wrong bearer token",
                                 "recover": "pass the token"}, status_code=401)
        return await call_next(request)

    app = Starlette(routes=hook_routes(engine_url=engine, read_only=False, root=root))
    app.add_middleware(BaseHTTPMiddleware, dispatch=bearer)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with open(port_file, "w") as f:
        f.write(str(sock.getsockname()[1]))
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
