"""Replaying a recorded history of store operations and checking the promises on it.

``source`` reads a history into ``Event``s (today: ``CCSStore.record_to`` files); ``invariants``
checks them. ``ccs replay FILE`` is the command (``ccs.cli.replay``).
"""

from ccs.replay.invariants import INVARIANTS, run_checks
from ccs.replay.report import Report, Violation
from ccs.replay.source import Event, MalformedHistory, load

__all__ = ["INVARIANTS", "Event", "MalformedHistory", "Report", "Violation", "load", "run_checks"]
