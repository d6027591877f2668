"""The first snippet of the README's several-hosts section, run as two processes ("two hosts")
against the test PostgreSQL and Redis: both agents' lines end up in the shared artifact."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import pytest

from ccs import CoherenceAdapterCore
from conformance.conftest import drop_store, with_query
from conftest import readme_section, service_url

HEADING = "## Agents on several hosts: one PostgreSQL or Redis"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", readme_section(HEADING), flags=re.S)


@pytest.mark.parametrize("engine", ["postgres", "redis"])
def test_two_hosts_snippet(engine, tmp_path):
    if engine == "postgres":
        url = with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema=f"doc_{uuid.uuid4().hex[:10]}")
    else:
        url = with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"doc{uuid.uuid4().hex[:10]}")
    script = tmp_path / "host.py"
    script.write_text(snippets()[0], encoding="utf-8")
    try:
        procs = [subprocess.Popen([sys.executable, str(script)], env={**os.environ, "CCS_ENGINE": url,
                                                                       "CCS_AGENT": name},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in ("planner", "coder")]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        with CoherenceAdapterCore(engine=url) as core:
            plan = core.agent("auditor").read("plan.md")
        assert sorted(plan.splitlines()) == ["- step by coder", "- step by planner"]
    finally:
        drop_store(url)


def test_nats_snippet(tmp_path):
    code = snippets()[1]
    nats = service_url("CCS_TEST_NATS_URL").split("?")[0]
    code = code.replace("nats://nats.internal:4222", nats)
    assert nats in code
    url = with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"doc{uuid.uuid4().hex[:10]}")
    scope = {"CoherenceAdapterCore": CoherenceAdapterCore, "ENGINE": url}
    try:
        exec(compile(code, "README.md", "exec"), scope)
        core = scope["core"]
        assert type(core.coordinator.bus).__name__ == "NatsBus"
        core.close()
    finally:
        drop_store(url)
