"""Tables for the billed benchmark (see :mod:`ccs.sim.billed`): billed input tokens per workload and
cache preset, savings against the strongest stateless baseline (a) (the cheaper of (a) with its
cache and (a) with no cache use, per run), against (a) with its cache and against
the chat baseline (b), as mean and spread over seeds, the issue's targets (checked against the
strongest (a)), and where the saving comes from."""

from __future__ import annotations

from typing import Any

# billed input tokens, library against the strongest baseline (a); and against (b) with no cache
TARGETS_A = {"anthropic": {"planning": 0.60, "code_review": 0.40, "high_churn": 0.15},
             "no-cache": {"planning": 0.0, "code_review": 0.0, "high_churn": 0.0}}
TARGETS_B_NO_CACHE = {"planning": 0.70, "code_review": 0.60, "high_churn": 0.45}
FLOOR = -0.05  # never below this against the strongest (a), on any workload and preset


def pct(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "—"
    return f"{x:+.1%}" if signed else f"{x:.1%}"


def spread(s: dict[str, float]) -> str:
    return f"{pct(s['mean'])} ({pct(s['min'])} … {pct(s['max'])})"


def target_a(workload: str, preset: str) -> float:
    return TARGETS_A.get(preset, {}).get(workload, FLOOR)


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, float, float, bool]]:
    """(workload, target name, target, measured mean, met) for every target of the issue."""
    out = []
    for w in result.get("billed", []):
        name = w["workload"]
        for preset, rows in w["presets"].items():
            mean = rows["stateless_ccs"]["vs_strongest_a"]["mean"]
            t = max(target_a(name, preset), FLOOR)
            out.append((name, f"vs strongest (a), {preset}", t, mean, mean >= t))
        nc = w["presets"].get("no-cache")
        if nc and name in TARGETS_B_NO_CACHE:
            mean = nc["stateless_ccs"]["vs_chat_tools"]["mean"]
            out.append((name, "vs (b), no-cache", TARGETS_B_NO_CACHE[name], mean,
                        mean >= TARGETS_B_NO_CACHE[name]))
    return out


def choice(row: dict[str, Any]) -> str:
    """Which form of (a) is the strongest, over the seeds: one name, or the count of each."""
    seen = row["choice"]
    if len(set(seen)) == 1:
        return seen[0]
    return ", ".join(f"{seen.count(c)} {c}" for c in dict.fromkeys(seen))


BILLED_HEAD = ["workload", "preset", "(a) with cache", "(a) no cache", "strongest (a)",
               "(b) chat + tools", "(c) broadcast", "library",
               "library vs strongest (a): mean (min … max)", "target vs strongest (a)",
               "library vs (a) with cache", "library vs (b)", "library billed/read"]


def billed_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for w in result.get("billed", []):
        for preset, r in w["presets"].items():
            lib, best = r["stateless_ccs"], r["strongest_a"]
            t = max(target_a(w["workload"], preset), FLOOR)
            met = "met" if lib["vs_strongest_a"]["mean"] >= t else "**not met**"
            rows.append([w["workload"], preset, f"{r['stateless_full']['billed']['mean']:,.0f}",
                         f"{r['stateless_full_nocache']['billed']['mean']:,.0f}",
                         f"{best['billed']['mean']:,.0f} ({choice(best)})",
                         f"{r['chat_tools']['billed']['mean']:,.0f}",
                         f"{r['broadcast']['billed']['mean']:,.0f}",
                         f"{lib['billed']['mean']:,.0f}", spread(lib["vs_strongest_a"]),
                         f"≥ {pct(t)} ({met})", spread(lib["vs_stateless_full"]),
                         spread(lib["vs_chat_tools"]), f"{lib['per_read']:,.0f}"])
    return rows


def worst_seed(result: dict[str, Any]) -> tuple[str, str, int, float] | None:
    """(workload, preset, seed, saving) of the single seed where the library does worst against
    the strongest (a)."""
    worst = None
    for w in result.get("billed", []):
        for preset, r in w["presets"].items():
            for seed, x in zip(w["seeds"], r["stateless_ccs"]["vs_strongest_a"]["by_seed"], strict=True):
                if worst is None or x < worst[3]:
                    worst = (w["workload"], preset, seed, x)
    return worst


SOURCE_HEAD = ["workload", "preset", "rendering (plain store + renderer vs strongest (a))",
               "coherence (CCSStore vs plain store, same renderer)",
               "prompts sent stateless / plain (seed 1)",
               "re-pins (seed 1)"]


def source_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for w in result.get("billed", []):
        for preset, r in w["presets"].items():
            lib, plain, base = r["stateless_ccs"], r["stateless_plain"], r["strongest_a"]
            rendering = 1 - plain["billed"]["mean"] / base["billed"]["mean"]
            coherence = (plain["billed"]["mean"] - lib["billed"]["mean"]) / base["billed"]["mean"]
            rows.append([w["workload"], preset, pct(rendering), pct(coherence),
                         f"{lib.get('stateless', 0)} / {lib.get('plain', 0)}", str(lib.get("pins", 0))])
    return rows


VOL_HEAD = ["V", "preset", "(a) with cache", "(a) no cache", "strongest (a)", "library billed",
            "library vs strongest (a)", "library vs (a) with cache"]


def volatility_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in result.get("billed_sweep", []):
        for preset, r in s["presets"].items():
            best, lib = r["strongest_a"], r["stateless_ccs"]
            rows.append([f"{s['volatility']:.2f}", preset, f"{r['stateless_full']['billed']['mean']:,.0f}",
                         f"{r['stateless_full_nocache']['billed']['mean']:,.0f}",
                         f"{best['billed']['mean']:,.0f} ({choice(best)})", f"{lib['billed']['mean']:,.0f}",
                         pct(lib["vs_strongest_a"]["mean"]), pct(lib["vs_stateless_full"]["mean"])])
    return rows
