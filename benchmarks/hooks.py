"""What `ccs hook claude-code` adds to each Claude Code tool call: the wall time of one hook process
(start, read the payload, open the state, answer), per kind of call, against two baselines measured
in the same run: a hook that does nothing (`true`) and a bare Python start (`python -c pass`).
Calls are interleaved in rounds so that machine load hits every kind alike; medians and p90.

Usage: ``python benchmarks/hooks.py [--rounds 20] [--engine URL] [--json out.json]`` (default
engine: SQLite under a temporary repository, as the hook's default).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def payload(root: Path, sid: str, event: str, tool: str, tid: str) -> str:
    return json.dumps({"session_id": sid, "cwd": str(root), "hook_event_name": event,
                       "tool_name": tool, "tool_use_id": tid,
                       "tool_input": {"file_path": str(root / "plan.md")}})


def timed(argv: list[str], stdin: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {proc.stderr}")
    return took * 1000


def run(rounds: int, engine: str | None) -> dict[str, dict[str, float]]:
    hook = [sys.executable, "-m", "ccs.cli.main", "hook", "claude-code", "--mode", "strict"]
    hook += ["--engine", engine] if engine else []
    took: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "plan.md").write_text("# Plan\n")
        for r in range(rounds):
            calls = {
                "baseline: true": (["true"], ""),
                "baseline: python -c pass": ([sys.executable, "-c", "pass"], ""),
                "PreToolUse Read": (hook, payload(root, "s", "PreToolUse", "Read", f"r{r}")),
                "PostToolUse Read": (hook, payload(root, "s", "PostToolUse", "Read", f"r{r}")),
                "PreToolUse Edit": (hook, payload(root, "s", "PreToolUse", "Edit", f"e{r}")),
                "PostToolUse Edit": (hook, payload(root, "s", "PostToolUse", "Edit", f"e{r}")),
                "PreToolUse Bash (ignored)": (hook, payload(root, "s", "PreToolUse", "Bash", f"b{r}")),
            }
            for name, (argv, stdin) in calls.items():
                if name == "PostToolUse Edit":
                    (root / "plan.md").write_text(f"# Plan\n- edit {r}\n")  # what the tool wrote
                took.setdefault(name, []).append(timed(argv, stdin))
    return {name: {"p50_ms": statistics.median(v), "p90_ms": statistics.quantiles(v, n=10)[-1],
                   "n": len(v)} for name, v in took.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--engine", help="engine URL (default: <repo>/.ccs/state.db)")
    ap.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
    args = ap.parse_args()
    results = run(max(args.rounds, 2), args.engine)
    print(json.dumps(results, indent=2))
    print(f"\n{'hook call':28} {'p50 ms':>8} {'p90 ms':>8}")
    for name, r in results.items():
        print(f"{name:28} {r['p50_ms']:8.0f} {r['p90_ms']:8.0f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
