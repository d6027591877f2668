"""The README's "LangGraph in one import change" section runs as written."""

from __future__ import annotations

import re
import sys
import types

from conftest import readme_section

HEADING = "## LangGraph in one import change"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", readme_section(HEADING), flags=re.S)


def test_section_has_the_import_change():
    text = readme_section(HEADING)
    assert text.startswith(HEADING)
    first = _blocks()[0]
    assert "from ccs.adapters import CCSStore" in first
    assert 'store = CCSStore(strategy="lazy")' in first


def _run_blocks() -> dict:
    module = types.ModuleType("langgraph_readme_snippet")  # a real module: LangGraph resolves
    sys.modules[module.__name__] = module                   # the State's type hints through it
    namespace = module.__dict__
    try:
        for block in _blocks():
            exec(compile(block, "README.md", "exec", dont_inherit=True), namespace)
    finally:
        sys.modules.pop(module.__name__, None)
    return namespace


def test_snippets_execute_and_print_what_the_comments_say(capsys):
    assert len(_blocks()) >= 2
    namespace = _run_blocks()
    printed = capsys.readouterr().out.splitlines()
    race = _blocks()[1]
    # the printed lines are exactly the ones written beside the calls
    promised = re.findall(r"^race\(.*?#\s*(.*)$", race, flags=re.M)
    assert printed == promised
    assert printed == [
        "InMemoryStore naive: n = 1 (landed 8, refused 0)",   # 7 increments silently lost
        "CCSStore naive: n = 1 (landed 1, refused 7)",        # 7 stale puts refused, none lost
        "CCSStore safe: n = 8 (landed 8, refused 0)",         # update lands all 8
    ]
    assert namespace["store"].get(("team",), "counter").value == {"n": 8}


def test_prose_matches_the_output():
    text = readme_section(HEADING)
    assert "seven increments are silently lost" in text
    assert "seven derived from the stale read raise\n`StaleView`" in text
    assert "all eight increments land" in text
