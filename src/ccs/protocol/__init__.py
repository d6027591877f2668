"""Pure, sans-IO coherence protocol: records, MESI views, transitions, typed errors.

Nothing here reads a clock, does I/O, starts a thread, or imports another ccs layer.
"""

from typing import TYPE_CHECKING

from ccs._lazy import lazy
from ccs.protocol.errors import *  # noqa: F403  (standard library only: the HTTP client uses them)

_MEMBERS = {
    **dict.fromkeys(["Committed", "Event", "ReclaimNote", "Step", "TxnCommitted", "View"],
                    "ccs.protocol.messages"),
    **dict.fromkeys(["DELETED", "AgentRecord", "ArtifactRecord", "Content", "Grant", "Mesi",
                     "Reclaim"], "ccs.protocol.records"),
}
__all__ = ["DELETED", "AgentRecord", "ArtifactRecord", "Committed", "Content", "Event", "Grant",
           "Mesi", "Reclaim", "ReclaimNote", "Step", "TxnCommitted", "View"]
assert set(__all__) == set(_MEMBERS)
__getattr__, __dir__ = lazy(globals(), _MEMBERS)

if TYPE_CHECKING:
    from ccs.protocol.messages import Committed, Event, ReclaimNote, Step, TxnCommitted, View
    from ccs.protocol.records import (
        DELETED,
        AgentRecord,
        ArtifactRecord,
        Content,
        Grant,
        Mesi,
        Reclaim,
    )
