"""The HTTP API as data: each endpoint's method, path, fields and whether it changes the store.
The routes (``app.py``) and the OpenAPI description (``openapi.py``) are both built from it.

Agent operations are ``POST`` with a JSON object body (artifact ids travel in the body, never in
the URL path); ``status`` and ``log`` are ``GET`` with query parameters.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ccs.protocol.errors import InvalidArgument, InvalidRequest
from ccs.server.errors import MALFORMED

PREFIX = "/v1"


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # a JSON Schema type, or "any"
    required: bool
    doc: str


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    summary: str
    fields: tuple[Field, ...]
    mutating: bool
    handler: str  # the Service method

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.name}"

    @property
    def agent(self) -> bool:
        return any(f.name == "agent" for f in self.fields)


AGENT = Field("agent", "string", True, "the agent this call acts as (its token must allow the name)")
ARTIFACT = Field("artifact", "string", True, "artifact id (no control characters, no '..' segment)")
CONTENT = Field("content", "any", True, "the new content: text, base64 or a JSON value (see encoding)")
ENCODING = Field("encoding", "string", False, "'utf-8' (default, stored as text), 'base64' (bytes) "
                                              "or 'json' (content is any JSON value)")
EXPECTED = Field("expected_version", "integer", True, "the version the artifact must still be at "
                                                      "(0: must not exist)")

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("read", "POST", "Read an artifact: content, version, epoch. Registers the agent's view "
             "that its next write is checked against.",
             (AGENT, ARTIFACT, Field("fresh", "boolean", False, "revalidate with the store even when "
                                     "the server's cached copy is fresh")), False, "read"),
    Endpoint("write", "POST", "Write derived from the agent's last read; refused (409 stale_view) "
             "if someone committed since.", (AGENT, ARTIFACT, CONTENT, ENCODING), True, "write"),
    Endpoint("write_cas", "POST", "Compare-and-set: lands only if the artifact is still at "
             "expected_version (409 version_conflict otherwise).",
             (AGENT, ARTIFACT, EXPECTED, CONTENT, ENCODING), True, "write_cas"),
    Endpoint("commit_cas", "POST", "The same compare-and-set as write_cas, under the library's name "
             "(Agent.commit_cas).", (AGENT, ARTIFACT, EXPECTED, CONTENT, ENCODING), True, "write_cas"),
    Endpoint("reacquire", "POST", "Recover from a refusal: take the exclusive grant and the current "
             "content and version.", (AGENT, ARTIFACT), True, "reacquire"),
    Endpoint("commit", "POST", "Strict commit under the grant reacquire took (409 not_owner if a "
             "peer took it since).", (AGENT, ARTIFACT, CONTENT, ENCODING), True, "commit"),
    Endpoint("transaction", "POST", "Write several artifacts at once: all land or none (409 "
             "transaction_conflict names every artifact that moved).",
             (AGENT, Field("writes", "object", True, 'artifact -> {"content": ..., "encoding": ...}, '
                           "or null to delete"),
              Field("expected_versions", "object", False, "artifact -> the version it must still be "
                    "at (default: the agent's last read of it)")), True, "transaction"),
    Endpoint("heartbeat", "POST", "Keep the agent's grants alive (crash recovery reclaims the grants "
             "of agents whose heartbeats stop).", (AGENT,), True, "heartbeat"),
    Endpoint("status", "GET", "Artifacts with versions, epochs, owners and views; the server's "
             "settings.", (Field("prefix", "string", False, "only artifacts whose id starts with this"),
                           Field("all", "boolean", False, "also internal records")), False, "status"),
    Endpoint("log", "GET", "The audit log: commits, deletes, refusals and reclaims, oldest first.",
             (Field("artifact", "string", False, "one artifact (default: all)"),
              Field("limit", "integer", False, "only the latest N entries"),
              Field("since", "number", False, "only entries at or after this time (epoch seconds)")),
             False, "log"),
)

_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        args = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest(f"the body is not JSON ({type(exc).__name__})", reason=MALFORMED) from None
    if not isinstance(args, dict):
        raise InvalidRequest(f"the body must be a JSON object, got {type(args).__name__}", reason=MALFORMED)
    return args


def parse_query(endpoint: Endpoint, query: list[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters converted to their fields' types (each at most once)."""
    types = {f.name: f.type for f in endpoint.fields}
    args: dict[str, Any] = {}
    for key, raw in query:
        if key in args:
            raise InvalidArgument(f"{key} given more than once", parameter=key)
        kind = types.get(key)
        try:
            if kind == "integer":
                args[key] = int(raw)
            elif kind == "number":
                args[key] = float(raw)
                if not math.isfinite(args[key]):
                    raise ValueError(raw)
            elif kind == "boolean":
                args[key] = {"true": True, "false": False, "1": True, "0": False}[raw.lower()]
            else:
                args[key] = raw
        except (ValueError, KeyError):
            raise InvalidArgument(f"{key} must be a {kind}, got {raw[:40]!r}", parameter=key) from None
    return args


def check_fields(endpoint: Endpoint, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` if they are exactly the endpoint's fields with the right types; an unknown field
    is refused, not ignored (a misspelt ``encodng`` would otherwise store base64 text)."""
    known = {f.name: f for f in endpoint.fields}
    unknown = sorted(set(args) - set(known))
    shown = args.get("artifact") if isinstance(args.get("artifact"), str) else None
    if unknown:
        raise InvalidRequest(f"{endpoint.name}: unknown field(s): {', '.join(unknown)[:200]}",
                             artifact=shown, unknown_fields=unknown[:20],
                             recover=f"send only: {', '.join(known)}; nothing was changed")
    missing = [f.name for f in endpoint.fields if f.required and f.name not in args]
    if missing:
        raise InvalidRequest(f"{endpoint.name}: missing field(s): {', '.join(missing)}", artifact=shown,
                             missing_fields=missing, recover="send every required field; nothing was "
                                                             "changed")
    for name, value in args.items():  # null too: an optional field is left out, not sent as null
        if not _CHECKS[known[name].type](value):
            raise InvalidArgument(f"{endpoint.name}: {name} must be a {known[name].type}, got "
                                  f"{type(value).__name__}", artifact=shown, parameter=name)
    return args
