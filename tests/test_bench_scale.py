"""``benchmarks/scale.py --quick`` runs, fits every curve and writes its report: JSON with a
verdict per curve and an HTML page with one inline SVG plot per dimension (no network needed)."""

from __future__ import annotations

import json

from conftest import load_benchmark

scale = load_benchmark("scale")


def test_quick_scale_run_reports_every_curve(tmp_path, capsys):
    assert scale.main(["--quick", "--engines", "memory", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "scale.json").read_text())
    dims = {r["dimension"] for r in report["summary"]}
    assert dims == {"artifacts", "agents", "sharers", "sweep", "owned"}
    for row in report["summary"]:
        assert row["verdict"] in ("flat", "NOT flat", "linear", "NOT linear")
        assert len(row["x"]) == len(row["median_us"]) >= 2
    assert report["memory"]["bytes_per_artifact"] > 0 and report["memory"]["bytes_per_agent"] > 0
    html = (tmp_path / "scale.html").read_text()
    assert html.count("<svg") == 5 and "Ratios and fits" in html
    assert "largest/smallest" in capsys.readouterr().out
