"""The `ccs` command."""

from __future__ import annotations

import argparse
import sys

from ccs._meta import package_version
from ccs.protocol.errors import CoherenceError

ENGINES = ("engine URL: memory:// (this process only), sqlite:////abs/path/state.db (one host), "
           "redis://[:password@]host:6379/0 (rediss:// for TLS) or "
           "postgresql://user@host:5432/db (many hosts)")

EXAMPLES = {
    "ccs": """\
examples:
  ccs demo                                         # two agents, one stale write refused
  ccs demo --engine sqlite:////tmp/ccs-demo.db     # the same, on a store you can inspect:
  ccs status --engine sqlite:////tmp/ccs-demo.db   #   versions, owners, views
  ccs simulate faults-heavy                        # a built-in scenario under every strategy
  ccs <command> --help                             # options and examples of one command

Exit codes: 0 success, 1 a typed error (printed as 'ccs: error [code]: ...' with a hint),
2 a usage error.""",
    "demo": """\
examples:
  ccs demo                                         # on a temporary SQLite file, removed after
  ccs demo --engine sqlite:////tmp/ccs-demo.db     # keep the store; run it again: it continues
  ccs demo --engine redis://127.0.0.1:6379/0       # on a Redis server""",
    "status": """\
examples:
  ccs status --engine sqlite:////tmp/ccs-demo.db
  ccs status --engine sqlite:////tmp/ccs-demo.db --prefix plan --json
  ccs status --engine postgresql://postgres@127.0.0.1:5432/test

Looking never creates a store: a missing SQLite file is an error (store_not_found).""",
    "sweep": """\
examples:
  ccs sweep --engine sqlite:////tmp/ccs-demo.db
  ccs sweep --engine redis://127.0.0.1:6379/0 --json""",
    "log": """\
examples:
  ccs log plan.md --engine sqlite:////tmp/ccs-demo.db          # who changed it, when, from which base
  ccs log --engine redis://127.0.0.1:6379/0 --limit 20        # the latest entries of every artifact
  ccs log plan.md --engine sqlite:////tmp/ccs-demo.db --json

Commits, deletes, refusals and crash-recovery reclaims, as the engine recorded them.""",
    "show": """\
examples:
  ccs show plan.md@3 --engine sqlite:////tmp/ccs-demo.db      # the content of version 3
  ccs show plan.md@3 --engine sqlite:////tmp/ccs-demo.db --json

A version older than the retained ones is an error naming the retained range.""",
    "diff": """\
examples:
  ccs diff plan.md 2 3 --engine sqlite:////tmp/ccs-demo.db    # unified diff of two versions
  ccs diff plan.md 2 3 --engine sqlite:////tmp/ccs-demo.db --json""",
    "simulate": """\
examples:
  ccs simulate volatility-050                      # a built-in scenario, every strategy
  ccs simulate faults-heavy --strategy lazy --strategy broadcast
  ccs simulate volatility-010 --json               # the full result as JSON on stdout
  ccs simulate ./my-scenario.yaml --out result.json""",
    "bench": """\
examples:
  ccs bench --quick --out /tmp/ccs-bench           # a short run, reports written there
  ccs bench --no-workloads --out /tmp/ccs-bench    # simulation only (no LangGraph needed)
  ccs bench --readme README.md                     # the full run; rewrites the README tables""",
}


def _scenario_names() -> str:
    try:
        from ccs.sim import builtin_scenarios
        return ", ".join(sorted(builtin_scenarios()))
    except Exception:  # pragma: no cover - a broken install: help must still print
        return "?"


