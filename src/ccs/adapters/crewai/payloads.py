"""What the artifact tools return to the model: JSON it can act on, never an exception."""

from __future__ import annotations

import json
from typing import Any

from ccs.merge.packet import with_packet
from ccs.protocol.errors import CoherenceError

NEXT_CALL = ("read_artifact({artifact!r}) (version {version}), then write_artifact with your change "
             "applied to it; or update_artifact")


def ok(**fields: Any) -> str:
    return json.dumps({"ok": True, **fields}, default=str)


def refused(err: CoherenceError, artifact: str) -> str:
    """``ok: false`` with the error's stable ``code``, the current version, and a ``recover`` hint
    phrased as the next tool calls to make."""
    v = err.current_version
    if err.code == "unknown_artifact":
        hint = f"{artifact} does not exist yet: write_artifact creates it"
    elif err.code == "cas_retries_exhausted":
        hint = f"update_artifact lost every race on {artifact}; call update_artifact again"
    elif err.code in ("stale_view", "version_conflict", "stale_epoch", "grant_reclaimed",
                      "not_owner", "view_expired"):
        hint = (f"{artifact} changed after you read it (now version {v}); nothing was written. "
                f"Call read_artifact to get the current content, re-apply your change to it, "
                f"then write_artifact again (or use update_artifact)")
    else:
        hint = err.recover
    payload = {"ok": False, "code": err.code, "artifact": artifact, "current_version": v,
               "recover": hint, "message": err.message}
    return json.dumps(with_packet(payload, err, next_call=NEXT_CALL), default=str)
