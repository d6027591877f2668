"""OpenTelemetry spans and metrics of a real race: two agents, one stale write refused."""

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ccs import CoherenceAdapterCore, StaleView
from ccs.observe import otel


@pytest.fixture
def telemetry():
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield exporter, reader, tracer_provider, meter_provider
    meter_provider.shutdown()
    tracer_provider.shutdown()


def metric_points(reader) -> dict[str, list]:
    out: dict[str, list] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def total(points, **attrs) -> int:
    return sum(p.value for p in points if all(p.attributes.get(k) == v for k, v in attrs.items()))


def race(core):
    """planner and critic read v1; critic commits v2; planner's write from v1 is refused."""
    planner, critic = core.agent("planner"), core.agent("critic")
    planner.write("plan.md", "v1")
    assert planner.read("plan.md") == "v1"  # cache hit: planner wrote it
    assert critic.read("plan.md") == "v1"  # miss: content moves
    critic.write("plan.md", "v2 by critic")
    with pytest.raises(StaleView):
        planner.write("plan.md", "v1 + planner's change")
    assert critic.read("plan.md") == "v2 by critic"


def test_spans_and_metrics_of_a_stale_write(telemetry):
    exporter, reader, tp, mp = telemetry
    core = CoherenceAdapterCore("memory://")
    observer = otel.instrument(core, tracer_provider=tp, meter_provider=mp)
    assert observer is not None and observer in core.coordinator.observers
    race(core)

    spans = exporter.get_finished_spans()
    writes = [s for s in spans if s.name == "ccs.write"]
    assert [s.attributes["ccs.outcome"] for s in writes] == ["ok", "ok", "refused"]
    refused = writes[-1]
    assert refused.attributes["ccs.error.code"] == "stale_view"
    assert refused.attributes["ccs.agent"] == "planner"
    assert refused.attributes["ccs.agent.id"] == core.agent("planner").id
    assert refused.attributes["ccs.artifact"] == "plan.md"
    assert refused.attributes["ccs.version.base"] == 1
    assert refused.attributes["ccs.version.current"] == 2
    assert "ccs.version.new" not in refused.attributes
    landed = writes[1]
    assert landed.attributes["ccs.agent"] == "critic"
    assert (landed.attributes["ccs.version.base"], landed.attributes["ccs.version.new"]) == (1, 2)
    assert landed.attributes["ccs.epoch"] == core.coordinator.artifact("plan.md").epoch
    assert landed.attributes["ccs.invalidations"] == 1  # planner held v1
    assert landed.end_time >= landed.start_time

    points = metric_points(reader)
    assert total(points["ccs.conflicts"]) == 1
    assert total(points["ccs.conflicts"], **{"ccs.error.code": "stale_view"}) == 1
    stats = [core.agent(n).stats for n in ("planner", "critic")]
    assert total(points["ccs.commits"]) == sum(s.commits for s in stats) == 2
    assert total(points["ccs.cache.hits"]) == sum(s.hits for s in stats)
    assert total(points["ccs.cache.misses"]) == sum(s.misses for s in stats)
    assert total(points["ccs.invalidations.sent"]) == 1
    assert total(points["ccs.bytes"], **{"ccs.direction": "out"}) == len(b"v1") + len(b"v2 by critic")
    assert total(points["ccs.bytes"], **{"ccs.direction": "in"}) == sum(s.bytes_fetched for s in stats)
    durations = {p.attributes["ccs.outcome"]: p.count for p in points["ccs.operation.duration"]
                 if p.attributes["ccs.operation"] == "write"}
    assert durations == {"ok": 2, "refused": 1}
    core.close()


def test_reclaims_are_counted(telemetry, clock):
    from ccs import CrashRecoveryConfig

    exporter, reader, tp, mp = telemetry
    core = CoherenceAdapterCore("memory://", clock=clock, crash_recovery=CrashRecoveryConfig(
        heartbeat_ttl=5.0, sweep_interval=1000.0))
    otel.instrument(core.coordinator, tracer_provider=tp, meter_provider=mp)
    core.agent("crashed").write("doc", "mine")
    clock.advance(10)
    notes = core.sweep()
    assert len(notes) == 1
    assert total(metric_points(reader)["ccs.reclaims"]) == 1
    sweep = [s for s in exporter.get_finished_spans() if s.name == "ccs.sweep"][-1]
    assert sweep.attributes["ccs.reclaims"] == 1 and sweep.attributes["ccs.artifact"] == "doc"
    core.close()


def test_ccs_telemetry_0_turns_it_off(telemetry, monkeypatch):
    exporter, _reader, tp, mp = telemetry
    monkeypatch.setenv("CCS_TELEMETRY", "0")
    core = CoherenceAdapterCore("memory://")
    assert otel.instrument(core, tracer_provider=tp, meter_provider=mp) is None
    assert core.observers == []
    race(core)
    assert exporter.get_finished_spans() == ()
    core.close()


def test_uninstrument(telemetry):
    _exporter, _reader, tp, mp = telemetry
    core = CoherenceAdapterCore("memory://")
    otel.instrument(core, tracer_provider=tp, meter_provider=mp)
    otel.uninstrument(core)
    assert core.observers == []
    core.close()


def test_operation_spans_are_children_of_the_callers_span(telemetry):
    exporter, _reader, tp, mp = telemetry
    core = CoherenceAdapterCore("memory://")
    otel.instrument(core, tracer_provider=tp, meter_provider=mp)
    with tp.get_tracer("app").start_as_current_span("agent step") as step:
        core.agent("a").write("doc", "x")
    write = next(s for s in exporter.get_finished_spans() if s.name == "ccs.write")
    assert write.parent is not None and write.parent.span_id == step.get_span_context().span_id
    assert write.context.trace_id == step.get_span_context().trace_id
    core.close()
