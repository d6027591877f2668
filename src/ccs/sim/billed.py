"""Billed input tokens of whole agent fleets: the library's stateless mode against honest baselines.

A seeded *script* fixes everything a model would have done: who reads what each turn, every edit
(text, kind), and every reply (200-500 tokens of prose). Each variant replays the same script in
the same process, on its own store, and records the exact prompts it would send; every prompt is
then billed under each cache preset (:mod:`ccs.tokens.billing`):

* ``stateless_full`` (a): a stateless agent (e.g. a LangGraph node) that re-reads the full
  artifacts every turn: role, artifacts, turn; a cache breakpoint after the artifacts;
* ``stateless_full_nocache``: the same prompts with no cache use, under the same preset's pricing.
  Where the artifacts change every round a breakpoint's writes (1.25x on Anthropic) cost more than
  its reads return, and a user would drop it; the headline baseline, ``strongest_a``, is the cheaper
  of the two over each whole run (one configuration per run, as a user would choose it, not per
  turn with hindsight);
* ``chat_tools`` (b): a chat agent whose history grows; it reads artifacts through tool calls
  (one call to ask, one after the results) and writes through an edit tool carrying the new
  section (or the file); the cache breakpoint moves to the end of each prompt;
* ``broadcast`` (c, the upper strawman): the seed's accounting, every artifact to every agent
  every turn, in a growing chat;
* ``stateless_ccs``: the library: ``CCSStore`` and ``store.render_context`` (pin + diffs);
* ``stateless_plain``: the same renderer over LangGraph's plain ``InMemoryStore``, so what
  coherence adds on top of rendering is visible.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, replace
from typing import Any

from langgraph.store.memory import InMemoryStore

from ccs.sim.texts import EDIT_MIX, document, edit, paragraph, prose
from ccs.sim.workloads import Turn
from ccs.tokens.billing import PRESETS, CachePreset, Prompt, PromptCache, preset
from ccs.tokens.counter import TokenCounter, default_counter
from ccs.tokens.stateless import ARTIFACT, render_for_store

NS = ("project",)
VARIANTS = ("stateless_full", "stateless_full_nocache", "chat_tools", "broadcast", "stateless_ccs",
            "stateless_plain")
BASELINES = ("strongest_a", "stateless_full", "chat_tools")  # savings are reported against these
LABELS = {"stateless_full": "(a) stateless, full artifacts every turn, with cache",
          "stateless_full_nocache": "(a) the same prompts, no cache use",
          "chat_tools": "(b) chat agent, tool-call reads, history grows",
          "broadcast": "(c) broadcast every artifact every turn (upper strawman)",
          "stateless_ccs": "library: CCSStore + stateless render_context",
          "stateless_plain": "same renderer over a plain InMemoryStore"}
TURN_SECONDS = 30.0  # simulated time between two agents' turns (cache lifetimes run on it)


@dataclass(frozen=True)
class BilledWorkload:
    name: str
    artifacts: dict[str, tuple[str, int]]  # id -> (kind, tokens)
    rounds: tuple[tuple[Turn, ...], ...]

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.agent for r in self.rounds for t in r))

    def ratio(self) -> str:
        reads = sum(len(t.reads) for t in self.rounds[0])
        return f"{reads}:{sum(1 for t in self.rounds[0] if t.write)}"


def planning(rounds: int = 24) -> BilledWorkload:
    """4 agents, 12 reads : 1 write per round (the writer rotates)."""
    agents = ("planner", "researcher", "architect", "critic")
    arts = {"plan.md": ("plan", 6000), "requirements.md": ("spec", 4000),
            "architecture.md": ("plan", 5000), "risks.md": ("plan", 2500)}
    reads = {"planner": ("plan.md", "requirements.md", "risks.md"),
             "researcher": ("requirements.md", "plan.md", "architecture.md"),
             "architect": ("architecture.md", "requirements.md", "plan.md"),
             "critic": ("risks.md", "plan.md", "architecture.md")}
    out = tuple(tuple(Turn(a, reads[a], reads[a][0] if a == agents[r % 4] else None) for a in agents)
                for r in range(rounds))
    return BilledWorkload("planning", arts, out)


def code_review(rounds: int = 24) -> BilledWorkload:
    """3 agents, 8 reads : 3 writes per round."""
    arts = {"code.py": ("python", 6000), "review.md": ("plan", 2500), "tests.py": ("python", 4000),
            "spec.md": ("spec", 5000)}
    turn = (Turn("author", ("code.py", "review.md"), "code.py"),
            Turn("reviewer", ("review.md", "code.py", "spec.md"), "review.md"),
            Turn("tester", ("tests.py", "code.py", "spec.md"), "tests.py"))
    return BilledWorkload("code_review", arts, (turn,) * rounds)


def high_churn(rounds: int = 24) -> BilledWorkload:
    """4 agents, 8 reads : 4 writes per round; every artifact changes every round."""
    arts = {"a.md": ("plan", 3000), "b.md": ("spec", 3000), "c.md": ("plan", 3000), "d.py": ("python", 3000)}
    names = list(arts)
    turn = tuple(Turn(f"agent{i + 1}", (names[i], names[(i + 1) % 4]), names[i]) for i in range(4))
    return BilledWorkload("high_churn", arts, (turn,) * rounds)


def volatility(v: float, rounds: int = 16) -> BilledWorkload:
    """4 agents reading 3 of 4 artifacts each turn; a turn writes with probability ``v``."""
    base = planning(rounds)
    rng = random.Random(f"volatility:{v}")
    out = tuple(tuple(Turn(t.agent, t.reads, t.reads[0] if rng.random() < v else None) for t in r)
                for r in base.rounds)
    return BilledWorkload(f"volatility-{v:g}", base.artifacts, out)


WORKLOADS = {"planning": planning, "code_review": code_review, "high_churn": high_churn}


@dataclass(frozen=True)
class Step:
    round: int
    agent: str
    reads: tuple[str, ...]
    write: str | None
    new_text: str | None
    edit_kind: str | None
    changed: str | None
    reply: str
    turn: str
    time: float


def script(wl: BilledWorkload, seed: int, counter: TokenCounter) -> tuple[dict[str, str], list[Step]]:
    """The initial texts and every step of a run (what the model said and wrote), from the seed."""
    rng = random.Random(f"{seed}:{wl.name}")
    texts = {a: document(a, kind, size, rng, counter.count) for a, (kind, size) in wl.artifacts.items()}
    initial, steps, now = dict(texts), [], 0.0
    for r, turns in enumerate(wl.rounds):
        for t in turns:
            srng = random.Random(f"{seed}:{wl.name}:{r}:{t.agent}")
            new = kind = changed = None
            if t.write:
                kind_of, target = wl.artifacts[t.write]
                new, kind, changed = edit(texts[t.write], t.write, kind_of, target, srng, counter.count)
                texts[t.write] = new
            reply = prose(srng, srng.randint(200, 500), counter.count)
            turn = f"Round {r + 1}. {t.agent}, your task: {paragraph(srng)}"
            steps.append(Step(r, t.agent, t.reads, t.write, new, kind, changed, reply, turn, now))
            now += TURN_SECONDS
    return initial, steps


def role(agent: str, wl: BilledWorkload) -> str:
    return (f"You are the {agent} of a team of {len(wl.agents)} agents sharing project files "
            f"({', '.join(wl.artifacts)}). Work only from the file contents in this prompt; when you "
            "change a file, say which section changed and why. Keep replies short and concrete.")


Call = tuple[str, list[str], set[int], float]  # agent, block texts, breakpoint indexes, time


class Files:
    """The shared files as a baseline without the library sees them: current text and version."""

    def __init__(self, initial: dict[str, str]) -> None:
        self.texts, self.versions = dict(initial), dict.fromkeys(initial, 1)

    def full(self, name: str) -> str:
        return ARTIFACT.format(id=name, label=f"v{self.versions[name]}", text=self.texts[name])

    def commit(self, s: Step) -> bool:
        if s.write and s.new_text is not None:
            self.texts[s.write], self.versions[s.write] = s.new_text, self.versions[s.write] + 1
            return True
        return False


def stateless_full(wl: BilledWorkload, initial: dict[str, str], steps: list[Step]) -> list[Call]:
    files, calls = Files(initial), []
    for s in steps:
        body = "\n\n".join(files.full(a) for a in s.reads)
        calls.append((s.agent, [role(s.agent, wl), body, s.turn], {1}, s.time))
        files.commit(s)
    return calls


def chat_tools(wl: BilledWorkload, initial: dict[str, str], steps: list[Step]) -> list[Call]:
    files, calls = Files(initial), []
    history = {a: [role(a, wl)] for a in wl.agents}
    for s in steps:
        h = history[s.agent]
        h.append(s.turn)
        calls.append((s.agent, list(h), {len(h) - 1}, s.time))
        h.append("\n".join(f'read_artifact("{a}")' for a in s.reads))
        h += [files.full(a) for a in s.reads]
        calls.append((s.agent, list(h), {len(h) - 1}, s.time + 5))
        h.append(s.reply)
        if files.commit(s):
            h.append(f'edit_artifact("{s.write}", {s.edit_kind!r}):\n{s.changed}')
            h.append(f"ok: {s.write} is now v{files.versions[s.write]}")
    return calls


def broadcast(wl: BilledWorkload, initial: dict[str, str], steps: list[Step]) -> list[Call]:
    files, calls = Files(initial), []
    history = {a: [role(a, wl)] for a in wl.agents}
    for s in steps:
        h = history[s.agent]
        h.append(s.turn + "\n\n" + "\n\n".join(files.full(a) for a in files.texts))
        calls.append((s.agent, list(h), {len(h) - 1}, s.time))
        h.append(s.reply)
        files.commit(s)
    return calls


def stateless_rendered(wl: BilledWorkload, initial: dict[str, str], steps: list[Step], cache: str,
                       counter: TokenCounter, *, coherent: bool) -> tuple[list[Call], dict[str, int]]:
    """The library's stateless prompts, on ``CCSStore`` (coherent) or ``InMemoryStore``."""
    if coherent:
        from ccs.adapters.langgraph import CCSStore

        store: Any = CCSStore(strategy="lazy")
    else:
        store = InMemoryStore()
    for a, text in initial.items():
        store.put(NS, a, {"text": text})
    calls, stats = [], {"pins": 0, "plain": 0, "stateless": 0}
    for s in steps:
        handle = store.for_agent(s.agent) if coherent else store
        ctx = handle.render_context(NS, s.reads, field="text", role=role(s.agent, wl), turn=s.turn,
                                    preset=cache, shared=list(wl.artifacts), now=s.time) if coherent \
            else render_for_store(store, NS, s.reads, field="text", role=role(s.agent, wl), turn=s.turn,
                                  agent=s.agent,
                                  preset=cache, shared=list(wl.artifacts), now=s.time, counter=counter)
        blocks = [b for b in ctx.blocks if b.text]
        calls.append((s.agent, [b.text for b in blocks], {i for i, b in enumerate(blocks) if b.breakpoint},
                      s.time))
        stats[ctx.mode] += 1
        stats["pins"] += ctx.repinned
        if s.write:
            handle.put(NS, s.write, {"text": s.new_text})
    if coherent:
        store.close()
    return calls, stats


