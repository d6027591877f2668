"""The user docs run as written: every ```python block executes (the blocks of one file share a
namespace, in a fresh working directory) and prints what its `# -> text` comments say. Blocks
marked ```bash, ```text or ```json are shown, not run: listed in SKIPPED explicitly; any other
fence (or none) fails, so nothing slips through unexecuted."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# docs/crewai.md runs in CrewAI's environment: tests/crewai/test_docs_crewai.py
DOCS = ["docs/guide.md", "docs/troubleshooting.md", "docs/langgraph.md", "docs/seed-compatibility.md",
        "CHANGELOG.md", "docs/ccs-diagnose.md", "docs/mcp.md", "docs/volume.md", "docs/autogen.md",
        "docs/openai-agents.md", "docs/reproduce.md", "docs/kill-switches.md", "docs/effects.md",
        "docs/merge.md", "docs/claude-code.md", "docs/performance.md"]
SKIPPED = {"bash", "text", "json"}
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.S | re.M)
EXPECT = re.compile(r"^\s*print\(.*\)\s*#\s*->\s?(.*)$")


def blocks(doc: str) -> list[tuple[str, str]]:
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer((ROOT / doc).read_text())]


@pytest.mark.parametrize("doc", DOCS)
def test_every_block_is_run_or_explicitly_skipped(doc):
    for lang, _ in blocks(doc):
        assert lang == "python" or lang in SKIPPED, f"{doc}: a ```{lang} block is neither run nor skipped"


@pytest.mark.parametrize("doc", DOCS)
def test_python_blocks_run_and_print_what_they_say(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"doc_{Path(doc).stem}"}
    for i, (lang, code) in enumerate(blocks(doc)):
        if lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{doc} block {i}", "exec"), namespace)
        expected = [m.group(1).rstrip() for line in code.splitlines() if (m := EXPECT.match(line))]
        if expected:
            assert out.getvalue().splitlines() == expected, f"{doc} block {i}"


def test_guide_lists_every_error_code_with_its_recover_hint():
    from ccs.protocol.errors import ERRORS_BY_CODE

    guide = (ROOT / "docs/guide.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r"^\| `([a-z_]+)` \| `\w+`[^|]*\| (?:yes|no) \| (.*) \|$", guide, re.M)}
    assert set(rows) == set(ERRORS_BY_CODE), set(rows) ^ set(ERRORS_BY_CODE)
    for code, cls in ERRORS_BY_CODE.items():
        if cls.default_recover:
            assert rows[code] == cls.default_recover, code


def test_troubleshooting_covers_every_error_code():
    from ccs.protocol.errors import ERRORS_BY_CODE

    text = (ROOT / "docs/troubleshooting.md").read_text()
    missing = [code for code in ERRORS_BY_CODE if f"`{code}`" not in text]
    assert not missing, missing


def test_seed_compatibility_names_everything_the_seed_names():
    text = (ROOT / "docs/seed-compatibility.md").read_text()
    seed_extras = ["dev", "langgraph", "crewai", "otel", "langsmith", "benchmark", "diagnose", "openai",
                   "openai-agents", "mistral", "all"]
    for extra in seed_extras:
        assert f"[{extra}]" in text, extra
    for name in ("agent-coherence-replay", "ccs-diagnose", "stale_read_generation", "ccs.core",
                 "ccs.strategies", "ccs.simulation", "ccs.coordinator", "ccs.bus", "make tla-check",
                 "rediss://", "CCSStore.record_to", "CoherentVolume"):
        assert name in text, name


def test_license_and_changelog():
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text and len(license_text) > 10000
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog") and "## Unreleased" in changelog


def test_docs_that_code_points_to_exist():
    """Docstrings and the README point users at these files."""
    from ccs.adapters.langgraph import store

    for name in re.findall(r"docs/[a-z-]+\.md", store.__doc__ + store.CCSStore.__doc__):
        assert (ROOT / name).is_file(), name
    readme = (ROOT / "README.md").read_text()
    for name in re.findall(r"\]\(((?:docs/)?[A-Za-z-]+\.md)\)", readme):
        assert (ROOT / name).is_file(), name
