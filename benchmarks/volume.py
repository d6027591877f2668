"""CoherentVolume throughput: read, write and write_cas ops/s in one process, and CAS increments/s
from several processes on one file (checked: 0 lost).

Baselines measured in the same run on the same filesystem: a plain ``open().read()`` and an
unguarded atomic write (temp file + fsync + ``os.replace`` + directory fsync), i.e. the floor a
crash-safe file write costs without any coherence.

    python benchmarks/volume.py                 # table + JSON on stdout
    python benchmarks/volume.py --json out.json --seconds 3 --procs 4
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.adapters.coherent_volume.materialize import write_atomic

CONTENT = "# plan\n" + "- a step of the plan, long enough to look like a real line\n" * 30  # ~2 KB


def timed(fn, seconds: float) -> dict:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn(n)
        n += 1
        if n % 16 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    return {"ops": n, "seconds": round(elapsed, 3), "ops_per_s": round(n / elapsed, 1)}


def single_process(root: str, seconds: float, durable: bool) -> dict:
    out = {}
    with CoherentVolume(root, managed=("**",), agent=f"bench-{durable}", durable=durable) as vol:
        path = f"single-{durable}.md"
        vol.write(path, CONTENT)
        out["read"] = timed(lambda i: vol.read(path), seconds)
        out["write"] = timed(lambda i: vol.write(path, CONTENT + str(i)), seconds)
        vol.write("counter-" + path, "0")
        out["write_cas"] = timed(
            lambda i: vol.write_cas("counter-" + path, lambda s: str(int(s) + 1)), seconds)
        out["read_with_version"] = timed(lambda i: vol.read_with_version(path), seconds)
    return out


def baselines(root: str, seconds: float) -> dict:
    path = os.path.join(root, "raw.md")
    data = CONTENT.encode()
    write_atomic(path, data)

    def read(i):
        with open(path, "rb") as f:
            f.read()

    return {"plain_read": timed(read, seconds),
            "atomic_write_fsync": timed(lambda i: write_atomic(path, data + str(i).encode()), seconds),
            "atomic_write_no_fsync": timed(
                lambda i: write_atomic(path, data + str(i).encode(), durable=False), seconds)}


def _incrementer(root: str, name: str, n: int, durable: bool, start, results) -> None:
    with CoherentVolume(root, managed=("**",), agent=name, durable=durable) as vol:
        start.wait()
        done = 0
        for _ in range(n):
            vol.write_cas("counter.txt", lambda s: str(int(s or "0") + 1), retries=1000)
            done += 1
        results.put(done)


def multi_process(root: str, procs: int, per_proc: int, durable: bool) -> dict:
    sub = tempfile.mkdtemp(dir=root)
    CoherentVolume(sub, managed=("**",)).close()
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_incrementer, args=(sub, f"p{i}", per_proc, durable, start, results))
               for i in range(procs)]
    for w in workers:
        w.start()
    time.sleep(1.0)  # let every process open the state before the clock starts
    t0 = time.perf_counter()
    start.set()
    reported = sum(results.get(timeout=600) for _ in workers)
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.join()
    with CoherentVolume(sub, managed=("**",)) as vol:
        final = int(vol.read("counter.txt"))
    with open(os.path.join(sub, "counter.txt")) as f:
        on_disk = int(f.read())
    return {"processes": procs, "increments": reported, "final_value": final, "on_disk": on_disk,
            "lost": reported - final, "seconds": round(elapsed, 3),
            "increments_per_s": round(reported / elapsed, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each single-process run")
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--per-proc", type=int, default=300, help="CAS increments per process")
    parser.add_argument("--json", help="also write the JSON result to this file")
    parser.add_argument("--dir", help="directory to run in (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        result = {
            "python": sys.version.split()[0],
            "baseline": baselines(root, args.seconds),
            "durable": single_process(root, args.seconds, True),
            "no_fsync": single_process(root, args.seconds, False),
            "multi_process_cas": multi_process(root, args.procs, args.per_proc, True),
            "multi_process_cas_no_fsync": multi_process(root, args.procs, args.per_proc, False),
            "reference_existing_impl": {"read": 850, "write": 270, "cas_increments_4_procs": 118},
        }
    rows = [("plain open().read()", result["baseline"]["plain_read"]["ops_per_s"]),
            ("atomic write + 2 fsync (no coherence)", result["baseline"]["atomic_write_fsync"]["ops_per_s"]),
            ("atomic write, no fsync (no coherence)",
             result["baseline"]["atomic_write_no_fsync"]["ops_per_s"])]
    ref = result["reference_existing_impl"]
    for mode in ("durable", "no_fsync"):
        for op in ("read", "read_with_version", "write", "write_cas"):
            rows.append((f"volume.{op} [{mode}]", result[mode][op]["ops_per_s"]))
    for key in ("multi_process_cas", "multi_process_cas_no_fsync"):
        m = result[key]
        rows.append((f"{m['processes']}-process CAS increments/s [{key}] lost={m['lost']}",
                     m["increments_per_s"]))
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  ops/s")
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10.1f}")
    print(f"(existing implementation, as reported in the issue: read {ref['read']}/s, write "
          f"{ref['write']}/s, 4-process CAS {ref['cas_increments_4_procs']}/s)")
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    lost = result["multi_process_cas"]["lost"] + result["multi_process_cas_no_fsync"]["lost"]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
