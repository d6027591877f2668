"""Tokens a refused write costs the model: a conflict packet against re-sending the artifact.

The measurement is ``ccs.sim.packets.measure_all`` (see its docstring), the same one ``ccs bench``
puts in the token report; this script runs it on its own, optionally with a packet budget, and
prints the report's table and the JSON. Tokens are counted with ccs.tokens' default counter
(tiktoken cl100k_base, offline), named in the output.

    python benchmarks/conflict_packets.py            # table + JSON on stdout
    python benchmarks/conflict_packets.py --json out.json --budget 400
"""

from __future__ import annotations

import argparse
import json
import sys

from ccs.sim.packets import measure_all
from ccs.sim.report import packet_intro, packet_table
from ccs.tokens.counter import default_counter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the JSON result to this file")
    parser.add_argument("--budget", type=int, default=None,
                        help="packet token budget (default: none, the whole packet)")
    args = parser.parse_args(argv)
    result = {"packets": measure_all(default_counter(), budget=args.budget)}
    print(f"Conflict packet against re-sending the artifact: {packet_intro(result)}.\n")
    print(packet_table(result))
    text = json.dumps(result["packets"], indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
