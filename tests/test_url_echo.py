"""A URL in an error is shown as given (``foo://`` was once echoed as ``foo:``), with any
password replaced by ``***`` (a bus URL's password was once echoed)."""

from __future__ import annotations

import socket

import pytest

from ccs import CoherenceAdapterCore
from ccs.cli.main import main
from ccs.protocol.errors import BackendUnavailable, UnknownEngine


def test_unknown_engine_is_echoed_as_given(capsys):
    with pytest.raises(UnknownEngine) as err:
        CoherenceAdapterCore(engine="foo://")
    assert "'foo://'" in str(err.value) and "'foo:'" not in str(err.value)
    assert main(["status", "--engine", "foo://"]) == 1
    assert "'foo://'" in capsys.readouterr().err


def test_unknown_bus_is_echoed_as_given_without_its_password(capsys):
    with pytest.raises(UnknownEngine) as err:
        CoherenceAdapterCore(bus="foo://")
    assert "'foo://'" in str(err.value)
    with pytest.raises(UnknownEngine) as err:
        CoherenceAdapterCore(bus="foo://user:s3cret@host/x")
    assert "s3cret" not in err.value.to_json() and "foo://user:***@host/x" in str(err.value)
    assert main(["status", "--engine", "foo://user:s3cret@host/x"]) == 1
    assert "s3cret" not in capsys.readouterr().err


def test_unreachable_bus_error_hides_the_password():
    pytest.importorskip("nats")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendUnavailable) as err:
        CoherenceAdapterCore(bus=f"nats://user:s3cret@127.0.0.1:{port}")
    assert "s3cret" not in err.value.to_json() and "user:***@" in str(err.value)
