"""CoherentVolume across real processes: 4 writers on one file, writers SIGKILLed at random points
and at chosen points of a commit. Bounded in count and time; no timing assertions."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.protocol.errors import ConflictError, RetriesExhausted

P = "plans/shared.md"
MANAGED = ("plans/**",)
WORKERS = 4
PER_WORKER = 25
DEADLINE = 90.0

pytestmark = pytest.mark.slow


# --- worker side (this file run as a script) -----------------------------------------------------

def work_append(root: str, name: str, mode: str) -> None:
    vol = CoherentVolume(root, managed=MANAGED, agent=name)
    ok, refused, behind = [], 0, 0
    deadline = time.monotonic() + DEADLINE
    fpath = os.path.join(root, P)
    while len(ok) < PER_WORKER and time.monotonic() < deadline:
        line = f"{name} {len(ok)}\n"
        try:
            if mode == "plain":
                text = vol.read(P, default="")
                vol.write(P, text + line)
            else:
                vol.write_cas(P, lambda t, line=line: (t or "") + line, retries=64)
        except RetriesExhausted:
            refused += 1
            continue
        except ConflictError:
            refused += 1
            vol.reacquire(P)
            continue
        ok.append(line)
        with open(fpath) as f:  # disk never goes back behind a commit that was reported
            if line not in f.read():
                behind += 1
    print(json.dumps({"ok": ok, "refused": refused, "behind": behind}), flush=True)
    vol.close()


def work_monitor(root: str) -> None:
    """Watch the file: appends only, so every observation must extend the previous one. A stale
    materialization landing after a newer one (v5 after v6) shows up as a step backwards."""
    fpath, stop = os.path.join(root, P), os.path.join(root, "stop")
    reads = backwards = 0
    last = b""
    deadline = time.monotonic() + DEADLINE + 30
    while not os.path.exists(stop) and time.monotonic() < deadline:
        try:
            with open(fpath, "rb") as f:
                now = f.read()
        except FileNotFoundError:
            now = b""
        reads += 1
        if not now.startswith(last):
            backwards += 1
        last = now
        time.sleep(0.0002)
    print(json.dumps({"reads": reads, "backwards": backwards}), flush=True)


def payload(seq: int) -> bytes:
    body = (f"{seq}:" * 40_000).encode()[: 256 * 1024]
    return f"{seq} {hashlib.sha256(body).hexdigest()}\n".encode() + body


def parse(data: bytes) -> int:
    head, body = data.split(b"\n", 1)
    seq, digest = head.split()
    assert hashlib.sha256(body).hexdigest() == digest.decode(), "partial or corrupt file"
    return int(seq)


def work_churn(root: str) -> None:
    vol = CoherentVolume(root, managed=MANAGED, agent="churn")
    data = vol.read_bytes(P, default=None)
    seq = 0 if data is None else parse(data)
    print("ready", flush=True)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        seq += 1
        version = vol.write(P, payload(seq))
        print(f"committed {version} {seq}", flush=True)


def work_crash(root: str, where: str) -> None:
    vol = CoherentVolume(root, managed=MANAGED, agent="crasher")
    vol.read(P)

    def die(*_a, **_k):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "after_commit":
        vol._materialize = die  # the commit has landed; the file is not written yet
    else:
        os.replace = die  # the temp file is written and fsynced; the rename never happens
    vol.write(P, "committed by the crasher\n")


# --- test side -----------------------------------------------------------------------------------

def spawn(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def run_appenders(root, mode):
    CoherentVolume(root, managed=MANAGED).close()  # create the state once
    monitor = spawn("monitor", str(root))
    procs = [spawn("append", str(root), f"w{i}", mode) for i in range(WORKERS)]
    results = {}
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=DEADLINE + 60)
        assert p.returncode == 0, err
        results[f"w{i}"] = json.loads(out.strip().splitlines()[-1])
    (root / "stop").touch()
    out, err = monitor.communicate(timeout=60)
    assert monitor.returncode == 0, err
    seen = json.loads(out)
    assert seen["reads"] > 0 and seen["backwards"] == 0, f"the file went back to an older version: {seen}"
    return results


def check_appends(root, results):
    lines = (root / P).read_text().splitlines(keepends=True)
    reported = [line for r in results.values() for line in r["ok"]]
    assert sorted(lines) == sorted(reported), "file entries differ from the writes reported"
    for name, r in results.items():
        mine = [line for line in lines if line.startswith(name + " ")]
        assert mine == r["ok"], f"{name}'s entries missing or out of order"
        assert r["behind"] == 0, f"{name} saw the file behind its own committed write"
    with CoherentVolume(root, managed=MANAGED) as v:
        assert v.read(P) == "".join(lines)
        assert v.read_with_version(P).version == len(lines)


@pytest.mark.parametrize("mode", ["plain", "cas"])
def test_four_processes_append_on_one_file(tmp_path, mode):
    results = run_appenders(tmp_path, mode)
    check_appends(tmp_path, results)
    assert sum(len(r["ok"]) for r in results.values()) == WORKERS * PER_WORKER


def test_sigkilled_writer_leaves_no_partial_file_and_loses_no_commit(tmp_path):
    rng = random.Random(5)
    with CoherentVolume(tmp_path, managed=MANAGED, agent="verifier") as verifier:
        for _ in range(12):
            child = spawn("churn", str(tmp_path))
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.02, 0.25))
            child.send_signal(signal.SIGKILL)
            out, err = child.communicate(timeout=30)
            assert child.returncode == -signal.SIGKILL, err
            committed = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")]
            on_disk = (tmp_path / P).read_bytes() if (tmp_path / P).exists() else None
            if on_disk is not None:
                parse(on_disk)  # whole: the old version or the new one, never a torn file
            record = verifier.coordinator.artifact(P)
            if committed:
                assert record.version >= committed[-1], "a reported commit was lost"
            if record is None or record.version == 0:
                continue
            data = verifier.read_bytes(P)  # next access repairs from the blob if needed
            assert data == verifier.coordinator.content_at(P)
            assert parse(data) == record.version
            assert (tmp_path / P).read_bytes() == data
            assert not [n for n in os.listdir(tmp_path / "plans") if ".ccs-tmp-" in n]


@pytest.mark.parametrize("where", ["after_commit", "before_rename"])
def test_crash_between_commit_and_file_is_repaired(tmp_path, where):
    with CoherentVolume(tmp_path, managed=MANAGED, agent="setup") as v:
        v.write(P, "original\n")
    child = spawn("crash", str(tmp_path), where)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert (tmp_path / P).read_text() == "original\n"  # the file was never touched
    temps = [n for n in os.listdir(tmp_path / "plans") if ".ccs-tmp-" in n]
    assert len(temps) == (1 if where == "before_rename" else 0)
    # Strict reads too: a materialization cut short is not a foreign edit.
    with CoherentVolume(tmp_path, managed=MANAGED, agent="next", on_stale_read="raise") as v:
        assert v.status(P)["files"][0]["disk"] == "pending"
        assert v.read(P) == "committed by the crasher\n"
        assert v.read_with_version(P).version == 2
    assert (tmp_path / P).read_text() == "committed by the crasher\n"
    assert not [n for n in os.listdir(tmp_path / "plans") if ".ccs-tmp-" in n]


def test_repair_after_crash_fixes_every_file(tmp_path):
    with CoherentVolume(tmp_path, managed=MANAGED, agent="setup") as v:
        v.write(P, "original\n")
    child = spawn("crash", str(tmp_path), "after_commit")
    child.communicate(timeout=60)
    with CoherentVolume(tmp_path, managed=MANAGED) as v:
        assert v.repair() == {"repaired": 1, "orphans_removed": 0}
        assert [f["disk"] for f in v.status()["files"]] == ["clean"]
    assert (tmp_path / P).read_text() == "committed by the crasher\n"


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:]
    {"append": work_append, "churn": work_churn, "crash": work_crash,
     "monitor": work_monitor}[cmd](*rest)
