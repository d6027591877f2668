"""``CCS_TELEMETRY=0`` with the real OpenTelemetry SDK (in-memory exporter and reader) and the real
langsmith client (pointed at a recording endpoint on loopback): ``instrument()`` is a logged no-op,
observers registered by hand are dropped, and nothing else in the library
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
from ccs.observe import langsmith as ccs_langsmith
from ccs.observe import otel
from ccs.observe.events import ObservedOp
from ccs.protocol.errors import InvalidSwitch

telemetry, endpoint = test_otel.telemetry, test_langsmith.endpoint  # their fixtures, reused


def test_observers_registered_by_hand_receive_nothing_when_telemetry_is_off(telemetry, monkeypatch,
                                                                             caplog):
    exporter, reader, tp, mp = telemetry
    monkeypatch.setenv("CCS_TELEMETRY", "0")
    caplog.set_level(logging.INFO, logger="ccs")
    core = CoherenceAdapterCore("memory://")
    heard: list[ObservedOp] = []
    core.observers.append(otel.OTelObserver(tp, mp))  # not through instrument(): dropped too
    core.observers.append(type("Recorder", (), {"on_event": lambda self, e: heard.append(e)})())
    core.observers.extend([otel.OTelObserver(tp, mp)])
    core.coordinator.observers[:] = [otel.OTelObserver(tp, mp)]
    assert core.observers == [] and not core.observers
    race(core)
    assert exporter.get_finished_spans() == () and heard == []
    points = metric_points(reader)
    assert all(total(points.get(name, [])) == 0 for name in ("ccs.commits", "ccs.conflicts",
                                                             "ccs.cache.hits", "ccs.cache.misses"))
    assert sum("not registered" in r.getMessage() for r in caplog.records) == 4
    core.close()
    monkeypatch.delenv("CCS_TELEMETRY")  # read when a coordinator is built: the next one hears
    core = CoherenceAdapterCore("memory://")
    core.observers.append(otel.OTelObserver(tp, mp))
    core.agent("planner").write("plan.md", "v1")
    assert [s.name for s in exporter.get_finished_spans()] == ["ccs.write"]
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


def test_a_typo_is_refused_where_the_switch_is_read(telemetry, monkeypatch):
    _exporter, _reader, tp, mp = telemetry
    core = CoherenceAdapterCore("memory://")
    monkeypatch.setenv("CCS_TELEMETRY", "of")
    with pytest.raises(InvalidSwitch) as err:
        otel.instrument(core, tracer_provider=tp, meter_provider=mp)
    assert err.value.details["parameter"] == "CCS_TELEMETRY"
    with pytest.raises(InvalidSwitch):
        CoherenceAdapterCore("memory://")
    core.close()


def test_langsmith_runs_carry_no_ccs_metadata_when_telemetry_is_off(endpoint, monkeypatch):
    monkeypatch.setenv("CCS_TELEMETRY", "0")
    store = CCSStore()
    store.put(NS, KEY, {"v": 1})
    assert ccs_langsmith.instrument(store) is None
    store.core.observers.append(ccs_langsmith.LangSmithObserver())  # by hand: dropped as well
    runs = run_traced(endpoint, store)
    assert any(r.get("name") == "planner" for r in runs)  # the application's own tracing went out
    assert ccs_metadata(runs) == []  # ... without anything from this library
    store.close()


NETWORK = re.compile(r"^\s*(?:import|from) (socket|http|urllib\.request|requests|httpx|aiohttp|"
                     r"smtplib|websockets|redis|psycopg|nats|opentelemetry|langsmith|sentry_sdk|"
                     r"posthog)\b", re.M)
# Where a network library may be imported: engines and buses (connections the application
# configured), the observers above, the HTTP service and its client (endpoints the user starts or
# names), `ccs hook claude-code --server URL` (a server the user names), the providers' count-tokens
# endpoints (only when asked for by name with an API key set), and the volume's default agent name
# (socket.gethostname, no connection).
ALLOWED = ("backends/", "bus/", "observe/otel.py", "observe/langsmith.py", "server/", "client/http",
           "cli/hook.py", "tokens/providers.py", "adapters/coherent_volume/config.py")


def test_nothing_else_in_the_library_opens_a_connection_on_its_own():
    src = Path(__file__).resolve().parents[2] / "src" / "ccs"
    found = {str(p.relative_to(src)) for p in src.rglob("*.py") if NETWORK.search(p.read_text())}
    assert found and all(f.startswith(ALLOWED) for f in found), sorted(found)
