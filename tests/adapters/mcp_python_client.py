"""The two-session scenario of ``tests/mcp_ts/client.mjs``, with the Python ``mcp`` client of the
interpreter that runs this script; prints the same JSON summary (``tests/mcp_e2e.check_summary``).

    python mcp_python_client.py --root DIR -- COMMAND [ARG...]

Run by ``test_mcp_floor.py`` with the python of a venv holding ``mcp`` at the floor
``pyproject.toml`` gives, against the server started from that venv. Needs only ``mcp`` (no pytest).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client


def dump(model) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")  # mcp 1.x and 2.x names


async def call(s: ClientSession, name: str, **arguments) -> dict:
    result = dump(await s.call_tool(name, arguments))
    payload = json.loads(result["content"][0]["text"])
    return {"isError": result.get("isError") is True, "payload": payload,
            "structuredMatches": result.get("structuredContent") == payload}


async def main(root: str, command: list[str]) -> dict:
    def params(agent: str) -> StdioServerParameters:
        env = {**os.environ, "SWG_ROOT": root, "SWG_AGENT": agent}
        return StdioServerParameters(command=command[0], args=command[1:], env=env)

    summary: dict = {"mcp_version": version("mcp"), "python": sys.executable, "steps": {}}
    async with stdio_client(params("alice")) as (ra, wa), ClientSession(ra, wa) as a, \
            stdio_client(params("bob")) as (rb, wb), ClientSession(rb, wb) as b:
        init = dump(await a.initialize())
        await b.initialize()
        summary["server_info"] = init["serverInfo"]
        summary["instructions"] = init.get("instructions")
        summary["tools"] = {t["name"]: {"title": t.get("title"), "annotations": t.get("annotations")}
                            for t in dump(await a.list_tools())["tools"]}
        s = summary["steps"]
        s["a_read"] = await call(a, "read", path="plan.md")
        s["b_read"] = await call(b, "read", path="plan.md")
        s["b_write"] = await call(b, "write", path="plan.md",
                                  content=s["b_read"]["payload"]["content"] + "- bob\n")
        # A's write is derived from its read at version 1: stale.
        s["a_stale_write"] = await call(a, "write", path="plan.md",
                                        content=s["a_read"]["payload"]["content"] + "- alice\n")
        if s["a_stale_write"]["isError"] and s["a_stale_write"]["payload"].get("code") == "stale_view":
            s["a_reacquire"] = await call(a, "reacquire", path="plan.md")
            s["a_write"] = await call(a, "write", path="plan.md",
                                      content=s["a_reacquire"]["payload"]["content"] + "- alice\n")
        s["b_final_read"] = await call(b, "read", path="plan.md")
    summary["final_content"] = (Path(root) / "plan.md").read_text(encoding="utf-8")
    return summary


if __name__ == "__main__":
    argv = sys.argv[1:]
    sep = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    args = parser.parse_args(argv[:sep])
    out = {}

    async def run() -> None:
        out.update(await main(args.root, argv[sep + 1:]))

    anyio.run(run, backend="asyncio")
    print(json.dumps(out))