def without_cache(cache: str) -> CachePreset:
    """``cache``'s pricing with no cache use: every token at the preset's uncached price."""
    return replace(preset(cache), name=f"{cache}, no cache use", mode="none")


def strongest_a(res: dict[str, Any]) -> dict[str, Any]:
    """The cheaper form of baseline (a) over one whole run: with its cache or without."""
    cached, plain = res["stateless_full"]["billed"], res["stateless_full_nocache"]["billed"]
    choice = "equal" if cached == plain else "cached" if cached < plain else "no cache"
    return {"billed": min(cached, plain), "choice": choice}


def bill(calls: list[Call], cache: str | CachePreset, counter: TokenCounter,
         rounds: list[int]) -> dict[str, Any]:
    pc = PromptCache(cache)
    per_round = [0.0] * (max(rounds) + 1 if rounds else 0)
    order = sorted(range(len(calls)), key=lambda i: calls[i][3])
    for i in order:
        agent, blocks, marks, now = calls[i]
        b = pc.bill(agent, Prompt.of([counter.encode(t) for t in blocks], marks), now)
        per_round[rounds[i]] += b.billed
    t = pc.total()
    return {"billed": round(t.billed, 1), "tokens": t.tokens, "read": t.read, "written": t.written,
            "uncached": t.uncached, "calls": t.calls, "per_round": [round(x, 1) for x in per_round]}


