"""``ccs simulate SCENARIO.yaml``: one scenario, every strategy, a table (and JSON on request)."""

from __future__ import annotations

import json
from pathlib import Path

from ccs.sim import ScenarioError, builtin_scenarios, load_scenario, simulate

COLUMNS = ("strategy", "tokens", "content", "reference", "diff", "signal", "vs fetch", "vs rebroadcast",
           "over optimum", "stale", "max lag", "conflicts", "lost updates")


def run(path: str, strategies: list[str] | None = None, json_out: str | None = None,
        json_stdout: bool = False) -> int:
    known = builtin_scenarios()
    if path not in known and not Path(path).is_file():
        raise ScenarioError(f"no scenario file {path!r}; built-in scenarios: {', '.join(sorted(known))}")
    try:
        sc = load_scenario(known[path] if path in known and not Path(path).exists() else path)
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path!r}: {exc}") from exc
    result = simulate(sc, tuple(strategies) if strategies else None)
    ok = 0 if all(r["lost_updates"] == 0 for r in result["runs"].values()) else 1
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if json_stdout:
        print(json.dumps(result, indent=1))
        return ok
    rows = [COLUMNS]
    for name, r in result["runs"].items():
        t = r["tokens"]
        over = "—" if r["over_optimum"] is None else f"{r['over_optimum']:+.1%}"
        rows.append((name, f"{r['total_tokens']:,}", f"{t['content']:,}", f"{t['reference']:,}",
                     f"{t['diff']:,}", f"{t['signal']:,}", f"{r['savings_vs_fetch']:.1%}",
                     f"{r['savings_vs_rebroadcast']:.1%}", over, f"{r['stale_reads']}/{r['reads']}",
                     str(r["max_staleness"]), str(r["conflicts"]), str(r["lost_updates"])))
    lazy = next(iter(result["runs"].values()))["baselines"]
    print(f"{result['scenario']}: seed {result['seed']}, {result['ticks']} ticks, "
          f"{result['agents']} agents, V={result['volatility']}, tokenizer {result['tokenizer']}, "
          f"signal {result['signal']['tokens']} tokens")
    print(f"baselines (first strategy's run): rebroadcast {lazy['rebroadcast']:,}, fetch every read "
          f"{lazy['fetch_every_read']:,}, offline optimum {lazy['offline_optimum']:,}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return ok
