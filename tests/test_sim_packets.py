"""The conflict-packet table of the token report (``ccs.sim.packets``): each row a real refusal,
its packet's tokens counted with the named counter on the packet's own text, and the same rows in
the Markdown (README) and HTML reports."""

from itertools import product

import pytest

pytest.importorskip("tiktoken")

from ccs.sim.packets import measure_all, refuse
from ccs.sim.report import html, markdown
from ccs.tokens import default_counter

SIZES, EDITS = (1000, 4000), (1, 5)


@pytest.fixture(scope="module")
def measured():
    counter = default_counter()
    return counter, measure_all(counter, SIZES, EDITS)


def test_each_row_counts_a_real_refusal_and_its_packet_text(measured):
    counter, result = measured
    assert result["counter"] == counter.name and result["budget_tokens"] is None
    assert len(result["rows"]) == len(SIZES) * len(EDITS)
    for (size, edits), row in zip(product(SIZES, EDITS), result["rows"], strict=True):
        r = refuse(size, edits, counter)
        p = r.packet
        assert p.code == "stale_view" and (p.base_version, p.current_version) == (1, 2)
        assert p.text.count("(peer revised this)") >= edits  # the peer's change, as a diff
        assert "(writer revised this)" in p.text and not p.truncated
        assert p.counter == counter.name
        assert row["packet_tokens"] == counter.count(p.text) == p.tokens
        assert row["artifact_tokens"] == counter.count(r.base) >= size
        assert row["resend_current_tokens"] == counter.count(r.current)
        assert row["resend_base_and_current_tokens"] == row["artifact_tokens"] \
            + row["resend_current_tokens"]
        assert row["packet_vs_current"] == round(row["packet_tokens"] / row["resend_current_tokens"], 3)
        assert row["edited_lines_each_side"] == edits
    one_edit = [r for r in result["rows"] if r["edited_lines_each_side"] == 1]
    assert all(r["packet_tokens"] < r["resend_current_tokens"] for r in one_edit)


def test_a_budget_cuts_the_packet_to_fit(measured):
    counter, _ = measured
    rows = measure_all(counter, (1000,), (20,), budget=300)["rows"]
    assert rows[0]["packet_truncated"] and rows[0]["packet_tokens"] <= 300


def test_the_token_report_carries_the_packet_table(measured):
    counter, packets = measured
    result = {"meta": {"tokenizer": counter.name, "signal_tokens": 1, "signal_text": "s",
                       "seconds": 1.0, "sweep_ticks": 0, "billed_rounds": 2, "billed_seeds": [1]},
              "billed": [], "billed_sweep": [], "sweep": [], "agents_sweep": [], "notes": [],
              "packets": packets}
    md = markdown(result)
    section = md[md.index("**After a refusal: conflict packet"):]
    assert f"tokens counted with `{counter.name}` on the packet's text" in section
    assert "| artifact tokens | edits each side | packet | re-send current |" in section
    page = html(result)
    table = page[page.index("id='packets'"):]
    table = table[:table.index("</table>")]
    for row in packets["rows"]:
        cells = [f"{row['artifact_tokens']:,}", str(row["edited_lines_each_side"]),
                 f"{row['packet_tokens']:,}", f"{row['resend_current_tokens']:,}",
                 f"{row['resend_base_and_current_tokens']:,}"]
        assert "| " + " | ".join(cells) + " | " in section
        assert "<tr><td>" + "</td><td>".join(cells) + "</td>" in table
    # a result without packets (an older bench.json) renders without the section
    del result["packets"]
    assert "conflict packet" not in markdown(result) and "id='packets'" not in html(result)
