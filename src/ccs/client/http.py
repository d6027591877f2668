"""A stdlib-only client of ``ccs serve`` (http.client and json; nothing to install).

>>> c = HttpClient("http://127.0.0.1:8787", agent="planner")     # token from the default file
>>> c.read("plan.md").value

Errors are the library's typed errors, rebuilt from the server's JSON (``StaleView``,
``VersionConflict``, ...). A connection that fails before the request went out is
``BackendUnavailable`` (nothing happened); one that fails after a write was sent is
``OutcomeUnknown`` (it may have landed: read before writing again). ``cache()`` is a read cache
kept coherent by the server's event stream (``http_cache.RemoteCache``).
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccs.protocol.errors import BackendUnavailable, CoherenceError, InvalidArgument, OutcomeUnknown
from ccs.server.config import default_token_file

DELETE: Any = object()  # transaction(writes={"old.md": DELETE})


@dataclass(frozen=True, slots=True)
class Remote:
    """An artifact as the server returned it."""
    artifact: str
    value: Any
    version: int
    epoch: int
    seq: int
    exists: bool


def content_of(value: Any) -> dict[str, Any]:
    """The ``content``/``encoding`` pair the server expects for a Python value."""
    if isinstance(value, str):
        return {"content": value, "encoding": "utf-8"}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"content": base64.b64encode(bytes(value)).decode("ascii"), "encoding": "base64"}
    return {"content": value, "encoding": "json"}


def remote_of(payload: dict[str, Any]) -> Remote:
    encoding, content = payload.get("encoding"), payload.get("content")
    value = base64.b64decode(content) if encoding == "base64" else content
    return Remote(payload["artifact"], value, payload["version"], payload["epoch"], payload["seq"],
                  payload["exists"])


class HttpClient:
    def __init__(self, url: str, *, agent: str | None = None, token: str | None = None,
                 token_file: str | Path | None = None, timeout: float = 60.0,
                 cafile: str | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"url must be http://host:port or https://host:port, got {url!r}",
                                  parameter="url")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._context = ssl.create_default_context(cafile=cafile) if self._https else None
        if token is None:
            path = Path(token_file or default_token_file())
            try:
                token = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidArgument(f"cannot read the server's token from {path}: {exc}",
                                      parameter="token_file",
                                      recover="pass token= or token_file= (the file ccs serve announced)"
                                      ) from None
        self._auth = f"Bearer {token}"
        self.agent = agent
        self.timeout = timeout

    # --- transport -------------------------------------------------------------------------------

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise BackendUnavailable(f"cannot reach {self.url}: {exc}", url=self.url) from None
        return conn

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                query: dict[str, Any] | None = None, *, mutating: bool = False) -> Any:
        """One call: the decoded JSON answer, or the server's typed error raised."""
        params = {k: json.dumps(v) if isinstance(v, bool) else v for k, v in (query or {}).items()
                  if v is not None}
        target = path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn = self._connect(self.timeout)
        try:
            try:
                conn.request(method, target, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except OSError as exc:
                if mutating:
                    raise OutcomeUnknown(f"{path}: the connection failed after the request was sent "
                                         f"({exc}); it may have landed", artifact=(body or {}).get(
                                             "artifact"), url=self.url) from None
                raise BackendUnavailable(f"{path}: the connection failed ({exc})", url=self.url) from None
        finally:
            conn.close()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if resp.status >= 400:
            if isinstance(payload, dict) and isinstance(payload.get("code"), str):
                raise CoherenceError.from_dict(payload)
            raise BackendUnavailable(f"{path}: HTTP {resp.status} without a typed error "
                                     "(a proxy in between?)", status=resp.status, url=self.url)
        if not isinstance(payload, dict):  # not ccs serve's answer: whatever happened is unknown
            cls = OutcomeUnknown if mutating else BackendUnavailable
            raise cls(f"{path}: HTTP {resp.status} with a body that is not a JSON object (not "
                      "ccs serve?)", status=resp.status, url=self.url)
        return payload

    def _agent(self, agent: str | None) -> str:
        name = agent or self.agent
        if name is None:
            raise InvalidArgument("no agent: pass agent= here or to HttpClient", parameter="agent")
        return name

    def _post(self, op: str, agent: str | None, **fields: Any) -> Any:
        body = {"agent": self._agent(agent), **{k: v for k, v in fields.items() if v is not None}}
        return self.request("POST", f"/v1/{op}", body, mutating=op not in ("read",))

    # --- the agent API ---------------------------------------------------------------------------

    def read(self, artifact: str, *, agent: str | None = None, fresh: bool = False) -> Remote:
        return remote_of(self._post("read", agent, artifact=artifact, fresh=fresh))

    def reacquire(self, artifact: str, *, agent: str | None = None) -> Remote:
        return remote_of(self._post("reacquire", agent, artifact=artifact))

    def write(self, artifact: str, value: Any, *, agent: str | None = None) -> int:
        return self._post("write", agent, artifact=artifact, **content_of(value))["version"]

    def write_cas(self, artifact: str, expected_version: int, value: Any, *,
                  agent: str | None = None) -> int:
        return self._post("write_cas", agent, artifact=artifact, expected_version=expected_version,
                          **content_of(value))["version"]

    def commit_cas(self, artifact: str, expected_version: int, value: Any, *,
                   agent: str | None = None) -> int:
        return self._post("commit_cas", agent, artifact=artifact, expected_version=expected_version,
                          **content_of(value))["version"]

    def commit(self, artifact: str, value: Any, *, agent: str | None = None) -> int:
        return self._post("commit", agent, artifact=artifact, **content_of(value))["version"]

    def transaction(self, writes: dict[str, Any], expected_versions: dict[str, int] | None = None, *,
                    agent: str | None = None) -> dict[str, int]:
        items = {a: None if v is DELETE else content_of(v) for a, v in writes.items()}
        return self._post("transaction", agent, writes=items,
                          expected_versions=expected_versions)["versions"]

    def heartbeat(self, *, agent: str | None = None) -> None:
        self._post("heartbeat", agent)

    def status(self, prefix: str = "", *, all: bool = False) -> dict[str, Any]:
        return self.request("GET", "/v1/status", query={"prefix": prefix or None, "all": all or None})

    def log(self, artifact: str | None = None, *, limit: int | None = None,
            since: float | None = None) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/log", query={"artifact": artifact, "limit": limit,
                                                     "since": since})["entries"]

    # --- invalidations ---------------------------------------------------------------------------

    def events(self, prefix: str = "", *, idle_timeout: float = 60.0,
               on_connect: Any = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(event, data)`` from ``GET /v1/events`` until the stream ends (``ready`` first).
        The server pings every 15 s; a stream silent for ``idle_timeout`` is a broken one."""
        conn = self._connect(idle_timeout)
        if on_connect is not None:
            on_connect(conn)
        try:
            target = "/v1/events" + ("?" + urllib.parse.urlencode({"prefix": prefix}) if prefix else "")
            conn.request("GET", target, headers={"Authorization": self._auth,
                                                 "Accept": "text/event-stream"})
            resp = conn.getresponse()
            if resp.status != 200:
                payload = json.loads(resp.read() or b"{}")
                raise CoherenceError.from_dict(payload) if "code" in payload else BackendUnavailable(
                    f"/v1/events: HTTP {resp.status}")
            event, data = "message", ""
            while True:
                line = resp.readline()
                if not line:
                    return
                text = line.decode("utf-8").rstrip("\r\n")
                if not text:
                    if data:
                        yield event, json.loads(data)
                    event, data = "message", ""
                elif text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    data += text[5:].strip()
        finally:
            conn.close()

    def cache(self, prefix: str = "", *, agent: str | None = None):
        """A read cache of this client, kept coherent by the event stream."""
        from ccs.client.http_cache import RemoteCache

        return RemoteCache(self, prefix=prefix, agent=self._agent(agent))
