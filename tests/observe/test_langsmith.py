"""LangSmith: a real LangGraph graph on CCSStore, traced by the real langsmith client into a tiny
local HTTP endpoint (loopback only) that records what it receives; a stale put is refused and the
node's run carries the coherence metadata."""

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypedDict

import pytest

pytest.importorskip("langsmith")
pytest.importorskip("langgraph")

from langchain_core.tracers.langchain import LangChainTracer, wait_for_all_tracers
from langgraph.graph import END, START, StateGraph
from langsmith import Client, traceable, tracing_context

from ccs import StaleView
from ccs.adapters import CCSStore
from ccs.observe import langsmith as ccs_langsmith

NS, KEY = ("plans",), "plan"


class Endpoint:
    """Records the body of every request; answers 200 ``{}`` (404 for ``/info``: defaults)."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict, bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("content-length") or 0)
                endpoint.requests.append((self.command, self.path, dict(self.headers),
                                          self.rfile.read(n) if n else b""))
                self.send_response(404 if self.path.startswith("/info") else 200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PATCH = do_PUT = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def runs(self) -> list[dict]:
        """Every run payload received (POST or PATCH, JSON or multipart), with its ``extra``."""
        out: list[dict] = []
        for method, path, headers, body in self.requests:
            if method not in ("POST", "PATCH") or not path.startswith("/runs"):
                continue
            ctype = headers.get("Content-Type", "")
            if ctype.startswith("multipart/"):
                msg = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
                parts: dict[str, dict] = {}
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    kind, run_id, *field = name.split(".")
                    value = json.loads(part.get_payload(decode=True))
                    run = parts.setdefault(f"{kind}.{run_id}", {"_kind": kind})
                    if field:
                        run[field[0]] = value
                    else:
                        run.update(value)
                out.extend(parts.values())
            else:
                data = json.loads(body)
                for kind in ("post", "patch"):
                    out.extend({"_kind": kind, **r} for r in data.get(kind, []) or [])
                if "post" not in data and "patch" not in data:
                    out.append({"_kind": method.lower(), **data})
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint(monkeypatch):
    ep = Endpoint()
    monkeypatch.setenv("LANGSMITH_ENDPOINT", ep.url)
    monkeypatch.setenv("LANGSMITH_API_KEY", "dummy-key")
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_PROJECT", "ccs-observe-test")
    forget_langsmith_settings()
    yield ep
    ep.close()
    monkeypatch.undo()
    forget_langsmith_settings()  # else later tests in this process trace to the real service


def forget_langsmith_settings() -> None:
    """langsmith caches its environment (tracing on, endpoint) and a global client per process."""
    import langsmith.run_trees
    import langsmith.utils

    for value in vars(langsmith.utils).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    langsmith.run_trees._CLIENT = None


def stale_put_graph(store):
    def planner(state, *, store):
        store.get(NS, KEY)  # planner's view: version 1
        store.for_agent("critic").put(NS, KEY, {"v": 2, "by": "critic"})  # a peer commits v2
        try:
            store.put(NS, KEY, {"v": 11, "by": "planner, from v1"})
        except StaleView as exc:
            return {"out": exc.code}
        return {"out": "landed"}

    class S(TypedDict):
        out: str

    g = StateGraph(S)
    g.add_node("planner", planner)
    g.add_edge(START, "planner")
    g.add_edge("planner", END)
    return g.compile(store=store)


def run_traced(endpoint, store) -> list[dict]:
    client = Client(api_url=endpoint.url, api_key="dummy-key")
    tracer = LangChainTracer(client=client, project_name="ccs-observe-test")
    out = stale_put_graph(store).invoke({"out": ""}, {"callbacks": [tracer]})
    assert out == {"out": "stale_view"}
    assert store.for_agent("check").get(NS, KEY).value == {"v": 2, "by": "critic"}
    wait_for_all_tracers()
    client.flush()
    return endpoint.runs()


def ccs_metadata(runs: list[dict]) -> list[tuple[dict, dict]]:
    found = []
    for run in runs:
        meta = (run.get("extra") or {}).get("metadata") or {}
        if "ccs" in meta:
            found.append((run, meta["ccs"]))
    return found


def test_the_traced_node_run_carries_versions_and_the_refusal(endpoint):
    store = CCSStore()
    store.put(NS, KEY, {"v": 1})
    assert ccs_langsmith.instrument(store) is not None
    runs = run_traced(endpoint, store)
    assert any(r.get("name") == "planner" for r in runs)  # the endpoint really got the trace
    tagged = ccs_metadata(runs)
    assert tagged, "no run payload carried ccs metadata"
    run, ccs = tagged[-1]
    assert run["name"] == "planner"
    assert ccs["counts"] == {"reads": 2, "writes": 1, "refusals": 1}
    aid = store._ids.encode(NS, KEY)
    assert {"artifact": aid, "agent": "planner", "version": 1, "epoch": 0, "cache": "miss"} \
        in ccs["reads"]
    assert ccs["writes"] == [{"artifact": aid, "agent": "critic", "operation": "commit_cas",
                              "base": 1, "version": 2, "epoch": 0}]
    assert ccs["refusals"] == [{"artifact": aid, "agent": "planner", "operation": "commit_cas",
                                "code": "version_conflict", "base": 1, "current": 2}]
    store.close()


def test_without_the_observer_no_run_carries_ccs_metadata(endpoint):
    store = CCSStore()
    store.put(NS, KEY, {"v": 1})
    runs = run_traced(endpoint, store)
    assert any(r.get("name") == "planner" for r in runs)
    assert ccs_metadata(runs) == []
    store.close()


def test_traceable_function_and_untraced_calls(endpoint):
    store = CCSStore()
    ccs_langsmith.instrument(store)
    store.put(NS, KEY, {"v": 1})  # outside any run: nothing to attach to, nothing happens
    client = Client(api_url=endpoint.url, api_key="dummy-key")

    @traceable(name="edit-plan", client=client)
    def edit():
        item = store.get(NS, KEY)
        store.put(NS, KEY, {"v": item.value["v"] + 1})

    with tracing_context(enabled=True):  # the env var is read once per process and cached
        edit()
    client.flush()
    (run, ccs), = ccs_metadata(endpoint.runs())
    assert run["name"] == "edit-plan"
    assert ccs["counts"] == {"reads": 1, "writes": 1, "refusals": 0}
    assert ccs["writes"][0]["base"] == 1 and ccs["writes"][0]["version"] == 2
    store.close()


def test_ccs_telemetry_0(monkeypatch):
    monkeypatch.setenv("CCS_TELEMETRY", "0")
    store = CCSStore()
    assert ccs_langsmith.instrument(store) is None
    assert store.core.observers == []
    store.close()
