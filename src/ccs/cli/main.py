"""The `ccs` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccs", description="agent-coherence command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="two agents, one artifact: a stale write refused and recovered")
    demo.add_argument("--engine", help="engine URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ccs.cli.demo import run
        return run(args.engine)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
