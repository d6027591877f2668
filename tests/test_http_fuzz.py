"""Fuzzing ``ccs serve`` over real HTTP: malformed JSON, wrong types, unknown fields, path tricks
in artifact ids and URLs, missing or wrong tokens. Every answer is a typed 4xx, nothing is
written to the engine, and the server keeps serving."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccs.coordinator import Coordinator
from ccs.server.api import ENDPOINTS
from http_server import serve

VALID = {"agent": "fuzz", "artifact": "fuzzed.md", "content": "c", "encoding": "utf-8",
         "expected_version": 0, "fresh": False, "writes": {"fuzzed.md": {"content": "c"}},
         "expected_versions": {"fuzzed.md": 0}}
POSTS = [ep for ep in ENDPOINTS if ep.method == "POST" and ep.name != "read"]
TYPE_OF = {"string": str, "integer": int, "boolean": bool, "object": dict}
TRICKY_IDS = ["../x", "a/../../b", "..", "..\\..\\win", "x\x00y", "\x00", "", "a\nb", "\x7f",
              "x" * 1025, "é" * 600, "\ud800", "/../etc/passwd", "plan.md/.."]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids, max_size=3),
                    max_leaves=8)
SETTINGS = settings(max_examples=60, deadline=None, database=None)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    engine = f"sqlite:///{tmp}/state.db"
    with serve(engine, tmp) as server:
        server.engine = engine
        yield server
    c = Coordinator(engine)
    try:
        assert not any(r.exists for r in c.artifacts()), "a fuzzed request wrote something"
        assert c.audit() == [], "a fuzzed request reached the audit log"
    finally:
        c.close()


def send(srv, method: str, path: str, body: bytes | None, token: str | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {srv.token if token is None else token}")
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def assert_typed_4xx(status: int, payload: dict) -> None:
    assert 400 <= status < 500, (status, payload)
    assert isinstance(payload.get("code"), str) and payload["code"] != "internal_error", payload
    assert isinstance(payload.get("recover"), str) and payload["recover"], payload


def body_for(ep, **changes) -> dict:
    body = {f.name: VALID[f.name] for f in ep.fields if f.name in VALID}
    body.update(changes)
    return body


@SETTINGS
@given(ep=st.sampled_from(POSTS), data=st.binary(max_size=200))
def test_malformed_bodies(srv, ep, data):
    assert_typed_4xx(*send(srv, "POST", ep.path, data))


@SETTINGS
@given(ep=st.sampled_from(POSTS), data=st.data())
def test_wrong_types_missing_and_unknown_fields(srv, ep, data):
    field = data.draw(st.sampled_from([f for f in ep.fields if f.type in TYPE_OF]))
    how = data.draw(st.sampled_from(["wrong_type", "missing", "unknown"]))
    body = body_for(ep)
    if how == "wrong_type":
        right = TYPE_OF[field.type]
        body[field.name] = data.draw(JSON.filter(
            lambda v: not isinstance(v, right) or (right is int and isinstance(v, bool))))
    elif how == "missing":
        if not field.required:
            body["unexpected"] = 1
        del body[field.name]
    else:
        body[data.draw(st.text(min_size=1).filter(lambda k: k not in body))] = data.draw(JSON)
    raw = json.dumps(body).encode()
    assert_typed_4xx(*send(srv, "POST", ep.path, raw))


@SETTINGS
@given(ep=st.sampled_from(POSTS), trick=st.sampled_from(TRICKY_IDS), content=JSON)
def test_path_tricks_in_artifact_ids(srv, ep, trick, content):
    body = body_for(ep, artifact=trick)
    if "writes" in body:
        body["writes"] = {trick: {"content": "c"}}
    if "content" in body and not isinstance(content, str):
        body["content"] = content  # utf-8 content that is not a string: refused too
    raw = json.dumps(body).encode()  # a lone surrogate travels as its \\ud800 escape
    assert_typed_4xx(*send(srv, "POST", ep.path, raw))


@SETTINGS
@given(path=st.sampled_from(["/v1/../v1/write", "/v1/write/", "//v1/write", "/v1/write%00",
                             "/v1/%2e%2e/write", "/v1/WRITE", "/../../etc/passwd", "/v1/write?x=1%00",
                             "/v1//write", "/v2/write"]) | st.text(
                                 alphabet=st.characters(min_codepoint=33, max_codepoint=126),
                                 max_size=40).map(lambda s: "/" + s))
def test_path_tricks_in_urls(srv, path):
    body = json.dumps(body_for(POSTS[0])).encode()
    assert_typed_4xx(*send(srv, "POST", path, body))


@SETTINGS
@given(ep=st.sampled_from(POSTS),
       token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80))
def test_missing_or_wrong_tokens(srv, ep, token):
    status, payload = send(srv, "POST", ep.path, json.dumps(body_for(ep)).encode(), token=token)
    assert (status, payload["code"]) == (401, "unauthorized")


@SETTINGS
@given(query=st.one_of(
    st.text(max_size=10).filter(lambda s: not s.strip().lstrip("-").isdigit()).map(lambda s: ("limit", s)),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "x"]).map(lambda s: ("since", s)),
    # (a lone surrogate has no UTF-8 form to put in a URL: the server decodes what arrives as U+FFFD)
    st.sampled_from([t for t in TRICKY_IDS if t and "\ud800" not in t]).map(lambda s: ("artifact", s)),
    st.sampled_from(["\x00", "a\x01", "x" * 1025]).map(lambda s: ("prefix", s))))
def test_bad_query_parameters(srv, query):
    key, value = query
    path = "/v1/status" if key == "prefix" else "/v1/log"
    qs = urlencode({key: value})
    assert_typed_4xx(*send(srv, "GET", f"{path}?{qs}", None))


def test_still_serving_after_the_fuzz(srv):
    status, payload = send(srv, "GET", "/v1/status", None)
    assert status == 200 and payload["artifacts"] == []
    assert srv.alive()