def build_parser() -> argparse.ArgumentParser:
    from ccs.sim.scenario import STRATEGIES  # the client's five, plus the simulation's "adaptive"

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="ccs", description="agent-coherence: cache coherence for artifacts shared by LLM agents",
        epilog=EXAMPLES["ccs"], formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    common = argparse.ArgumentParser(add_help=False)  # --debug after the command works too
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show a traceback on errors")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=EXAMPLES[name],
                              formatter_class=fmt, parents=[common])

    demo = command("demo", "two agents, one artifact: a stale write refused and recovered")
    demo.add_argument("--engine", metavar="URL",
                      help=f"{ENGINES}; default: a temporary SQLite file")
    st = command("status", "artifacts in a store: versions, epochs, owners, MESI views (read-only)")
    st.add_argument("--engine", required=True, metavar="URL", help=ENGINES)
    st.add_argument("--prefix", default="", help="only artifacts whose id starts with this")
    st.add_argument("--all", action="store_true",
                    help="also list internal records (ids starting with '~' or '.ccs/')")
    st.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    sw = command("sweep", "reclaim the grants of agents whose heartbeats stopped (crash recovery)")
    sw.add_argument("--engine", required=True, metavar="URL", help=ENGINES)
    sw.add_argument("--json", action="store_true", help="print what was reclaimed as a JSON list")
    lg = command("log", "the audit log: who changed an artifact, when, from which base; refusals "
                        "and reclaims (read-only)")
    lg.add_argument("artifact", nargs="?", help="one artifact (default: every artifact)")
    lg.add_argument("--engine", required=True, metavar="URL", help=ENGINES)
    lg.add_argument("--limit", type=int, metavar="N", help="only the latest N entries")
    lg.add_argument("--json", action="store_true", help="print a JSON list instead of lines")
    sh = command("show", "the content of one version of an artifact, current or retained "
                         "(read-only)")
    sh.add_argument("ref", metavar="ARTIFACT@VERSION")
    sh.add_argument("--engine", required=True, metavar="URL", help=ENGINES)
    sh.add_argument("--json", action="store_true", help="print JSON (content, encoding, size)")
    di = command("diff", "unified diff of two versions of an artifact (read-only)")
    di.add_argument("artifact")
    di.add_argument("a", type=int, metavar="A", help="the older version")
    di.add_argument("b", type=int, metavar="B", help="the newer version")
    di.add_argument("--engine", required=True, metavar="URL", help=ENGINES)
    di.add_argument("--json", action="store_true", help="print JSON with the diff as one string")
    be = command("bench", "token benchmarks: JSON, Markdown table, HTML report with plots")
    be.add_argument("--out", default="reports", help="output directory (default: reports)")
    be.add_argument("--quick", action="store_true", help="shorter runs (for a smoke check)")
    be.add_argument("--no-workloads", action="store_true", help="skip the LangGraph workloads")
    be.add_argument("--readme", help="also write the tables between the bench markers of this file")
    si = command("simulate", "run one scenario (a built-in name or a YAML file) under every strategy "
                             "(read-only)")
    si.add_argument("scenario", help=f"a built-in scenario ({_scenario_names()}) or a YAML file")
    si.add_argument("--strategy", action="append", dest="strategies", choices=STRATEGIES,
                    metavar="NAME",
                    help=f"repeatable; one of {', '.join(STRATEGIES)}; default: all")
    si.add_argument("--json", action="store_true", dest="json_stdout",
                    help="print the full result as JSON instead of the table")
    si.add_argument("--out", dest="json_out", metavar="FILE",
                    help="also write the full result as JSON to FILE")
    from ccs.cli import diagnose as diagnose_cli
    from ccs.cli import replay as replay_cli
    from ccs.cli import serve as serve_cli

    rp = sub.add_parser("replay", help="check the promises on a history recorded by CCSStore.record_to",
                        description="check the promises on a history recorded by CCSStore.record_to "
                                    "(single writer, monotonic versions, no stale write, no lost "
                                    "write, linearizability)",
                        epilog=replay_cli.EPILOG, formatter_class=fmt, parents=[common])
    replay_cli.add_arguments(rp)
    dg = sub.add_parser("diagnose", help="run an unmodified LangGraph graph on a recording store and "
                                         "report lost-update hazards per key",
                        description=diagnose_cli.DESCRIPTION, epilog=diagnose_cli.EPILOG,
                        formatter_class=fmt, parents=[common])
    diagnose_cli.add_arguments(dg)
    sv = sub.add_parser("serve", help=serve_cli.HELP, description=serve_cli.HELP, epilog=serve_cli.EPILOG,
                        formatter_class=fmt, parents=[common])
    serve_cli.add_arguments(sv)
    from ccs.cli import hook as hook_cli

    hk = sub.add_parser("hook", help="a coding assistant's hook command: refuse or flag an edit made "
                                     "on a stale view of a file (Claude Code)",
                        description=hook_cli.DESCRIPTION, epilog=hook_cli.EPILOG,
                        formatter_class=fmt, parents=[common])
    hook_cli.add_arguments(hk)
    sub.add_parser("mcp", help="MCP stdio server over workspace files (same as stale-write-guard-fs; "
                               "ccs mcp --help for its options)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    rest = argv
    while rest[:1] == ["--debug"]:
        rest = rest[1:]
    if rest[:1] == ["hook"]:
        from ccs.cli.hook import main as hook_main
        return hook_main(rest[1:], debug=rest is not argv)
    if rest[:1] == ["mcp"]:
        from ccs.adapters.mcp_server import main as mcp_main
        return mcp_main(rest[1:], prog="ccs mcp")
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug
    try:
        return _dispatch(parser, args)
    except CoherenceError as exc:
        if debug:
            raise
        print(f"ccs: error [{exc.code}]: {exc.message}", file=sys.stderr)
        if exc.recover:
            print(f"  hint: {exc.recover}", file=sys.stderr)
        return 1
    except OSError as exc:
        if debug:
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
        return simulate(args.scenario, args.strategies, args.json_out, args.json_stdout)
    if args.command == "demo":
        from ccs.cli.demo import run
        return run(args.engine)
    if args.command == "status":
        from ccs.cli.inspect import status
        return status(args.engine, args.prefix, args.json, show_internal=args.all)
    if args.command == "sweep":
        from ccs.cli.inspect import sweep
        return sweep(args.engine, as_json=args.json)
    if args.command == "replay":
        from ccs.cli.replay import run as replay
        return replay(args)
    if args.command == "serve":
        from ccs.cli.serve import run as serve
        return serve(args)
    if args.command == "hook":
        from ccs.cli.hook import run as hook
        return hook(args)
    if args.command == "diagnose":
        from ccs.cli.diagnose import run as diagnose
        return diagnose(args)
    if args.command in ("log", "show", "diff"):
        from ccs.cli import audit
        if args.command == "log":
            return audit.log(args.engine, args.artifact, args.json, args.limit)
        if args.command == "show":
            return audit.show(args.engine, args.ref, args.json)
        return audit.diff(args.engine, args.artifact, args.a, args.b, args.json)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
