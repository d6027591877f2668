"""`ccs demo`: two agents, one artifact, the lost update refused in plain words."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ccs import CoherenceAdapterCore, StaleView
from ccs.backends import redact_url


def describe_engine(url: str, temporary: bool) -> str:
    """What the engine is, in a few words (never "no server needed" for a server)."""
    scheme = url.split("://", 1)[0].lower()
    if temporary:
        return "embedded SQLite in a temporary directory, removed afterwards; no server needed"
    if scheme == "sqlite":
        return "embedded SQLite file; no server needed; kept, so a second run continues from it"
    if scheme == "memory":
        return "in this process only"
    return "a server; every process using this URL shares these artifacts"


def run(engine: str | None = None, out=print) -> int:
    with tempfile.TemporaryDirectory(prefix="ccs-demo-") as tmp:
        url = engine or f"sqlite:///{Path(tmp) / 'state.db'}"
        out(f"Engine: {redact_url(url)}  ({describe_engine(url, engine is None)})\n")
        core = CoherenceAdapterCore(engine=url, strategy="lazy")
        planner, reviewer = core.agent("planner"), core.agent("reviewer")

        # On a kept store a previous run left a plan: the planner starts a new one from it
        # (a write from a read, so it is checked like every other).
        planner.read("plan.md", None)
        v = planner.write("plan.md", "1. collect requirements\n")
        out(f"planner writes plan.md                  -> version {v}")
        plan_seen_by_planner = planner.read("plan.md")
        plan_seen_by_reviewer = reviewer.read("plan.md")
        out(f"planner and reviewer both read version {v} (the reviewer's copy is now cached)")

        v = reviewer.write("plan.md", plan_seen_by_reviewer + "2. add a security review\n")
        out(f"reviewer adds step 2                    -> version {v}")
        out(f"planner has been thinking for 40 seconds about version {v - 1} and now writes back...")
        try:
            planner.write("plan.md", plan_seen_by_planner + "2. ship it\n")
        except StaleView as err:
            out("\nREFUSED, nothing was written:")
            out(f"  code            {err.code}")
            out(f"  artifact        {err.artifact}")
            out(f"  current version {err.current_version}")
            out(f"  why             {err.message}")
            out(f"  how to recover  {err.recover}")
        else:  # pragma: no cover - the demo exists to show this cannot happen
            out("BUG: the stale write landed")
            return 1

        current = planner.reacquire("plan.md")
        out("\nplanner.reacquire('plan.md') returns the current plan:")
        out("  " + current.rstrip().replace("\n", "\n  "))
        v = planner.write("plan.md", current + "3. ship it\n")
        out(f"planner re-derives its change and writes -> version {v}\n")
        final = reviewer.read("plan.md")
        out("What every agent now reads (nobody's work was lost):")
        out("  " + final.rstrip().replace("\n", "\n  "))
        core.close()
        return 0 if "security review" in final and "ship it" in final else 1
