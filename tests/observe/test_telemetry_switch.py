"""``CCS_TELEMETRY=0`` with the real OpenTelemetry SDK (in-memory exporter and reader) and the real
langsmith client (pointed at a recording endpoint on loopback): ``instrument()`` is a logged no-op,
observers registered before the switch was set hear nothing, and nothing else in the library
talks to the network on its own."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("langsmith")

import test_langsmith
import test_otel
from test_langsmith import KEY, NS, ccs_metadata, run_traced
from test_otel import metric_points, race, total

from ccs import CoherenceAdapterCore
from ccs.adapters import CCSStore
from ccs.observe import dispatch, otel
from ccs.observe import langsmith as ccs_langsmith
from ccs.observe.events import ObservedOp
from ccs.protocol.errors import InvalidSwitch

telemetry, endpoint = test_otel.telemetry, test_langsmith.endpoint  # their fixtures, reused


def test_registered_otel_observer_stops_receiving_when_telemetry_is_off(telemetry, monkeypatch):
    exporter, reader, tp, mp = telemetry
    monkeypatch.delenv("CCS_TELEMETRY", raising=False)
    core = CoherenceAdapterCore("memory://")
    assert otel.instrument(core, tracer_provider=tp, meter_provider=mp) is not None
    monkeypatch.setenv("CCS_TELEMETRY", "0")
    race(core)
    assert exporter.get_finished_spans() == ()
    points = metric_points(reader)
    assert all(total(points.get(name, [])) == 0 for name in ("ccs.commits", "ccs.conflicts",
                                                             "ccs.cache.hits", "ccs.cache.misses"))
    monkeypatch.setenv("CCS_TELEMETRY", "1")  # the same observer, still registered, hears again
    core.agent("planner").read("plan.md")
    assert [s.name for s in exporter.get_finished_spans()] == ["ccs.read"]
    core.close()


def test_instrument_is_a_logged_no_op(telemetry, monkeypatch, caplog):
    _exporter, _reader, tp, mp = telemetry
    monkeypatch.setenv("CCS_TELEMETRY", "false")
    caplog.set_level(logging.INFO, logger="ccs")
    core = CoherenceAdapterCore("memory://")
    assert otel.instrument(core, tracer_provider=tp, meter_provider=mp) is None
    assert ccs_langsmith.instrument(core) is None and core.observers == []
    assert sum("CCS_TELEMETRY is off" in r.getMessage() for r in caplog.records) == 2
    core.close()


def test_a_typo_is_refused_by_instrument_and_silences_dispatch(telemetry, monkeypatch, caplog):
    _exporter, _reader, tp, mp = telemetry
    monkeypatch.setenv("CCS_TELEMETRY", "of")
    core = CoherenceAdapterCore("memory://")
    with pytest.raises(InvalidSwitch):
        otel.instrument(core, tracer_provider=tp, meter_provider=mp)
    heard: list[ObservedOp] = []

    class Recorder:
        def on_event(self, event):
            heard.append(event)

    dispatch([Recorder()], ObservedOp("read"))  # must not raise into the caller's operation
    assert heard == [] and any(r.levelno == logging.ERROR and "CCS_TELEMETRY" in r.getMessage()
                               for r in caplog.records)
    core.close()


def test_langsmith_runs_carry_no_ccs_metadata_when_telemetry_is_off(endpoint, monkeypatch):
    store = CCSStore()
    store.put(NS, KEY, {"v": 1})
    assert ccs_langsmith.instrument(store) is not None  # registered while telemetry was on
    monkeypatch.setenv("CCS_TELEMETRY", "0")
    runs = run_traced(endpoint, store)
    assert any(r.get("name") == "planner" for r in runs)  # the application's own tracing went out
    assert ccs_metadata(runs) == []  # ... without anything from this library
    store.close()


NETWORK = re.compile(r"^\s*(?:import|from) (socket|http|urllib\.request|requests|httpx|aiohttp|"
                     r"smtplib|websockets|redis|psycopg|nats|opentelemetry|langsmith|sentry_sdk|"
                     r"posthog)\b", re.M)
# Where a network library may be imported: engines and buses (connections the application
# configured), the observers above, the HTTP service and its client (endpoints the user starts or
# names), and the volume's default agent name (socket.gethostname, no connection).
ALLOWED = ("backends/", "bus/", "observe/otel.py", "observe/langsmith.py", "server/", "client/http",
           "adapters/coherent_volume/config.py")


def test_nothing_else_in_the_library_opens_a_connection_on_its_own():
    src = Path(__file__).resolve().parents[2] / "src" / "ccs"
    found = {str(p.relative_to(src)) for p in src.rglob("*.py") if NETWORK.search(p.read_text())}
    assert found and all(f.startswith(ALLOWED) for f in found), sorted(found)