def run_seed(wl: BilledWorkload, seed: int, counter: TokenCounter,
             presets: tuple[str, ...] = tuple(PRESETS)) -> dict[str, Any]:
    initial, steps = script(wl, seed, counter)
    step_round = [s.round for s in steps]
    fixed = {"stateless_full": stateless_full(wl, initial, steps),
             "chat_tools": chat_tools(wl, initial, steps),
             "broadcast": broadcast(wl, initial, steps)}
    rounds_of = {"stateless_full": step_round, "broadcast": step_round,
                 "chat_tools": [r for r in step_round for _ in (0, 1)]}
    out: dict[str, Any] = {"seed": seed, "edits": {}, "reads": sum(len(s.reads) for s in steps),
                           "presets": {}}
    for s in steps:
        if s.edit_kind:
            out["edits"][s.edit_kind] = out["edits"].get(s.edit_kind, 0) + 1
    for cache in presets:
        res = {v: bill(c, cache, counter, rounds_of[v]) for v, c in fixed.items()}
        res["stateless_full_nocache"] = bill(fixed["stateless_full"], without_cache(cache), counter,
                                             step_round)
        res["strongest_a"] = strongest_a(res)
        for v, coherent in (("stateless_ccs", True), ("stateless_plain", False)):
            calls, stats = stateless_rendered(wl, initial, steps, cache, counter, coherent=coherent)
            res[v] = {**bill(calls, cache, counter, step_round), **stats}
        out["presets"][cache] = res
    return out


