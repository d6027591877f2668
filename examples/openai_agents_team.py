"""Three OpenAI Agents SDK agents edit one shared plan at the same time, offline.

Each agent is a real ``agents.Agent`` run by ``Runner.run`` (concurrently) with a scripted model
instead of an LLM (no API key): it reads ``plan.md``, thinks while the others read it too, and
writes the plan back with its own step added. Over plain tools two of the three steps would be
lost; here the stale writes are refused, the agents re-read and re-derive, and every step lands.

    python examples/openai_agents_team.py [sqlite:///state.db]
"""

from __future__ import annotations

import asyncio
import sys

from agents import Agent, Runner, set_tracing_disabled

from ccs.adapters.openai_agents import SharedArtifacts
from ccs.adapters.openai_agents.testing import ScriptedModel, call, say

TEAM = {"planner": "1. scope the work", "researcher": "2. read the prior art",
        "reviewer": "3. review the design"}


def scripted_agent(name: str, step: str, everyone_read: asyncio.Barrier) -> ScriptedModel:
    thought = False

    async def policy(turn):
        nonlocal thought
        last = turn.last()  # the previous tool result, as JSON
        if last is None or last.get("ok") is False:  # start, or refused: (re-)read
            return call("read_artifact", artifact_id="plan.md")
        if "exists" in last:  # read: derive the new plan from what was read
            if not thought:
                thought = True
                await everyone_read.wait()  # "thinking" while the others read the same version
            return call("write_artifact", artifact_id="plan.md", content=last["value"] + step + "\n")
        return say(f"added {step!r} (v{last['version']})")

    return ScriptedModel(policy)


async def main(engine: str) -> int:
    set_tracing_disabled(True)
    with SharedArtifacts(engine=engine) as shared:
        shared.core.agent("setup").write("plan.md", "# plan\n", blind=True)
        barrier = asyncio.Barrier(len(TEAM))
        agents = [Agent(name=name, instructions="Add your step to plan.md.",
                        model=scripted_agent(name, step, barrier), tools=shared.tools())
                  for name, step in TEAM.items()]
        results = await asyncio.gather(*(Runner.run(a, "add your step", hooks=shared.hooks())
                                         for a in agents))
        for e in shared.events:
            if e["op"] == "write" and e["outcome"] == "refused":
                print(f"refused   {e['agent']:<10} write_artifact({e['artifact']}): {e['code']}, "
                      f"now v{e['current_version']} -> it re-reads and re-derives")
            elif e["op"] == "write":
                print(f"landed    {e['agent']:<10} write_artifact({e['artifact']}) -> v{e['version']}")
        for r in results:
            print(f"final     {r.last_agent.name:<10} {r.final_output}")
        plan = shared.read("check", "plan.md")
        print(f"\nplan.md v{plan['version']}:\n{plan['value']}")
        missing = [s for s in TEAM.values() if s not in plan["value"]]
        print("nothing lost" if not missing else f"LOST: {missing}")
        return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "memory://")))
