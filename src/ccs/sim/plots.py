"""Plots for the ``ccs bench`` HTML report, drawn with matplotlib and inlined as SVG (the page stays
self-contained and offline: text is kept as SVG text, no fonts or scripts are referenced)."""

from __future__ import annotations

import io
from typing import Any

PRESET_STYLE = {"no-cache": "tab:gray", "anthropic": "tab:orange", "openai": "tab:green"}


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "ccs-bench", "font.size": 9})
    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=100)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#ddd", linewidth=0.6)
    return fig, ax


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def savings_vs_volatility(sweep: list[dict[str, Any]]) -> str:
    """The library's billed saving against the strongest baseline (a), by volatility, one line per
    preset."""
    fig, ax = _figure("Billed saving vs the strongest stateless baseline (a), by volatility",
                      "V (share of turns that write)", "saving on billed input tokens")
    presets = list(sweep[0]["presets"]) if sweep else []
    for p in presets:
        xs = [s["volatility"] for s in sweep]
        ys = [s["presets"][p]["stateless_ccs"]["vs_strongest_a"]["mean"] for s in sweep]
        ax.plot(xs, ys, marker="o", label=p, color=PRESET_STYLE.get(p))
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.legend(title="cache preset")
    return _svg(fig)


# lines that may overlay another: the plain store's on the library's, (a) without cache on (a)'s
DASHED = ("stateless_plain", "stateless_full_nocache")


def cost_per_round(workload: dict[str, Any], preset: str, labels: dict[str, str]) -> str:
    """Billed input tokens per round of one seeded run, one line per variant."""
    fig, ax = _figure(f"{workload['workload']}: billed input tokens per round ({preset})", "round",
                      "billed tokens (log scale)")
    for v, row in workload["presets"][preset].items():
        if "per_round" not in row:  # the strongest (a) is one of the (a) lines
            continue
        ys = row["per_round"]
        ax.plot(range(1, len(ys) + 1), ys, label=labels.get(v, v), linewidth=1.4,
                linestyle="--" if v in DASHED else "-")
    ax.set_yscale("log")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    return _svg(fig)


def sim_lines(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str, *,
              pct: bool = True, log_x: bool = False) -> str:
    fig, ax = _figure(title, xlabel, ylabel)
    for name, pts in series.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    if log_x:
        ax.set_xscale("log", base=2)
    if pct:
        ax.yaxis.set_major_formatter(_pct_formatter())
    ax.legend(fontsize=7)
    return _svg(fig)


def _pct_formatter() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0)


def stacked_bars(groups: dict[str, dict[str, float]], title: str, xlabel: str, ylabel: str) -> str:
    fig, ax = _figure(title, xlabel, ylabel)
    names = list(groups)
    kinds = list(dict.fromkeys(k for g in groups.values() for k in g))
    bottom = [0.0] * len(names)
    for kind in kinds:
        vals = [float(groups[n].get(kind, 0)) for n in names]
        ax.bar(names, vals, bottom=bottom, label=kind)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.legend(fontsize=7)
    return _svg(fig)
