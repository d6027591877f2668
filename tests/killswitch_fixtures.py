"""What the kill-switch tests share: the switch set in-process, and the WARNING it must log."""

from __future__ import annotations

import logging

import pytest

from ccs import killswitch


@pytest.fixture
def disabled(monkeypatch, caplog):
    """``CCS_DISABLE=1`` for this test, with the once-per-process warnings forgotten."""
    monkeypatch.setenv("CCS_DISABLE", "1")
    killswitch.reset_warnings()
    caplog.set_level(logging.INFO, logger="ccs")
    yield caplog
    killswitch.reset_warnings()


@pytest.fixture
def enabled(monkeypatch):
    monkeypatch.delenv("CCS_DISABLE", raising=False)


def warned(caplog, adapter: str) -> bool:
    """A WARNING on the ``ccs`` logger naming ``adapter`` as a pass-through."""
    return any(r.name == "ccs" and r.levelno == logging.WARNING and adapter in r.getMessage()
               and "pass-through" in r.getMessage() for r in caplog.records)
