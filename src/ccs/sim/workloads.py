"""Three real LangGraph graphs, run offline, with tokens counted on the prompts a model received.

Each workload is a ``StateGraph`` whose nodes are agents taking turns for a number of rounds. A
node reads artifacts from the graph's store, sends one prompt to its chat model (a
:class:`RecordingChatModel`, one per agent), and may write one artifact back. Every agent keeps
its conversation (history + the new turn) in every variant, so the variants differ only in what a
turn carries for each read:

* ``baseline``: ``InMemoryStore``; each read injects the full artifact (what graphs do today);
* ``baseline_stateless``: the same, but each call is sent without history (system + turn);
* ``coherent``: ``CCSStore`` (reads served from the node's coherent cache, writes checked) and
  the context renderer: a reference for an unchanged re-read, a diff for a changed one when it
  is cheaper, a signal for a held artifact that changed and is not read in this turn;
* ``coherent_nodiff``: the same with diff rendering off.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.store.memory import InMemoryStore

from ccs.sim.content import edit, initial_text
from ccs.sim.recording import RecordingChatModel, prompt_tokens
from ccs.tokens.agent import ContextAgent
from ccs.tokens.counter import TokenCounter, default_counter
from ccs.tokens.render import ContextRenderer

NS = ("project",)
VARIANTS = ("baseline", "baseline_stateless", "coherent", "coherent_nodiff")


@dataclass(frozen=True)
class Turn:
    agent: str
    reads: tuple[str, ...]
    write: str | None = None  # an artifact among ``reads``


@dataclass(frozen=True)
class Workload:
    name: str
    artifacts: dict[str, int]  # id -> size in tokens
    rounds: tuple[tuple[Turn, ...], ...]
    edit_lines: int = 2
    seed: int = 5

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.agent for r in self.rounds for t in r))

    def ratio(self) -> tuple[int, int]:
        reads = sum(len(t.reads) for t in self.rounds[0])
        writes = sum(1 for t in self.rounds[0] if t.write)
        return reads, writes


def planning(rounds: int = 8) -> Workload:
    """4 agents, 12 reads : 1 write per round (the writer rotates)."""
    agents = ("planner", "researcher", "architect", "critic")
    arts = {"plan.md": 1500, "requirements.md": 1000, "architecture.md": 1200, "risks.md": 600}
    reads = {"planner": ("plan.md", "requirements.md", "risks.md"),
             "researcher": ("requirements.md", "plan.md", "architecture.md"),
             "architect": ("architecture.md", "requirements.md", "plan.md"),
             "critic": ("risks.md", "plan.md", "architecture.md")}
    out = []
    for r in range(rounds):
        writer = agents[r % 4]
        out.append(tuple(Turn(a, reads[a], reads[a][0] if a == writer else None) for a in agents))
    return Workload("planning", arts, tuple(out))


def code_review(rounds: int = 8) -> Workload:
    """3 agents, 8 reads : 3 writes per round."""
    arts = {"code.py": 1500, "review.md": 700, "tests.md": 900, "spec.md": 1000}
    turn = (Turn("author", ("code.py", "review.md"), "code.py"),
            Turn("reviewer", ("review.md", "code.py", "spec.md"), "review.md"),
            Turn("tester", ("tests.md", "code.py", "spec.md"), "tests.md"))
    return Workload("code_review", arts, (turn,) * rounds)


def high_churn(rounds: int = 8) -> Workload:
    """4 agents, 8 reads : 4 writes per round; every artifact changes every round."""
    arts = {"a.md": 700, "b.md": 700, "c.md": 700, "d.md": 700}
    names = list(arts)
    turn = tuple(Turn(f"agent{i + 1}", (names[i], names[(i + 1) % 4]), names[i]) for i in range(4))
    return Workload("high_churn", arts, (turn,) * rounds, edit_lines=3)


WORKLOADS = {"planning": planning, "code_review": code_review, "high_churn": high_churn}


class _State(TypedDict):
    round: int


class _Session:
    """One variant's run: the store, a model and a conversation per agent, the renderers."""

    def __init__(self, wl: Workload, variant: str, counter: TokenCounter) -> None:
        self.wl, self.variant, self.counter = wl, variant, counter
        self.coherent = variant.startswith("coherent")
        self.models = {a: RecordingChatModel(responses=["ok"]) for a in wl.agents}
        self.history: dict[str, list[BaseMessage]] = {
            a: [SystemMessage(f"You are the {a} of a small team sharing project files. "
                              "Files you were shown earlier in this conversation stay valid "
                              "unless a later message says they changed.")] for a in wl.agents}
        self.ids: dict[str, str] = {}
        self.contexts: dict[str, ContextAgent] = {}
        self.full = ContextRenderer(counter)
        self.conflicts = 0
        if self.coherent:
            from ccs.adapters.langgraph import CCSStore
            from ccs.adapters.langgraph.ids import IdCodec

            self.store: Any = CCSStore(strategy="lazy")
            codec = IdCodec("lg")
            self.ids = {name: codec.encode(NS, name) for name in wl.artifacts}
            diffs = variant != "coherent_nodiff"
            self.contexts = {a: ContextAgent(self.store.core.agent(a), counter=counter, diffs=diffs)
                             for a in wl.agents}
        else:
            self.store = InMemoryStore()
        rng = random.Random(f"{wl.seed}:{wl.name}")
        for name, size in wl.artifacts.items():
            self.store.put(NS, name, {"text": initial_text(name, size, rng, counter.count), "rev": 1})

    def _render(self, agent: str, name: str) -> tuple[str, str]:
        item = self.store.get(NS, name)
        text, rev = item.value["text"], item.value["rev"]
        if not self.coherent:
            return self.full.content(name, text, f"v{rev}").text, text
        aid = self.ids[name]
        version = self.store.core.agent(agent).cached_version(aid)
        return self.contexts[agent].render(aid, text, version, name=name).text, text

    def node(self, turn: Turn, round_no: int) -> None:
        parts = [f"Round {round_no + 1}. Your turn, {turn.agent}."]
        ctx = self.contexts.get(turn.agent)
        if ctx is not None:
            parts += [s.text for s in ctx.signals(exclude={self.ids[n] for n in turn.reads})]
        texts = {}
        for name in turn.reads:
            rendered, texts[name] = self._render(turn.agent, name)
            parts.append(rendered)
        reply = f"Read {', '.join(turn.reads)}; nothing to change this round."
        new_text = None
        if turn.write:
            rng = random.Random(f"{self.wl.seed}:{round_no}:{turn.agent}")
            new_text = edit(texts[turn.write], rng, self.wl.edit_lines, f"{turn.agent}@{round_no + 1}")
            changed = [ln for ln in new_text.split("\n") if ln not in set(texts[turn.write].split("\n"))]
            reply = f"Updated {turn.write}; replaced lines now read:\n" + "\n".join(changed)
        prompt = HumanMessage("\n\n".join(parts))
        model = self.models[turn.agent]
        model.reply_next = reply
        history = self.history[turn.agent]
        sent = [history[0], prompt] if self.variant == "baseline_stateless" else [*history, prompt]
        answer = model.invoke(sent)
        history += [prompt, AIMessage(answer.content)]
        if turn.write and new_text is not None:
            self._write(turn, new_text)

    def _write(self, turn: Turn, new_text: str) -> None:
        rev = self.store.get(NS, turn.write).value["rev"] + 1
        value = {"text": new_text, "rev": rev}
        self.store.put(NS, turn.write, value)  # CCSStore: checked against the version this node read
        if self.coherent:
            aid = self.ids[turn.write]
            version = self.store.core.agent(turn.agent).cached_version(aid)
            self.contexts[turn.agent].wrote(aid, new_text, version, name=turn.write)

    def graph(self):
        builder = StateGraph(_State)
        agents = self.wl.agents
        for agent in agents:
            builder.add_node(agent, self._make_node(agent))
        builder.add_edge(START, agents[0])
        for a, b in itertools.pairwise(agents):
            builder.add_edge(a, b)
        builder.add_conditional_edges(agents[-1], self._next_round, {"again": agents[0], "done": END})
        return builder.compile(store=self.store)

    def _make_node(self, agent: str):
        def node(state: _State) -> dict[str, int]:
            r = state["round"]
            for turn in self.wl.rounds[r]:
                if turn.agent == agent:
                    self.node(turn, r)
            return {"round": r + 1} if agent == self.wl.agents[-1] else {}
        node.__name__ = agent
        return node

    def _next_round(self, state: _State) -> str:
        return "again" if state["round"] < len(self.wl.rounds) else "done"


