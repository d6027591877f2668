"""Tiny inline-SVG charts for the self-contained HTML report (no plotting dependency)."""

from __future__ import annotations

from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")
W, H, L, R, T, B = 560, 300, 60, 130, 30, 45


def _frame(title: str, xlabel: str, ylabel: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            f'font-family="sans-serif" font-size="11">'
            f'<text x="{W / 2 - R / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>'
            f'<text x="{L + (W - L - R) / 2}" y="{H - 8}" text-anchor="middle">{escape(xlabel)}</text>'
            f'<text x="14" y="{T + (H - T - B) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {T + (H - T - B) / 2})">{escape(ylabel)}</text>'
            + "".join(body) + "</svg>")


def _axes(ymin: float, ymax: float, fmt: str) -> list[str]:
    out = [f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#333"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#333"/>']
    for i in range(5):
        v = ymin + (ymax - ymin) * i / 4
        y = H - B - (H - T - B) * i / 4
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 4}" y="{y + 4:.1f}" text-anchor="end">{fmt.format(v)}</text>')
    return out


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = T + 14 * i
        out.append(f'<rect x="{W - R + 10}" y="{y}" width="10" height="10" fill="{PALETTE[i % 8]}"/>')
        out.append(f'<text x="{W - R + 24}" y="{y + 9}">{escape(name)}</text>')
    return out


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
               *, ymin: float | None = None, ymax: float | None = None, fmt: str = "{:.0%}",
               log_x: bool = False) -> str:
    import math

    points = [p for s in series.values() for p in s]
    if not points:
        return _frame(title, xlabel, ylabel, [])
    tx = (lambda x: math.log2(x)) if log_x else (lambda x: x)
    xs = [tx(x) for x, _ in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    lo = min(y for _, y in points) if ymin is None else ymin
    hi = max(y for _, y in points) if ymax is None else ymax
    hi = hi if hi > lo else lo + 1

    def px(x: float) -> float:
        return L + (W - L - R) * (tx(x) - x0) / (x1 - x0)

    def py(y: float) -> float:
        return H - B - (H - T - B) * (y - lo) / (hi - lo)

    body = _axes(lo, hi, fmt)
    for x in sorted({x for x, _ in points}):
        body.append(f'<text x="{px(x):.1f}" y="{H - B + 14}" text-anchor="middle">{x:g}</text>')
    for i, pts in enumerate(series.values()):
        color = PALETTE[i % 8]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        body += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>' for x, y in pts]
    return _frame(title, xlabel, ylabel, body + _legend(list(series)))


def stacked_bars(groups: dict[str, dict[str, float]], title: str, xlabel: str, ylabel: str,
                 *, fmt: str = "{:,.0f}") -> str:
    """One bar per group, stacked by category (the same categories in every group)."""
    cats = list(dict.fromkeys(c for g in groups.values() for c in g))
    hi = max((sum(g.values()) for g in groups.values()), default=1) or 1
    body = _axes(0, hi, fmt)
    n = max(len(groups), 1)
    slot = (W - L - R) / n
    for j, (label, values) in enumerate(groups.items()):
        x = L + slot * j + slot * 0.15
        y = H - B
        for i, cat in enumerate(cats):
            h = (H - T - B) * values.get(cat, 0) / hi
            y -= h
            tip = f"{escape(cat)}: {values.get(cat, 0):,.0f}"
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[i % 8]}"><title>{tip}</title></rect>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{H - B + 14}" '
                    f'text-anchor="middle">{escape(label)}</text>')
    return _frame(title, xlabel, ylabel, body + _legend(cats))
