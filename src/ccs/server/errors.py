"""Typed errors as HTTP responses: the error's JSON (``code``, ``artifact``, versions,
``recover``) with the status a client can switch on before reading the body.

409 the world moved (a conflict: re-read and retry); 400 a body that is not a JSON object; 422 a
well-formed request with bad fields; 404 an unknown artifact or route; 413 too large; 401/403
auth; 503 the engine is away and nothing happened (retry); 504 nobody knows whether it happened
(``outcome_unknown``, with ``details.commit_id`` when the library had one; read before retrying);
507 the engine is full; 500 a damaged store or a bug.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from ccs.protocol import errors as e
from ccs.protocol.wire import json_safe

MALFORMED = "malformed_body"  # details.reason of a body that is not a JSON object: 400, not 422

# The most specific class first: the first match wins.
STATUS: tuple[tuple[type[e.CoherenceError], int], ...] = (
    (e.ConflictError, 409),
    (e.UnknownArtifact, 404),
    (e.UnknownEndpoint, 404),
    (e.PayloadTooLarge, 413),
    (e.InvalidRequest, 422),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.OutcomeUnknown, 504),
    (e.RequestTimeout, 504),
    (e.StorageFull, 507),
    (e.BackendUnavailable, 503),
)


def status_of(exc: e.CoherenceError) -> int:
    if type(exc) is e.InvalidRequest and exc.details.get("reason") == MALFORMED:
        return 400
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(exc: e.CoherenceError, status: int | None = None) -> JSONResponse:
    status = status_of(exc) if status is None else status
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="ccs"'
    elif status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(json_safe(exc.to_dict()), status_code=status, headers=headers)
