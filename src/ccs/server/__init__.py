"""``ccs serve``: the agent API over HTTP/JSON (Starlette + uvicorn, the ``serve`` extra)."""

from ccs.server.config import ServeConfig, default_token_file

__all__ = ["ServeConfig", "default_token_file"]
