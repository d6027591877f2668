"""`ccs serve`: the agent API over HTTP/JSON, for agents in any language (docs/http.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "serve the agent API over HTTP/JSON (any language; docs/http.md)"
EPILOG = """\
examples:
  ccs serve --engine sqlite:////tmp/ccs-demo.db                 # 127.0.0.1:8787, token generated
  ccs serve --engine redis://127.0.0.1:6379/0 --port 0 --json   # any free port, announced as JSON
  ccs serve --engine sqlite:////tmp/ccs-demo.db --read-only     # reads, status, log, events only
  ccs serve --engine postgresql://db/ccs --host 0.0.0.0 --token-file /etc/ccs/token \\
            --tls-cert cert.pem --tls-key key.pem                # another interface: TLS required

The token is read from --token-file (default: ~/.config/agent-coherence/serve-token, created
mode 600 on first start); send it as 'Authorization: Bearer <token>'. --bind-agents FILE maps
further tokens to the agent names each may act as: {"<token>": ["planner"]}. docs/security.md."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ccs.cli.main import ENGINES

    p.add_argument("--engine", required=True, metavar="URL", help=ENGINES)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; another needs TLS and --token-file)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787; 0: any free port)")
    p.add_argument("--token-file", type=Path, metavar="PATH",
                   help="bearer token file, created mode 600 if missing "
                        "(default: ~/.config/agent-coherence/serve-token)")
    p.add_argument("--bind-agents", type=Path, metavar="FILE",
                   help='JSON {"<token>": ["agent", ...]}: tokens that may act only as those agents')
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="TLS certificate (with --tls-key)")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="TLS private key")
    p.add_argument("--read-only", action="store_true",
                   help="refuse every call that changes the store (typed read_only error)")
    p.add_argument("--request-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="per-request limit (default 30); a write past it is reported outcome_unknown")
    p.add_argument("--json", action="store_true",
                   help="announce the address as one JSON line on stdout (url, port, token_file)")


def run(args: argparse.Namespace) -> int:
    try:
        from ccs.server.config import ServeConfig
        from ccs.server.run import serve
    except ImportError as exc:
        print(f"ccs: error [missing_dependency]: {exc.name} is not installed", file=sys.stderr)
        print("  hint: pip install 'agent-coherence[serve]'", file=sys.stderr)
        return 1
    config = ServeConfig(
        engine=args.engine, host=args.host, port=args.port, token_file=args.token_file,
        bind_agents=args.bind_agents, tls_cert=args.tls_cert, tls_key=args.tls_key,
        read_only=args.read_only, request_timeout=args.request_timeout)

    def announce(info: dict) -> None:
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            created = " (created)" if info["token_created"] else ""
            mode = ", read-only" if info["read_only"] else ""
            print(f"ccs serve: listening on {info['url']}{mode}; token in {info['token_file']}{created}",
                  flush=True)

    serve(config, announce)
    return 0
