"""One command line for every generator: `python datasets/generate.py zipf|tpch|join [options] -o DIR`.

This module owns only the dispatch: each generator module defines its own options (`add_arguments`) and its
command (`run`), and this CLI mounts them as subcommands, so `generate.py zipf ...` and `zipf.py ...` accept the
same options. Sizes (`--size 512MiB`, `64M`, `1G`) are parsed by `common.parse_size`, row counts (`-n 1e7`) by
`common.parse_count`.

Examples:
    python datasets/generate.py zipf --size 512MiB -o data/corpus
    python datasets/generate.py tpch --scale 1 -o data/tpch-sf1
    python datasets/generate.py join -n 1e7 -o data/join-1e7
    python datasets/generate.py realtext --size 256MiB -o data/realtext
"""

from __future__ import annotations

import argparse
import os
import sys

from framework.datagen import dbbench, realtext, tpch, zipf


def build_parser() -> argparse.ArgumentParser:
    # `paxflow gen ...` hands its arguments to main(); name the command the user typed in usage messages.
    prog = "paxflow gen" if os.path.basename(sys.argv[0]) == "paxflow" else "generate.py"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Generate Paxflow's benchmark data sets (deterministic for a given --seed).",
    )
    commands = parser.add_subparsers(dest="generator", required=True, metavar="{zipf,tpch,join,realtext}")
    zipf.add_arguments(commands.add_parser("zipf", help="Zipf-distributed text corpus (word count input)"))
    tpch.add_arguments(commands.add_parser("tpch", help="TPC-H-shaped orders and lineitem as Parquet"))
    dbbench.add_arguments(commands.add_parser("join", help="db-benchmark join tables x/small/medium/big as Parquet"))
    realtext.add_arguments(commands.add_parser("realtext", help="real text: the documentation installed on this machine"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.generator == "zipf":
        zipf.run(args)
    elif args.generator == "tpch":
        tpch.run(args)
    elif args.generator == "realtext":
        realtext.run(args)
    else:
        dbbench.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
