"""Pure, sans-IO coherence protocol: records, MESI views, transitions, typed errors.

Nothing here reads a clock, does I/O, starts a thread, or imports another ccs layer.
"""

from ccs.protocol.errors import *  # noqa: F403
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

__all__ = [
    "DELETED", "AgentRecord", "ArtifactRecord", "Committed", "Content", "Event", "Grant",
    "Mesi", "Reclaim", "ReclaimNote", "Step", "TxnCommitted", "View",
]
