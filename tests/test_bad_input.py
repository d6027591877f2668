"""Bad input gets a clear typed error, and nothing is lost or changed.

Engine URLs, state files that are not ours (another application's SQLite file, random bytes, a
newer schema), an old schema upgraded in place, oversized content, invalid identifiers and values.
"""

import hashlib
import json
import os
import random
import sqlite3

import pytest

from ccs import CoherenceAdapterCore, Coordinator, Limits, ManualClock
from ccs.backends import open_backend
from ccs.backends.sqlite import SCHEMA_VERSION
from ccs.protocol.errors import (
    CoherenceError,
    CorruptState,
    InvalidIdentifier,
    InvalidValue,
    PayloadTooLarge,
    SchemaTooNew,
    UnknownEngine,
)
from ccs.protocol.ids import MAX_AGENT_ID, MAX_AGENT_NAME
from ccs.protocol.records import ArtifactRecord, Content

# The schema as release 1 wrote it, frozen here on purpose: later releases must keep opening it.
V1_DDL = (
    "CREATE TABLE ccs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE ccs_records (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE ccs_blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID",
)


def check_error(err: CoherenceError, code: str, artifact: str | None = None) -> dict:
    """The error contract: stable code, the artifact, a recover hint, JSON both ways."""
    assert err.code == code and err.artifact == artifact and err.recover
    payload = json.loads(err.to_json())
    assert payload["code"] == code and payload["artifact"] == artifact and payload["recover"]
    back = CoherenceError.from_dict(payload)
    assert type(back) is type(err) and back.details == payload.get("details", {})
    return payload


def sqlite_url(path) -> str:
    return f"sqlite:///{path}"


def files(directory) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


# --- engines and state files -----------------------------------------------------------------

@pytest.mark.parametrize("url", ["nosuch://x", "ftp://host/state.db", "state.db", "", "sqlite:///",
                                 "sqlite://relative.db", "nosuch://user:hunter2@host/db", None, 5])
def test_unknown_engine_url(url):
    with pytest.raises(UnknownEngine) as e:
        open_backend(url)
    payload = check_error(e.value, "unknown_engine")
    assert "hunter2" not in json.dumps(payload)
    with pytest.raises(UnknownEngine):
        CoherenceAdapterCore(engine=url)


