"""The OpenAPI 3.1 description, built from the endpoint table (``api.ENDPOINTS``) and the app's
other routes, so it cannot drift from what the server serves."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ccs._meta import package_version
from ccs.server.api import ENDPOINTS, Endpoint

ERROR = {
    "type": "object",
    "required": ["code", "message", "recover", "retryable"],
    "properties": {
        "code": {"type": "string", "description": "stable error code (docs/guide.md lists them)"},
        "message": {"type": "string"},
        "artifact": {"type": ["string", "null"]},
        "current_version": {"type": ["integer", "null"]},
        "current_epoch": {"type": ["integer", "null"]},
        "recover": {"type": "string", "description": "what to do next"},
        "retryable": {"type": "boolean"},
        "details": {"type": "object", "description": "e.g. commit_id of an outcome_unknown"},
    },
}
STATUSES = {
    "400": "the body is not a JSON object", "401": "no or wrong bearer token",
    "403": "the token may not act as this agent, or the server is read-only",
    "404": "unknown artifact or route", "409": "conflict: the artifact moved; nothing was written",
    "413": "body or content too large", "422": "bad fields; nothing was changed",
    "503": "engine unavailable; nothing happened, retry", "504": "timeout or outcome_unknown: read "
    "before retrying", "507": "the engine is full",
}


def _schema(field_type: str) -> dict[str, Any]:
    return {} if field_type == "any" else {"type": field_type}


def _operation(ep: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.name, "summary": ep.summary,
        "responses": {"200": {"description": "done", "content": {"application/json": {
            "schema": {"type": "object"}}}},
            **{s: {"description": d, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}} for s, d in STATUSES.items()}},
    }
    if ep.method == "GET":
        op["parameters"] = [{"name": f.name, "in": "query", "required": f.required,
                             "description": f.doc, "schema": _schema(f.type)} for f in ep.fields]
    else:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "required": [f.name for f in ep.fields if f.required],
            "properties": {f.name: {**_schema(f.type), "description": f.doc} for f in ep.fields}}}}}
    return op


def describe(routes: list[Any], *, read_only: bool) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    paths["/v1/events"] = {"get": {
        "operationId": "events", "summary": "Server-Sent Events: ready, then one event per invalidation "
        "(kind, artifact, version, epoch, seq, by); reset means drop every cached copy.",
        "parameters": [{"name": "prefix", "in": "query", "required": False,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "an event stream",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}}
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This description.",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}}
    for route in routes:  # routes mounted from elsewhere (the hooks), described by their docstrings
        if isinstance(route, Route) and route.path not in paths:
            doc = (route.endpoint.__doc__ or route.name or "").strip().split("\n")[0]
            paths[route.path] = {m.lower(): {"operationId": route.name, "summary": doc,
                                             "responses": {"200": {"description": "done"}}}
                                 for m in sorted(route.methods or ()) if m != "HEAD"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "agent-coherence (ccs serve)", "version": package_version(),
                 "description": "Coherent shared artifacts over HTTP. Every request needs "
                                "'Authorization: Bearer <token>'." + (" This server is read-only."
                                                                      if read_only else "")},
        "components": {"schemas": {"Error": ERROR},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
