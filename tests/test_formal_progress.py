"""`make check-models` says what it is doing: a line per run on stderr, the table on stdout."""

import shutil
import subprocess
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parent.parent / "formal" / "check.sh"


@pytest.mark.skipif(shutil.which("rumur") is None or shutil.which("cc") is None,
                    reason="rumur and a C compiler are needed to model-check")
def test_check_models_prints_progress_per_run():
    out = subprocess.run(["bash", str(CHECK), "mut_txn"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[1/2] mut_txn_writes_only: building" in out.stderr
    assert "[2/2] mut_txn_no_epoch: checking" in out.stderr
    assert "mut_txn_no_epoch" in out.stdout and "[" not in out.stdout.splitlines()[1]
