"""`ccs replay FILE` (also `agent-coherence-replay FILE`): check the promises on a recorded history.

Exit codes: 0 every checked invariant holds, 1 violations (each printed with the operations
involved), 2 bad input (unreadable file, malformed line: one typed line naming it) or usage.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from ccs.cli.progress import Progress
from ccs.protocol.errors import CoherenceError
from ccs.replay.invariants import INVARIANTS, run_checks
from ccs.replay.source import load

EPILOG = """\
examples:
  ccs replay ops.jsonl                              # every invariant; a line per violation
  ccs replay ops.jsonl --invariant no_lost_write    # only some (repeatable)
  ccs replay ops.jsonl --json > verdict.json        # the verdict as JSON
  ccs replay big.jsonl --progress-every 5           # a progress line on stderr every 5 s

The file is what CCSStore.record_to(path) writes (or RecordingStore around any LangGraph store);
an engine URL (sqlite:///state.db, postgresql://..., redis://...) replays the audit log that engine keeps.
Invariants: """ + ", ".join(INVARIANTS) + """.

Exit codes: 0 clean, 1 violations found, 2 bad input (unreadable file, malformed line) or usage."""


def seconds(text: str) -> float:
    """A finite number of seconds >= 0, for argparse (anything else is a usage error)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a JSON-lines history written by CCSStore.record_to(path), or an "
                                "engine URL to replay its audit log")
    p.add_argument("--invariant", action="append", dest="invariants", metavar="NAME",
                   type=lambda s: s.replace("-", "_"), choices=INVARIANTS,
                   help=f"repeatable; one of {', '.join(INVARIANTS)}; default: all")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines, and only the summary line (the exit code is the verdict)")
    p.add_argument("--progress-every", type=seconds, default=2.0, metavar="SECONDS",
                   help="a progress line on stderr at most this often (default 2)")
    p.add_argument("--budget", type=seconds, default=30.0, metavar="SECONDS",
                   help="time for the linearizability search (default 30); beyond it: undecided")


def bad_input(prog: str, code: str, message: str) -> int:
    print(f"{prog}: error [{code}]: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace, prog: str = "ccs", out=print) -> int:
    progress = Progress(prog, args.progress_every, args.quiet)
    try:
        events = load(args.file, progress=lambda n: progress(f"read {n} lines of {args.file}"))
    except CoherenceError as exc:  # the history cannot be read: a bad file, URL or store
        return bad_input(prog, exc.code, exc.message)
    except OSError as exc:
        return bad_input(prog, "unreadable_history", f"cannot read {args.file}: {exc.strerror or exc}")
    report = run_checks(events, args.invariants or INVARIANTS, args.budget,
                        progress=lambda n, total: progress(f"linearizability: artifact {n} of {total}"))
    if args.json:
        out(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1
    for v in [] if args.quiet else report.violations:
        out(f"VIOLATION {v.invariant}: {v.artifact}: {v.message}")
        for e in v.events:
            out(f"    {e.label}")
    for note in [] if args.quiet else report.notes:
        out(f"note: {note}")
    counts = ", ".join(f"{name} {n}" for name, n in report.counts().items())
    verdict = f"{len(report.violations)} violation(s)" if not report.ok else \
        "no violation found" if report.notes else "clean"
    if report.notes:  # the search ran out of time somewhere: not proof of a clean history
        verdict += f", {len(report.notes)} undecided (--budget)"
    out(f"{report.operations} operations on {report.artifacts} artifact(s): {verdict} ({counts})")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """The `agent-coherence-replay` console script: the same as `ccs replay`."""
    parser = argparse.ArgumentParser(prog="agent-coherence-replay", description=__doc__.splitlines()[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args, prog="agent-coherence-replay")
    except KeyboardInterrupt:
        return 130