def test_foreign_sqlite_file_is_refused_and_left_byte_for_byte_unchanged(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = files(tmp_path)
    with pytest.raises(CorruptState) as e:
        Coordinator(sqlite_url(path))
    payload = check_error(e.value, "corrupt_state")
    assert "users" in payload["message"] and payload["details"]["path"] == str(path)
    assert files(tmp_path) == before  # same bytes, no -wal/-shm/-journal left behind


def test_corrupt_file_is_refused_and_left_byte_for_byte_unchanged(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(random.Random(7).randbytes(8192))
    before = files(tmp_path)
    with pytest.raises(CorruptState) as e:
        CoherenceAdapterCore(engine=sqlite_url(path))
    check_error(e.value, "corrupt_state")
    assert files(tmp_path) == before


def test_a_damaged_record_in_a_valid_store_is_corrupt_state(tmp_path):
    path = tmp_path / "state.db"
    core = CoherenceAdapterCore(engine=sqlite_url(path), clock=ManualClock())
    core.agent("a").write("plan.md", "v1")
    core.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE ccs_records SET body='{not json' WHERE key='a/plan.md'")
    conn.commit()
    conn.close()
    core = CoherenceAdapterCore(engine=sqlite_url(path), clock=ManualClock())
    with pytest.raises(CorruptState) as e:
        core.agent("b").read("plan.md")
    check_error(e.value, "corrupt_state", "a/plan.md")
    core.close()


def test_newer_schema_than_supported_is_refused_untouched(tmp_path):
    path = tmp_path / "state.db"
    core = CoherenceAdapterCore(engine=sqlite_url(path))
    core.agent("a").write("plan.md", "keep me")
    core.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE ccs_meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    before = files(tmp_path)
    with pytest.raises(SchemaTooNew) as e:
        Coordinator(sqlite_url(path))
    payload = check_error(e.value, "schema_too_new")
    assert payload["details"]["schema_version"] == SCHEMA_VERSION + 1
    assert files(tmp_path) == before


def test_v1_store_is_upgraded_in_place_keeping_its_data(tmp_path):
    path = tmp_path / "state.db"
    data = b"written by release 1"
    digest = hashlib.sha256(data).hexdigest()
    record = ArtifactRecord("plan.md", version=3, content=Content(digest, len(data), "str"),
                            updated_by="old-agent")
    conn = sqlite3.connect(path)
    for ddl in V1_DDL:
        conn.execute(ddl)
    conn.execute("INSERT INTO ccs_meta VALUES ('application', 'agent-coherence'), ('schema_version', '1')")
    conn.execute("INSERT INTO ccs_records VALUES ('a/plan.md', ?)", (json.dumps(record.to_dict()),))
    conn.execute("INSERT INTO ccs_blobs VALUES (?, ?)", (digest, data))
    conn.commit()
    conn.close()

    core = CoherenceAdapterCore(engine=sqlite_url(path), clock=ManualClock())
    a = core.agent("a")
    assert a.read("plan.md") == data.decode() and a.cached_version("plan.md") == 3
    assert a.write("plan.md", "written by this release") == 4
    core.close()

    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM ccs_meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    blob_columns = {row[1] for row in conn.execute("PRAGMA table_info(ccs_blobs)")}
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "stored_at" in blob_columns and "ccs_events" in tables
    reopened = Coordinator(sqlite_url(path))
    assert reopened.content_at("plan.md", 3) == data  # the old version stays readable
    assert reopened.content_at("plan.md") == b"written by this release"
    reopened.close()


# --- content, identifiers, values ---------------------------------------------------------------

@pytest.fixture(params=["memory", "sqlite"])
def small_core(request, tmp_path):
    engine = "memory://" if request.param == "memory" else sqlite_url(tmp_path / "state.db")
    core = CoherenceAdapterCore(engine=engine, clock=ManualClock(), limits=Limits(max_content_bytes=16))
    yield core
    core.close()


def test_content_over_the_limit_is_refused_and_nothing_is_stored(small_core):
    a = small_core.agent("a")
    coord = small_core.coordinator
    with pytest.raises(PayloadTooLarge) as e:
        a.write("new", "x" * 17)
    payload = check_error(e.value, "payload_too_large", "new")
    assert payload["details"] == {"size": 17, "limit": 16}
    assert coord.artifact("new") is None and coord.backend.blob_digests() == set()

    assert a.write("doc", "x" * 16) == 1  # exactly at the limit is fine
    for attempt in (lambda: a.write("doc", b"y" * 17), lambda: a.commit_cas("doc", 1, "y" * 17),
                    lambda: a.write_cas("doc", lambda old: old + "y")):
        with pytest.raises(PayloadTooLarge):
            attempt()
    with pytest.raises(PayloadTooLarge), a.transaction() as t:
        t.write("other", "ok")
        t.write("doc", "z" * 40)
    assert coord.artifact("doc").version == 1 and coord.content_at("doc") == b"x" * 16
    assert coord.artifact("other") is None


BAD_IDS = ["", "a\x00b", "line\nbreak", "tab\tbed", "del\x7f", None, 5, b"bytes", ("x",)]


@pytest.mark.parametrize("bad", [*BAD_IDS, "x" * (MAX_AGENT_NAME + 1)])
def test_invalid_agent_id(bad):
    core = CoherenceAdapterCore(engine="memory://")
    with pytest.raises(InvalidIdentifier) as e:
        core.agent(bad)
    check_error(e.value, "invalid_id")
    # the coordinator takes protocol ids (name@instance), a little longer than names
    bad_id = "x" * (MAX_AGENT_ID + 1) if bad == "x" * (MAX_AGENT_NAME + 1) else bad
    with pytest.raises(InvalidIdentifier):
        core.coordinator.write(bad_id, "x", 0, None, (b"v", "str"))
    assert core.coordinator.artifacts() == []


@pytest.mark.parametrize("bad", [*BAD_IDS, "x" * 1025])
def test_invalid_artifact_id(bad):
    core = CoherenceAdapterCore(engine="memory://")
    a = core.agent("a")
    expected = bad[:80] if isinstance(bad, str) else None
    for attempt in (lambda: a.read(bad), lambda: a.write(bad, "v"), lambda: a.commit_cas(bad, 0, "v"),
                    lambda: core.coordinator.acquire("a", bad)):
        with pytest.raises(InvalidIdentifier) as e:
            attempt()
        check_error(e.value, "invalid_id", expected)
    with pytest.raises(InvalidIdentifier), a.transaction() as t:
        t.write("fine", "v")
        t.write(bad, "v")
    assert core.coordinator.artifacts() == []


def test_unhashable_artifact_id_is_invalid_at_the_coordinator():
    coord = Coordinator("memory://")
    for attempt in (lambda: coord.read("a", ["x"]), lambda: coord.write("a", {"x": 1}, 0, None, None)):
        with pytest.raises(InvalidIdentifier):
            attempt()


def test_identifiers_at_the_limits_are_valid():
    core = CoherenceAdapterCore(engine="memory://")
    agent = core.agent("p" * 256)
    assert agent.write("d" * 1024, "v") == 1 and agent.write("plan/ü 📄.md", "v") == 1


@pytest.mark.parametrize("value", [object(), {"k": {1, 2}}, float("nan"), {"x": float("inf")},
                                   [b"bytes inside json"]])
def test_value_that_is_not_json_serializable(value):
    core = CoherenceAdapterCore(engine="memory://")
    a = core.agent("a")
    for attempt in (lambda: a.write("x", value), lambda: a.commit_cas("x", 0, value),
                    lambda: a.write_cas("x", lambda old: value)):
        with pytest.raises(InvalidValue) as e:
            attempt()
        check_error(e.value, "invalid_value", "x")
    with pytest.raises(InvalidValue):
        a.transaction().write("x", value)
    assert [r.version for r in core.coordinator.artifacts()] in ([], [0])  # write_cas read it
    assert core.coordinator.backend.blob_digests() == set()
