"""A stand-in for the Anthropic Messages API that scripts the model's tool calls, for running the
real Claude Code offline (`python stub_model.py PORT LOG SCENARIO ROOT[,ROOT_OF_B]`).

``POST /v1/messages`` answers in the streaming (SSE) or plain JSON form the request asks for;
``/v1/messages/count_tokens`` gives a count; anything else a 404 JSON. Every request is appended
to LOG (JSON lines) so a test can check what Claude Code sent. The conversation decides the next
step: which session (the prompt names it) and how many tool results it has seen, so a retried
request gets the same answer. Sessions wait for each other where the scenario needs an order.

Scenarios:
``hooks``: session A and session B both read plan.md; A edits it; B then edits it (a refusal is
expected), reads it again when the refusal reached it, and edits again. With two roots, A and B
work in two clones of the repository (sharing one engine).
``mcp``: one session calls the MCP server's ``read`` tool, then ``write`` with what it read
(first ``WaitForMcpServers`` while Claude Code is still connecting the server, as a model would).
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT = 60.0
# B re-reads on the hook's denial, or on Claude Code's own refusal (its per-process check of the
# file's mtime runs before PreToolUse hooks: it is what refuses when both sessions share one disk)
REFUSALS = ("[agent-coherence] Edit refused", "File has been modified since read",
            "File content has changed since it was last read")
_ids = itertools.count()
_progress: dict[str, int] = {}  # session -> tool results seen
_cond = threading.Condition()
_log_lock = threading.Lock()


def _texts(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_texts(c.get("text", c.get("content", ""))) if isinstance(c, dict) else ""
                         for c in content)
    return ""


def _results(messages: list[dict[str, Any]]) -> list[str]:
    return [_texts(c.get("content")) for m in messages if m.get("role") == "user"
            and isinstance(m.get("content"), list)
            for c in m["content"] if isinstance(c, dict) and c.get("type") == "tool_result"]


def _session(messages: list[dict[str, Any]]) -> str:
    first = _texts(messages[0].get("content")) if messages else ""
    for name in ("session A", "session B", "session MCP"):
        if name in first:
            return name.split()[1]
    return "?"


def _wait(session: str, results: int) -> None:
    with _cond:
        _cond.wait_for(lambda: _progress.get(session, 0) >= results, timeout=WAIT)


def _tool(name: str, **args: Any) -> tuple[list[dict[str, Any]], str]:
    return [{"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": args}], "tool_use"


def _say(text: str) -> tuple[list[dict[str, Any]], str]:
    return [{"type": "text", "text": text}], "end_turn"


def hooks_step(session: str, results: list[str], plan: str) -> tuple[list[dict[str, Any]], str]:
    n = len(results)
    if session == "A":
        if n == 0:
            _wait("B", 1)  # B has read plan.md: its view is version 1
            return _tool("Read", file_path=plan)
        if n == 1:
            return _tool("Edit", file_path=plan, old_string="- step 1\n",
                         new_string="- step 1\n- step A\n", replace_all=False)
        return _say("A done")
    if n == 0:
        return _tool("Read", file_path=plan)
    if n == 1:
        _wait("A", 2)  # A's edit has landed and its PostToolUse hook has run
        return _tool("Edit", file_path=plan, old_string="# Plan\n", new_string="# Plan\n- step B\n",
                     replace_all=False)
    if n == 2:
        refused = any(r in results[-1] for r in REFUSALS)
        return _tool("Read", file_path=plan) if refused else _say("B: no refusal seen")
    if n == 3:
        return _tool("Edit", file_path=plan, old_string="# Plan\n", new_string="# Plan\n- step B\n",
                     replace_all=False)
    return _say("B done")


def _calls(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(tool name, result text)`` of every tool call answered so far."""
    names = {c.get("id"): c.get("name") for m in messages if m.get("role") == "assistant"
             and isinstance(m.get("content"), list) for c in m["content"] if isinstance(c, dict)}
    return [(names.get(c.get("tool_use_id"), "?"), _texts(c.get("content")))
            for m in messages if m.get("role") == "user" and isinstance(m.get("content"), list)
            for c in m["content"] if isinstance(c, dict) and c.get("type") == "tool_result"]


