"""The README's OpenTelemetry/LangSmith snippet runs as written (in a fresh interpreter: it sets
the global tracer provider) and prints what it claims."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("langsmith")

ROOT = Path(__file__).resolve().parents[2]


def test_readme_snippet_runs():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### OpenTelemetry and LangSmith"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    expected = re.search(r"^# (ccs\.write .*)$", code, re.M).group(1)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "OTEL_")) and k != "CCS_TELEMETRY"}
    env["PYTHONPATH"] = str(ROOT / "src")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    assert out.stdout.strip() == expected == "ccs.write refused stale_view"
