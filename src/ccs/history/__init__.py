"""Recording client histories and checking them: linearizability, lost updates, CAS winners, fencing."""

from ccs.history import workload
from ccs.history.analysis import cas_winners, lost_updates, reclaimed_commits_landed, successful_commits
from ccs.history.checker import CheckResult, Spec, VersionedRegister, check, freeze
from ccs.history.recorder import FAIL, OK, PENDING, Op, Recorder, load_history

__all__ = [
    "FAIL", "OK", "PENDING", "CheckResult", "Op", "Recorder", "Spec", "VersionedRegister",
    "cas_winners", "check", "freeze", "load_history", "lost_updates", "reclaimed_commits_landed",
    "successful_commits", "workload",
]
