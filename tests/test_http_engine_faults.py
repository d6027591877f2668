"""An unknown outcome crosses HTTP intact: ``ccs serve`` on Redis behind a real TCP proxy that
lets a commit land and cuts the connection before its reply; meanwhile 40 peer commits push the
commit's id out of the record's memory, so the server's retry cannot settle it. The HTTP client
gets 504 ``outcome_unknown`` with the commit id, and the audit log shows that commit did land.
An engine cut off entirely is 503 ``backend_unavailable``: nothing happened, retry."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import uuid
from urllib.parse import urlsplit

from ccs.client.http import HttpClient
from ccs.coordinator import Coordinator
from ccs.protocol.errors import OutcomeUnknown
from commit_proxy import REDIS_COMMIT, CommitProxy
from conformance.conftest import drop_store, with_query
from conftest import service_url
from http_server import serve


def test_outcome_unknown_reaches_the_client_with_its_commit_id(tmp_path):
    url = with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"ou{uuid.uuid4().hex[:10]}")
    port = urlsplit(url).port
    proxy = CommitProxy(port, marker=b'"id":"doc"', trigger=REDIS_COMMIT)
    proxied = url.replace(f":{port}/", f":{proxy.port}/")
    try:
        with serve(proxied, tmp_path) as srv:
            c = HttpClient(srv.url, token=srv.token, agent="a")
            assert c.write("doc", "v1") == 1

            direct = Coordinator(url, bus="memory://")

            def peers_commit() -> None:
                for _ in range(40):
                    rec = direct.artifact("doc")
                    direct.commit_cas("peer@0123456789ab", "doc", rec.version, None, (b"peer", "str"),
                                      commit_id=uuid.uuid4().hex)

            proxy.arm("reply", on_cut=peers_commit)
            body = json.dumps({"agent": "a", "artifact": "doc", "expected_version": 1,
                               "content": "v2"}).encode()
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            conn.request("POST", "/v1/write_cas", body=body,
                         headers={"Authorization": f"Bearer {srv.token}"})
            resp = conn.getresponse()
            payload = json.loads(resp.read())
            conn.close()
            direct.close()
            assert (resp.status, payload["code"]) == (504, "outcome_unknown"), payload
            commit_id = payload["details"]["commit_id"]
            assert commit_id and proxy.cuts == 1 and payload["details"]["last_error"]["code"]
            err = OutcomeUnknown.from_dict(payload)
            assert isinstance(err, OutcomeUnknown) and not err.retryable
            mine = [(e["outcome"], e["version"]) for e in c.log("doc") if e["commit_id"] == commit_id]
            assert mine == [("committed", 2), ("refused", 42)]  # it landed; the retry could not tell
            assert c.read("doc").value == "peer"  # the peers' commits came after it
    finally:
        proxy.close()
        drop_store(url)


class Relay:
    """A TCP relay to Redis that can be cut: every connection closed, no new ones accepted."""

    def __init__(self, port: int) -> None:
        self.target, self.socks, self.sock = port, [], socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.sock.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
                self.socks += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)

    def cut(self) -> None:
        self.sock.close()
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_an_engine_out_of_reach_is_503_and_nothing_happened(tmp_path):
    url = with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"ua{uuid.uuid4().hex[:10]}")
    port = urlsplit(url).port
    relay = Relay(port)
    try:
        with serve(url.replace(f":{port}/", f":{relay.port}/"), tmp_path) as srv:
            c = HttpClient(srv.url, token=srv.token, agent="a")
            assert c.write("doc", "v1") == 1
            relay.cut()
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            conn.request("POST", "/v1/read", body=b'{"agent": "a", "artifact": "doc", "fresh": true}',
                         headers={"Authorization": f"Bearer {srv.token}"})
            resp = conn.getresponse()
            payload = json.loads(resp.read())
            conn.close()
            assert (resp.status, payload["code"], resp.getheader("Retry-After")) == \
                (503, "backend_unavailable", "1"), payload
            assert srv.alive()
    finally:
        relay.cut()
        drop_store(url)