def mcp_step(messages: list[dict[str, Any]], tools: set[str]) -> tuple[list[dict[str, Any]], str]:
    calls = _calls(messages)
    mcp = [text for name, text in calls if name.startswith("mcp__guard__")]
    if "mcp__guard__read" not in tools:  # Claude Code connects MCP servers in the background
        waited = sum(name == "WaitForMcpServers" for name, _ in calls)
        if "WaitForMcpServers" in tools and waited < 3:
            return _tool("WaitForMcpServers", servers=["guard"])
        return _say(f"the MCP tools never appeared: {sorted(tools)}")
    if not mcp:
        return _tool("mcp__guard__read", path="plan.md")
    if len(mcp) == 1:
        try:
            content = json.loads(mcp[0])["content"]
        except (ValueError, KeyError, TypeError):
            return _say(f"MCP read failed: {mcp[0][:500]}")
        return _tool("mcp__guard__write", path="plan.md", content=content + "- via MCP\n")
    return _say("MCP done")


def _events(blocks: list[dict[str, Any]], stop: str, mid: str) -> bytes:
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {
        "id": mid, "type": "message", "role": "assistant", "model": "stub", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}}]
    for i, b in enumerate(blocks):
        if b["type"] == "text":
            events += [{"type": "content_block_start", "index": i,
                        "content_block": {"type": "text", "text": ""}},
                       {"type": "content_block_delta", "index": i,
                        "delta": {"type": "text_delta", "text": b["text"]}}]
        else:
            events += [{"type": "content_block_start", "index": i,
                        "content_block": {**b, "input": {}}},
                       {"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}}]
        events.append({"type": "content_block_stop", "index": i})
    events += [{"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 1}}, {"type": "message_stop"}]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path = ""
    scenario = ""
    plans: dict[str, str] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._reply(200, b"", "text/plain")

    def do_GET(self) -> None:
        self._log(None)
        self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        self._log(body)
        path = self.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            return self._json(200, {"input_tokens": 100})
        if path != "/v1/messages":
            return self._json(404, {"type": "error", "error": {"type": "not_found_error",
                                                               "message": self.path}})
        try:
            blocks, stop = self._step(body)
        except Exception as exc:  # end the session with the error: never a dropped connection
            blocks, stop = _say(f"stub error: {type(exc).__name__}: {exc}")  # that Claude retries
        mid = f"msg_{next(_ids):04d}"
        if body.get("stream"):
            return self._reply(200, _events(blocks, stop, mid), "text/event-stream")
        return self._json(200, {"id": mid, "type": "message", "role": "assistant", "model": "stub",
                                "content": blocks, "stop_reason": stop, "stop_sequence": None,
                                "usage": {"input_tokens": 1, "output_tokens": 1}})

    def _step(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        messages = body.get("messages") or []
        tools = {t.get("name") for t in body.get("tools") or []}
        session, results = _session(messages), _results(messages)
        if "Read" not in tools:
            return _say("ok")  # a side request (a title, a summary): not the main loop
        with _cond:
            _progress[session] = max(_progress.get(session, 0), len(results))
            _cond.notify_all()
        if self.scenario == "mcp":
            return mcp_step(messages, tools)
        return hooks_step(session, results, self.plans.get(session, ""))

    def _log(self, body: Any) -> None:
        with _log_lock, open(self.log_path, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "body": body}) + "\n")

    def _json(self, status: int, obj: Any) -> None:
        self._reply(status, json.dumps(obj).encode(), "application/json")

    def _reply(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    port, Handler.log_path, Handler.scenario, roots = sys.argv[1:5]
    root_a, _, root_b = roots.partition(",")
    Handler.plans = {"A": f"{root_a}/plan.md", "B": f"{root_b or root_a}/plan.md"}
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
