"""The bad-input matrix: every public entry point x hostile values. Each call either works or raises
a ``CoherenceError`` with a stable code, and a refused call writes nothing. Never a bare exception.

Entry points: the agent API, CCSStore, URLs and constructors here; CoherentVolume, the MCP tools
and the CLI in ``test_bad_input_matrix_files.py``."""

from __future__ import annotations

import pytest
from langgraph.store.base import InvalidNamespaceError

from bad_inputs import NUMBERS, TEXTS, VALUES, WRONG_TYPES, attempt
from ccs import CoherenceAdapterCore, CoherenceError
from ccs.protocol.errors import ERRORS_BY_CODE

IDS = {**{f"text {k}": v for k, v in TEXTS.items()}, **{f"type {k}": v for k, v in WRONG_TYPES.items()}}


def state(core) -> dict:
    return {r.artifact_id: (r.version, r.epoch, r.content.digest, dict(r.sharers),
                            None if r.owner is None else r.owner.agent)
            for r in core.coordinator.artifacts()}




@pytest.fixture
def core():
    c = CoherenceAdapterCore()
    c.agent("seed").write("doc", {"v": 1})
    yield c
    c.close()


AGENT_CALLS = {
    "read": lambda a, x: a.read(x),
    "read default": lambda a, x: a.read(x, None),
    "read_with_version": lambda a, x: a.read_with_version(x, None),
    "write": lambda a, x: a.write(x, "v"),
    "write blind": lambda a, x: a.write(x, "v", blind=True),
    "delete": lambda a, x: a.delete(x),
    "reacquire": lambda a, x: a.reacquire(x),
    "commit_cas": lambda a, x: a.commit_cas(x, 0, "v"),
    "write_cas": lambda a, x: a.write_cas(x, lambda old: "v"),
    "release": lambda a, x: a.release(x),
    "evict": lambda a, x: a.evict(x),
    "transaction": lambda a, x: _txn(a, x),
    "effect input": lambda a, x: a.effect(depends_on=[x]).run(lambda key, payload: None),
    "effect key": lambda a, x: a.core.agent("seed").effect(depends_on=["doc"]).run(  # read it
        lambda key, payload: None, key=x),
    "handoff": lambda a, x: a.handoff(x, to="b"),
}


def _txn(agent, x):
    with agent.transaction() as t:
        t.write(x, "v")


@pytest.mark.parametrize("value", list(IDS))
@pytest.mark.parametrize("call", list(AGENT_CALLS))
def test_artifact_ids(core, call, value):
    agent = core.agent("a")
    attempt(lambda: AGENT_CALLS[call](agent, IDS[value]), state(core), lambda: state(core))


@pytest.mark.parametrize("value", list(IDS))
def test_agent_names(core, value):
    def use():
        agent = core.agent(IDS[value])
        agent.write("doc2", "x")
    attempt(use, state(core), lambda: state(core))


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("call", ["write", "commit_cas", "write_cas", "transaction"])
def test_values(core, call, value):
    agent = core.agent("a")
    agent.read("doc")
    v = VALUES[value]
    calls = {
        "write": lambda: agent.write("doc", v),
        "commit_cas": lambda: agent.commit_cas("doc", 1, v),
        "write_cas": lambda: agent.write_cas("doc", lambda old: v),
        "transaction": lambda: _txn_value(agent, v),
    }
    before = state(core)
    result = attempt(calls[call], before, lambda: state(core))
    if value != "lone surrogate in JSON key":  # JSON escapes it and brings it back unchanged
        assert isinstance(result, CoherenceError), f"{value!r} was accepted"


def _txn_value(agent, v):
    with agent.transaction() as t:
        t.write("doc", v)


@pytest.mark.parametrize("value", list(NUMBERS))
@pytest.mark.parametrize("call", ["write_cas retries", "write_cas backoff", "commit_cas version"])
def test_numbers(core, call, value):
    agent = core.agent("a")
    agent.read("doc")
    n = NUMBERS[value]
    calls = {
        "write_cas retries": lambda: agent.write_cas("doc", lambda old: old, retries=n),
        "write_cas backoff": lambda: agent.write_cas("doc", lambda old: old, backoff=n),
        "commit_cas version": lambda: agent.commit_cas("doc", n, {"v": 2}),
    }
    attempt(calls[call], state(core), lambda: state(core))


