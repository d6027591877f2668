"""The failpoint hooks: nothing runs unless armed, a callback runs where the point is hit."""

from __future__ import annotations

import pytest

from ccs import failpoints


def test_hit_without_anything_armed_does_nothing():
    failpoints.hit("nowhere", detail=1)
    assert failpoints._armed is None


def test_armed_callback_gets_the_context_and_may_raise():
    seen = []
    with failpoints.arm("p", lambda **ctx: seen.append(ctx)):
        failpoints.hit("p", key="a/doc")
        failpoints.hit("other")
    failpoints.hit("p")  # disarmed when the block ends
    assert seen == [{"key": "a/doc"}] and failpoints._armed is None

    with failpoints.arm("p", lambda **_: (_ for _ in ()).throw(OSError("injected"))), \
            pytest.raises(OSError, match="injected"):
        failpoints.hit("p")
    assert failpoints._armed is None


def test_times_limits_the_runs_and_a_point_is_armed_once():
    seen = []
    with failpoints.arm("p", lambda **_: seen.append(1), times=2):
        for _ in range(5):
            failpoints.hit("p")
        with pytest.raises(ValueError), failpoints.arm("p", lambda **_: None):
            pass
        with failpoints.arm("q", lambda **_: seen.append(2)):
            failpoints.hit("q")
    assert seen == [1, 1, 2] and failpoints._armed is None
