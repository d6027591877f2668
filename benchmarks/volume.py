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
from ccs.adapters.coherent_volume.confined import write_atomic

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


def interleaved(fns: dict, seconds: float, slices: int = 8) -> dict:
    """Run each function in turns of ``seconds / slices``, so that every measurement sees the
    same disk conditions (a shared disk's latency drifts by 10x within minutes)."""
    totals = {name: [0, 0.0] for name in fns}
    offset = {name: 0 for name in fns}
    for _ in range(slices):
        for name, fn in fns.items():
            base = offset[name]
            r = timed(lambda i, fn=fn, base=base: fn(base + i), seconds / slices)
            offset[name] += r["ops"]
            totals[name][0] += r["ops"]
            totals[name][1] += r["seconds"]
    return {name: {"ops": n, "seconds": round(t, 3), "ops_per_s": round(n / t, 1)}
            for name, (n, t) in totals.items()}


def single_process(root: str, seconds: float) -> dict:
    raw = os.path.join(root, "raw.md")
    data = CONTENT.encode()
    write_atomic(raw, data)

    def plain_read(i):
        with open(raw, "rb") as f:
            f.read()

    durable = CoherentVolume(root, managed=("**",), agent="bench-durable")
    fast = CoherentVolume(root, managed=("**",), agent="bench-no-fsync", durable=False)
    try:
        for vol, name in ((durable, "d"), (fast, "f")):
            vol.write(f"{name}.md", CONTENT)
            vol.write(f"{name}-counter.txt", "0")
        reads = interleaved({
            "baseline: plain open().read()": plain_read,
            "volume.read": lambda i: durable.read("d.md"),
            "volume.read_with_version": lambda i: durable.read_with_version("d.md"),
        }, seconds)
        inc = lambda s: str(int(s) + 1)  # noqa: E731
        writes = interleaved({
            "baseline: atomic write + 2 fsync": lambda i: write_atomic(raw, data + str(i).encode()),
            "volume.write": lambda i: durable.write("d.md", CONTENT + str(i)),
            "volume.write_cas": lambda i: durable.write_cas("d-counter.txt", inc),
            "baseline: atomic write, no fsync": lambda i: write_atomic(raw, data + str(i).encode(),
                                                                       durable=False),
            "volume.write [durable=False]": lambda i: fast.write("f.md", CONTENT + str(i)),
            "volume.write_cas [durable=False]": lambda i: fast.write_cas("f-counter.txt", inc),
        }, seconds * 3)
    finally:
        durable.close()
        fast.close()
    return {**reads, **writes}


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
            "single_process": single_process(root, args.seconds),
            "multi_process_cas": multi_process(root, args.procs, args.per_proc, True),
            "multi_process_cas_no_fsync": multi_process(root, args.procs, args.per_proc, False),
            "reference_existing_impl": {"read": 850, "write": 270, "cas_increments_4_procs": 118},
        }
    rows = [(name, r["ops_per_s"]) for name, r in result["single_process"].items()]
    for key in ("multi_process_cas", "multi_process_cas_no_fsync"):
        m = result[key]
        rows.append((f"{m['processes']}-process CAS increments [{key}] lost={m['lost']}",
                     m["increments_per_s"]))
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  ops/s")
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10.1f}")
    ref = result["reference_existing_impl"]
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