ENGINE_URLS = [
    None, 5, "", "memory", "nosuch://x", "sqlite://", "sqlite:///", "sqlite:///no/such/dir/state.db",
    "sqlite:///state.db?busy_timeout=abc", "sqlite:///state.db?synchronous=sometimes",
    "postgresql://postgres@127.0.0.1:notaport/test", "postgresql://postgres@127.0.0.1:5432/test?pool_max=abc",
    "postgresql://postgres@127.0.0.1:5432/test?pool_max=0", "postgresql://postgres@127.0.0.1:5432/test?schema=A-B",
    "redis://127.0.0.1:notaport/0", "redis://127.0.0.1:6379/0?socket_timeout=abc",
    "redis://127.0.0.1:6379/0?prefix=%00", "redis://127.0.0.1:6379/notadb", "sqlite:///\x00.db",
    "sqlite:///\ud800.db",
]


@pytest.mark.parametrize("url", ENGINE_URLS)
def test_engine_urls(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        CoherenceAdapterCore(engine=url).close()
    except CoherenceError as exc:
        assert exc.code in ERRORS_BY_CODE and exc.recover
    else:
        pytest.fail(f"{url!r} was accepted")


@pytest.mark.parametrize("bus", [5, "", "amqp://user:s3cret@host/", "nats://127.0.0.1:notaport",
                                 "redis://127.0.0.1:notaport/0"])
def test_bus_urls(bus):
    try:
        CoherenceAdapterCore(bus=bus).close()
    except CoherenceError as exc:
        assert "s3cret" not in str(exc) and exc.code in ERRORS_BY_CODE
    else:
        pytest.fail(f"{bus!r} was accepted")


# --- CCSStore -------------------------------------------------------------------------------

def store_state(store) -> dict:
    return state(store.core)


@pytest.fixture
def store():
    from ccs.adapters import CCSStore

    s = CCSStore()
    s.put(("team",), "doc", {"v": 1})
    yield s


NAMESPACES = {
    "empty": (), "empty label": ("",), "dot label": ("a.b",), "int label": (1,), "None label": (None,),
    "str not tuple": "team", "NUL": ("a\x00",), "surrogate": ("\ud800",), "deep": ("x",) * 300,
    "long": ("x" * 5000,), "max code point": ("\U0010ffff",),
}


def _typed_or_langgraph(call, before, after):
    """LangGraph's own namespace errors are allowed only if also typed (CCSStore raises a subclass
    of both, so code written for InMemoryStore keeps catching them)."""
    result = attempt(call, before, after)
    if isinstance(result, InvalidNamespaceError):
        assert isinstance(result, CoherenceError)
    return result


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("call", ["put", "get", "delete", "search", "update"])
def test_store_namespaces(store, call, ns):
    n = NAMESPACES[ns]
    calls = {
        "put": lambda: store.put(n, "k", {"v": 1}),
        "get": lambda: store.get(n, "k"),
        "delete": lambda: store.delete(n, "k"),
        "search": lambda: store.search(n),
        "update": lambda: store.update(n, "k", lambda v: {"v": 2}),
    }
    try:
        _typed_or_langgraph(calls[call], store_state(store), lambda: store_state(store))
    except InvalidNamespaceError as exc:
        assert isinstance(exc, CoherenceError), f"untyped {exc!r}"


@pytest.mark.parametrize("key", list(IDS))
def test_store_keys(store, key):
    attempt(lambda: store.put(("team",), IDS[key], {"v": 1}), store_state(store),
            lambda: store_state(store))


STORE_VALUES = {**VALUES, "str not dict": "text", "list not dict": [1], "None": None}


@pytest.mark.parametrize("value", list(STORE_VALUES))
def test_store_values(store, value):
    store.get(("team",), "doc")
    before = store_state(store)
    result = attempt(lambda: store.put(("team",), "doc", STORE_VALUES[value]), before,
                     lambda: store_state(store))
    if value not in {"lone surrogate in JSON key", "None"}:  # None deletes, as in LangGraph
        assert isinstance(result, CoherenceError), f"{value!r} was accepted"


@pytest.mark.parametrize("value", list(NUMBERS))
@pytest.mark.parametrize("call", ["put ttl", "update retries", "update ttl", "search limit"])
def test_store_numbers(store, call, value):
    n = NUMBERS[value]
    calls = {
        "put ttl": lambda: store.put(("team",), "doc", {"v": 2}, ttl=n),
        "update retries": lambda: store.update(("team",), "doc", lambda v: v, retries=n),
        "update ttl": lambda: store.update(("team",), "doc", lambda v: v, ttl=n),
        "search limit": lambda: store.search(("team",), limit=n),
    }
    attempt(calls[call], store_state(store), lambda: store_state(store))