def run_workload(wl: Workload, counter: TokenCounter | None = None) -> dict[str, Any]:
    """Run every variant of ``wl``; returns recorded-prompt token counts and savings."""
    counter = counter or default_counter()
    out: dict[str, Any] = {"workload": wl.name, "agents": len(wl.agents), "rounds": len(wl.rounds),
                           "reads_writes": "{}:{}".format(*wl.ratio()), "tokenizer": counter.name,
                           "variants": {}}
    for variant in VARIANTS:
        s = _Session(wl, variant, counter)
        s.graph().invoke({"round": 0}, {"recursion_limit": 10 * len(wl.rounds) * len(wl.agents) + 10})
        per_agent = {a: prompt_tokens(m.prompts, counter) for a, m in s.models.items()}
        v = {k: sum(p[k] for p in per_agent.values()) for k in ("calls", "total", "new")}
        if s.coherent:
            ledger: dict[str, int] = {}
            for ctx in s.contexts.values():
                for kind, d in ctx.renderer.ledger().items():
                    ledger[kind] = ledger.get(kind, 0) + d["tokens"]
            v["renderings"] = ledger
            stats = [s.store.core.agent(a).stats for a in wl.agents]
            v["cache_hits"] = sum(x.hits for x in stats)
            v["conflicts"] = sum(x.conflicts for x in stats)
            s.store.close()
        out["variants"][variant] = v
    base = out["variants"]["baseline"]
    for variant in ("coherent", "coherent_nodiff"):
        v = out["variants"][variant]
        v["savings_new"] = round(1 - v["new"] / base["new"], 4)
        v["savings_total"] = round(1 - v["total"] / base["total"], 4)
        stateless = out["variants"]["baseline_stateless"]["total"]
        v["savings_total_vs_stateless"] = round(1 - v["total"] / stateless, 4)
    return out
