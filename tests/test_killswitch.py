"""The kill-switch parser and ``ccs status``: one reading of each switch, a typo is a typed error,
and ``ccs status`` shows a switch that is on (or misspelt) without changing its JSON."""

from __future__ import annotations

import json

import pytest

from ccs import CoherenceAdapterCore, VersionConflict, killswitch
from ccs.cli.main import main
from ccs.protocol.errors import ERRORS_BY_CODE, CoherenceError, InvalidSwitch


@pytest.mark.parametrize("raw, value", [("1", True), ("true", True), ("YES", True), (" on ", True),
                                        ("0", False), ("false", False), ("no", False),
                                        ("off", False), ("", False), ("  ", False)])
def test_accepted_values(monkeypatch, raw, value):
    monkeypatch.setenv("CCS_DISABLE", raw)
    assert killswitch.switch("CCS_DISABLE", False) is value


@pytest.mark.parametrize("raw", ["2", "ture", "y", "disable", "-1", "1 ", "enabled"])
def test_a_typo_is_a_typed_error_naming_the_switch(monkeypatch, raw):
    monkeypatch.setenv("CCS_DISABLE", raw.strip() + "x" if raw == "1 " else raw)
    with pytest.raises(InvalidSwitch) as err:
        killswitch.switch("CCS_DISABLE", False)
    exc = err.value
    assert isinstance(exc, CoherenceError) and ERRORS_BY_CODE["invalid_switch"] is InvalidSwitch
    assert exc.details["parameter"] == "CCS_DISABLE" and exc.recover
    assert CoherenceError.from_dict(exc.to_dict()).code == "invalid_switch"


def test_the_switch_is_read_at_construction(monkeypatch):
    """An adapter keeps what it read when it was built; the next one reads again."""
    from ccs.adapters.autogen import SharedArtifacts

    monkeypatch.setenv("CCS_DISABLE", "1")
    off = SharedArtifacts("memory://")
    monkeypatch.delenv("CCS_DISABLE")
    on = SharedArtifacts("memory://")
    assert off.coherence_disabled and not on.coherence_disabled
    monkeypatch.setenv("CCS_DISABLE", "1")
    assert not on.coherence_disabled  # still checking: a stale compare-and-set is refused
    on.agent("a").write("x", 1)
    on.agent("b").read("x")
    on.agent("a").write("x", 2)
    with pytest.raises(VersionConflict):
        on.agent("b").commit_cas("x", 1, 3)


def test_ccs_status_shows_the_switches(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    CoherenceAdapterCore(url).agent("a").write("plan.md", "v1")
    assert main(["status", "--engine", url]) == 0
    assert "WARNING" not in capsys.readouterr().out
    monkeypatch.setenv("CCS_DISABLE", "1")
    monkeypatch.setenv("CCS_TELEMETRY", "0")
    assert main(["status", "--engine", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("WARNING: CCS_DISABLE=1: coherence is DISABLED")
    assert out[1].startswith("WARNING: CCS_TELEMETRY=0: telemetry is OFF")
    assert main(["status", "--engine", url, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["artifact"] == "plan.md"  # the JSON is unchanged
    assert "coherence is DISABLED" in captured.err
    monkeypatch.setenv("CCS_DISABLE", "maybe")
    assert main(["status", "--engine", url]) == 0
    assert "CCS_DISABLE='maybe' is neither on" in capsys.readouterr().out
