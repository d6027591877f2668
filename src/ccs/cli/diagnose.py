"""`ccs diagnose module:graph --input input.json` (also `ccs-diagnose`): lost-update hazards of a
LangGraph graph, per key, from one run on a recording store.

Exit codes: 0 no hazard, 1 hazards (lost updates or divergent reads), 2 bad input (graph not
importable, input unreadable, the graph raised) or usage.
"""

from __future__ import annotations

import argparse
import json
import sys

from ccs.cli.progress import Progress
from ccs.cli.replay import seconds
from ccs.protocol.errors import InvalidRequest

DESCRIPTION = ("run an unmodified LangGraph graph (a compiled graph or a StateGraph, by module:attr, "
               "importable from the current directory) on a recording store wrapped around its own "
               "store (or an InMemoryStore), and report per key: write pattern, divergent reads, lost "
               "updates, and which keys need CCSStore or store.update")

EPILOG = """\
examples:
  ccs diagnose my_app.graph:app --input input.json             # terminal summary
  ccs diagnose my_app.graph:builder --input input.json --json  # the report as JSON
  ccs diagnose my_app.graph:app --input input.json --html report.html --runs 5
  ccs diagnose my_app.graph:app --record ops.jsonl && ccs replay ops.jsonl

Needs LangGraph: pip install "agent-coherence[diagnose]".
Exit codes: 0 no hazard, 1 hazards found, 2 bad input (graph, input file, the graph raised) or usage."""


SHOWN = 20  # lost updates listed per key in the terminal summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="module:attr of a compiled graph or a StateGraph builder")
    p.add_argument("--input", metavar="FILE", help="the graph's input as a JSON file (default: {})")
    p.add_argument("--runs", type=int, default=1, metavar="N",
                   help="run the graph N times on the same store (races are timing-dependent)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report to PATH")
    p.add_argument("--record", metavar="PATH",
                   help="keep the recorded operations there (a record_to file, for ccs replay)")
    p.add_argument("--quiet", action="store_true", help="no progress lines and only the verdict line")
    p.add_argument("--progress-every", type=seconds, default=2.0, metavar="SECONDS",
                   help="a progress line on stderr at most this often (default 2)")


def run(args: argparse.Namespace, prog: str = "ccs", out=print) -> int:
    try:
        import langgraph  # noqa: F401
    except ImportError:
        print(f'{prog}: error [missing_dependency]: ccs diagnose needs LangGraph: '
              'pip install "agent-coherence[diagnose]"', file=sys.stderr)
        return 2
    from ccs.diagnose import diagnose
    from ccs.diagnose.html import render
    from ccs.diagnose.runner import run as run_graph

    if args.runs < 1:
        print(f"{prog}: error [invalid_argument]: --runs must be at least 1", file=sys.stderr)
        return 2
    progress = Progress(prog, args.progress_every, args.quiet)
    try:
        events, _ = run_graph(args.graph, args.input, args.runs, args.record, progress)
    except InvalidRequest as exc:
        print(f"{prog}: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:  # --record PATH cannot be written
        print(f"{prog}: error [unwritable_output]: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    d = diagnose(events, args.runs)
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(render(d, args.graph))
        except OSError as exc:
            print(f"{prog}: error [unwritable_output]: {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.json:
        out(json.dumps(d.to_dict(), indent=2))
        return 0 if d.ok else 1
    if not args.quiet:
        _table(d, out)
    verdict = (f"{len(d.hazards)} key(s) with hazards (lost updates or divergent reads)"
               if d.hazards else "no hazards found")
    out(f"{args.graph}: {verdict} ({d.operations} operations, {len(d.keys)} keys, {d.runs} run(s))"
        + (f"; HTML report: {args.html}" if args.html else ""))
    return 0 if d.ok else 1


def _table(d, out) -> None:
    if not d.keys:
        out("the graph made no store operations")
        return
    out(f"{'key':32} {'pattern':18} {'writers':24} {'lost':>4} {'diverg':>6}")
    for k in d.keys:
        out(f"{k.key[:32]:32} {k.pattern:18} {', '.join(k.writers)[:24]:24} {len(k.lost_updates):>4} "
            f"{len(k.divergent_reads):>6}")
    for k in d.hazards:
        out(f"\n{k.key}: {k.recommendation}")
        for u in k.lost_updates[:SHOWN]:
            source = "a blind write" if u["derived_from"] is None else f"version {u['derived_from']}"
            out(f"  lost: version {u['version']} by {u['lost_writer']} (line {u['lost_line']}), "
                f"overwritten by {u['overwritten_by']} from {source} (line {u['overwrite_line']})")
        if len(k.lost_updates) > SHOWN:
            out(f"  ... and {len(k.lost_updates) - SHOWN} more lost (--json lists every one)")
        for r in k.divergent_reads:
            out(f"  read version {r['version']}: {', '.join(r['agents'])}")
    needs_ccs = [k.key for k in d.keys if k.needs_ccsstore]
    needs_upd = [k.key for k in d.keys if k.needs_update]
    if needs_ccs:
        out(f"\nuse CCSStore for: {', '.join(needs_ccs)}")
    if needs_upd:
        out(f"write with store.update(namespace, key, fn): {', '.join(needs_upd)}")
    out("")


def main(argv: list[str] | None = None) -> int:
    """The `ccs-diagnose` console script: the same as `ccs diagnose`."""
    parser = argparse.ArgumentParser(prog="ccs-diagnose", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args, prog="ccs-diagnose")
    except KeyboardInterrupt:
        return 130
