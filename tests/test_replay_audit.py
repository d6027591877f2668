"""``ccs replay ENGINE_URL`` replays the audit log the engine keeps: a clean log passes, a log that
shows a version claimed twice (a broken store) is a violation."""

from __future__ import annotations

import json

import pytest

from ccs import CoherenceAdapterCore, StaleView
from ccs.cli.main import main
from ccs.protocol.audit import COMMITTED, AuditBatch, AuditEntry


def make_history(url: str) -> None:
    with CoherenceAdapterCore(engine=url) as core:
        a, b = core.agent("planner"), core.agent("critic")
        a.write("plan.md", "v1")
        draft = b.read("plan.md")
        a.write("plan.md", a.read("plan.md") + " v2")
        with pytest.raises(StaleView):
            b.write("plan.md", draft + " from v1")
        b.write("plan.md", b.reacquire("plan.md") + " v3")
        a.delete("notes.md")


def test_clean_audit_log_replays_clean(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/state.db"
    make_history(url)
    assert main(["replay", url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["operations"] == 5 and report["artifacts"] == 2


def test_a_version_claimed_twice_in_the_log_is_a_violation(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/state.db"
    make_history(url)
    with CoherenceAdapterCore(engine=url) as core:
        forged = AuditEntry(at=1e12, artifact="plan.md", op="write", outcome=COMMITTED,
                            agent="ghost@000000000000", base_version=1, version=2, epoch=0)
        core.coordinator.backend.append_audit(AuditBatch((forged,), 1000))
    assert main(["replay", url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]
    assert any(v["artifact"] == "plan.md" for v in report["violations"])


def test_replay_of_a_missing_store_is_bad_input(tmp_path, capsys):
    assert main(["replay", f"sqlite:///{tmp_path}/nope.db"]) == 2
    assert "store_not_found" in capsys.readouterr().err