def summarize(xs: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(xs), 4), "min": round(min(xs), 4), "max": round(max(xs), 4),
            "sd": round(statistics.pstdev(xs), 4)}


def run_billed(wl: BilledWorkload, seeds: tuple[int, ...] = (1, 2, 3), counter: TokenCounter | None = None,
               presets: tuple[str, ...] = tuple(PRESETS)) -> dict[str, Any]:
    """Every variant of ``wl`` for each seed and preset: billed tokens, savings against the
    strongest (a), (a) with its cache and (b) as mean and spread over seeds (``by_seed`` for
    the strongest (a)), and overhead per read."""
    counter = counter or default_counter()
    runs = [run_seed(wl, s, counter, presets) for s in seeds]
    out: dict[str, Any] = {"workload": wl.name, "agents": len(wl.agents), "rounds": len(wl.rounds),
                           "reads_writes": wl.ratio(), "seeds": list(seeds), "tokenizer": counter.name,
                           "artifacts": {a: list(k) for a, k in wl.artifacts.items()},
                           "edit_mix": dict(EDIT_MIX), "edits": runs[0]["edits"], "presets": {}}
    for cache in presets:
        rows: dict[str, Any] = {"strongest_a": {
            "billed": summarize([r["presets"][cache]["strongest_a"]["billed"] for r in runs]),
            "choice": [r["presets"][cache]["strongest_a"]["choice"] for r in runs]}}
        for v in VARIANTS:
            billed = [r["presets"][cache][v]["billed"] for r in runs]
            row = {"billed": summarize(billed),
                   "per_read": round(statistics.fmean(b / r["reads"] for b, r in zip(billed, runs,
                                                                                    strict=True)), 1)}
            for base in BASELINES:
                saved = [1 - r["presets"][cache][v]["billed"] / r["presets"][cache][base]["billed"]
                         for r in runs]
                row[f"vs_{base}"] = summarize(saved)
                if base == "strongest_a":
                    row["vs_strongest_a"]["by_seed"] = [round(x, 4) for x in saved]
            for k in ("pins", "plain", "stateless"):
                if k in runs[0]["presets"][cache][v]:
                    row[k] = runs[0]["presets"][cache][v][k]
            row["per_round"] = runs[0]["presets"][cache][v]["per_round"]
            rows[v] = row
        out["presets"][cache] = rows
    return out
