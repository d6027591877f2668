"""docs/crewai.md runs as written, in CrewAI's environment: the same rules as tests/test_docs.py
(whose helpers are loaded from that file), for the one page the main environment cannot run."""

import contextlib
import importlib.util
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ccs_test_docs", ROOT / "tests" / "test_docs.py")
docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs)

PAGE = "docs/crewai.md"


def test_crewai_page_is_not_run_by_the_main_docs_test():
    assert PAGE not in docs.DOCS


def test_every_block_is_run_or_explicitly_skipped():
    docs.test_every_block_is_run_or_explicitly_skipped(PAGE)


def test_python_blocks_run_and_print_what_they_say(tmp_path, monkeypatch):
    from ccs.adapters.crewai import uninstall

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "doc_crewai"}
    try:
        for i, (lang, code) in enumerate(docs.blocks(PAGE)):
            if lang != "python":
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{PAGE} block {i}", "exec"), namespace)
            expected = [m.group(1).rstrip() for line in code.splitlines()
                        if (m := docs.EXPECT.match(line))]
            if expected:
                assert out.getvalue().splitlines() == expected, f"{PAGE} block {i}"
    finally:
        uninstall()
