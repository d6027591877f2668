"""After a refusal: three-way merge of disjoint edits, and conflict packets a model can act on.

``three_way`` holds the pure merges (``(base, theirs, yours) -> merged`` or ``MergeConflict``);
``packet`` renders a refusal as a ``ConflictPacket`` (text for a prompt, JSON for a tool result),
sized to a token budget. The client calls them on a refused write (``ccs.client.merging``).
"""

from ccs.merge.packet import ConflictPacket, RefusalContext, build_packet
from ccs.merge.three_way import AUTO, merge_json, merge_text, merge_values
from ccs.protocol.errors import MergeBaseUnavailable, MergeConflict

__all__ = ["AUTO", "ConflictPacket", "MergeBaseUnavailable", "MergeConflict", "RefusalContext",
           "build_packet", "merge_json", "merge_text", "merge_values"]
