"""The `ccs` command."""

from __future__ import annotations

import argparse
import sys

from ccs.protocol.errors import CoherenceError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ccs", description="agent-coherence command line",
        epilog="Exit codes: 0 success, 1 a typed error (printed as 'ccs: error [code]: ...' with a "
               "hint), 2 a usage error.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="two agents, one artifact: a stale write refused and recovered")
    demo.add_argument("--engine", help="engine URL (default: a temporary SQLite file)")
    st = sub.add_parser("status", help="artifacts in a store: versions, epochs, owners, MESI views")
    st.add_argument("--engine", required=True, help="engine URL, e.g. sqlite:///.ccs/state.db")
    st.add_argument("--prefix", default="", help="only artifacts whose id starts with this")
    st.add_argument("--json", action="store_true")
    sw = sub.add_parser("sweep", help="reclaim grants of agents whose heartbeats stopped")
    sw.add_argument("--engine", required=True)
    be = sub.add_parser("bench", help="token benchmarks: JSON, Markdown table, HTML report with plots")
    be.add_argument("--out", default="reports", help="output directory (default: reports)")
    be.add_argument("--quick", action="store_true", help="shorter runs (for a smoke check)")
    be.add_argument("--no-workloads", action="store_true", help="skip the LangGraph workloads")
    be.add_argument("--readme", help="also write the tables between the bench markers of this file")
    si = sub.add_parser("simulate", help="run one scenario YAML (or a built-in name) under every strategy")
    si.add_argument("scenario")
    si.add_argument("--strategy", action="append", dest="strategies", help="repeatable; default: all")
    si.add_argument("--json", dest="json_out", help="also write the full result as JSON here")
    sub.add_parser("mcp", help="MCP stdio server over workspace files (same as stale-write-guard-fs)",
                   add_help=False)
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["mcp"]:
        from ccs.adapters.mcp_server import main as mcp_main
        return mcp_main(argv[1:])
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except CoherenceError as exc:
        if args.debug:
            raise
        print(f"ccs: error [{exc.code}]: {exc.message}", file=sys.stderr)
        if exc.recover:
            print(f"  hint: {exc.recover}", file=sys.stderr)
        return 1
    except OSError as exc:
        if args.debug:
            raise
        print(f"ccs: error [os_error]: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "bench":
        from ccs.cli.bench import run as bench
        return bench(args.out, args.quick, not args.no_workloads, args.readme)
    if args.command == "simulate":
        from ccs.cli.simulate import run as simulate
        return simulate(args.scenario, args.strategies, args.json_out)
    if args.command == "demo":
        from ccs.cli.demo import run
        return run(args.engine)
    if args.command == "status":
        from ccs.cli.inspect import status
        return status(args.engine, args.prefix, args.json)
    if args.command == "sweep":
        from ccs.cli.inspect import sweep
        return sweep(args.engine)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
