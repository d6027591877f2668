"""Merge on refusal and conflict packets through the stale-write-guard-fs MCP server, driven by
the `mcp` package's real client over stdio (one server subprocess per agent)."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp")
from test_mcp_server import call, params, run, session

NOTES = "".join(f"- note {i}: context the agents keep in the plan\n" for i in range(30))
PLAN = "# plan\n- step 1: todo\n" + NOTES + "- step 2: todo\n"  # a diff is shorter than it


async def _bob_edits_after_alice_read(a, b, bob_edits: str) -> str:
    """alice creates the plan and reads it (version 1); bob reads it and commits version 2 with
    ``bob_edits`` (a step's ``todo`` replaced by ``bob``). Returns alice's copy of version 1."""
    await call(a, "read", path="plan.md")
    await call(a, "write", path="plan.md", content=PLAN)
    mine = (await call(a, "read", path="plan.md"))["content"]
    theirs = (await call(b, "read", path="plan.md"))["content"]
    await call(b, "write", path="plan.md", content=theirs.replace(f"{bob_edits}: todo", f"{bob_edits}: bob"))
    return mine


def test_write_merge_auto_lands_disjoint_edits(tmp_path):
    async def scenario():
        async with session(params(tmp_path, "alice")) as a, session(params(tmp_path, "bob")) as b:
            mine = await _bob_edits_after_alice_read(a, b, "step 2")
            done = await call(a, "write", path="plan.md",
                              content=mine.replace("step 1: todo", "step 1: alice"), merge="auto")
            assert done["ok"] and done["merged"] is True and done["version"] == 3
            assert (tmp_path / "plan.md").read_text() == PLAN.replace("1: todo", "1: alice").replace(
                "2: todo", "2: bob")
    run(scenario)


def test_refusal_carries_a_conflict_packet(tmp_path):
    async def scenario():
        async with session(params(tmp_path, "alice")) as a, session(params(tmp_path, "bob")) as b:
            mine = await _bob_edits_after_alice_read(a, b, "step 1")

            stale = await call(a, "write", path="plan.md", content=mine.replace("1: todo", "1: alice"))
            assert stale["ok"] is False and stale["code"] == "stale_view"
            packet = stale["conflict_packet"]
            assert "based on v1, the current version is v2 (v2 by bob)" in packet
            assert "-- step 1: todo\n+- step 1: bob" in packet  # what changed since, as a diff
            assert "+- step 1: alice" in packet  # what it tried to write
            assert "write_cas(path='plan.md', expected_version=2" in packet

            clash = await call(a, "write", path="plan.md", content=mine.replace("1: todo", "1: alice"),
                               merge="auto")
            assert clash["ok"] is False and clash["code"] == "merge_conflict"
            assert clash["details"]["regions"] == [{"at": "line 2", "base": "- step 1: todo\n",
                                                    "theirs": "- step 1: bob\n",
                                                    "yours": "- step 1: alice\n"}]
            assert "theirs| - step 1: bob" in clash["conflict_packet"]
            assert (tmp_path / "plan.md").read_text() == PLAN.replace("1: todo", "1: bob")

            bad = await call(a, "write", path="plan.md", content="x", merge="ours")
            assert bad["ok"] is False and bad["code"] == "invalid_value"
    run(scenario)
