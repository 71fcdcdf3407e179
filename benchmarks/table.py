"""Turn benchmark JSON lines into a Markdown table (one row per benchmark and engine).

    python benchmarks/wordcount.py > wc.jsonl && python benchmarks/join.py > join.jsonl
    python benchmarks/table.py wc.jsonl join.jsonl          # or: ... | python benchmarks/table.py
"""

from __future__ import annotations

import argparse
import json
import sys


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def rows_of(records: list[dict]) -> list[str]:
    out = ["| bench | engine | median s | runs (s) | throughput | × pyarrow | CPU s | peak RSS / PSS MB | agrees |",
           "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | :---: |"]
    for r in records:
        if "wall_s_median" not in r:
            why = r.get("skipped") or f"failed: {r.get('failed')}"
            out.append(f"| {r.get('bench')} | {r.get('engine')} | {why} | | | | | | |")
            continue
        if r.get("rows_per_s"):
            throughput = f"{r['rows_per_s'] / 1e6:.2f} M rows/s"
        else:
            throughput = f"{r['mb_per_s']:.1f} MB/s"
        runs = ", ".join(f"{t:.1f}" for t in r["wall_s_runs"])
        memory = f"{fmt(r.get('peak_rss_mb'), 0)} / {fmt(r.get('peak_pss_mb'), 0)}"
        out.append(f"| {r['bench']} | {r['engine']} | {r['wall_s_median']:.2f} | {runs} | {throughput} | "
                   f"{fmt(r.get('ratio_vs_pyarrow'))} | {fmt(r.get('cpu_s_median'), 1)} | {memory} | "
                   f"{fmt(r.get('agrees'))} |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="JSON-lines files (default: stdin)")
    args = parser.parse_args(argv)
    records = []
    for f in args.files or ["-"]:
        stream = sys.stdin if f == "-" else open(f)
        with stream:
            records += [json.loads(line) for line in stream if line.strip().startswith("{")]
    print("\n".join(rows_of(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
