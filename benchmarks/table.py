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
    out = ["| bench | engine | median s | runs (s) | throughput | × ref | CPU s | peak RSS / PSS MB | agrees |",
           "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | :---: |"]
    for r in records:
        if "wall_s_median" not in r:
            why = r.get("skipped") or f"failed: {r.get('failed')}"
            out.append(f"| {_bench_label(r)} | {r.get('engine')} | {why} | | | | | | |")
            continue
        if r.get("rows_per_s"):
            throughput = f"{r['rows_per_s'] / 1e6:.2f} M rows/s"
        else:
            throughput = f"{r['mb_per_s']:.1f} MB/s"
        runs = ", ".join(f"{t:.1f}" for t in r["wall_s_runs"])
        memory = f"{fmt(r.get('peak_rss_mb'), 0)} / {fmt(r.get('peak_pss_mb'), 0)}"
        out.append(f"| {_bench_label(r)} | {r['engine']} | {r['wall_s_median']:.2f} | {runs} | {throughput} | "
                   f"{fmt(r.get('ratio_vs_pyarrow'))} | {fmt(r.get('cpu_s_median'), 1)} | {memory} | "
                   f"{fmt(r.get('agrees'))} |")
    return out


#: groups of `paxflow bench` whose rows go into the main table, and the label their bench gets there
LABELS = {"wordcount": "", "join": "", "real": " (real text)", "cli": " (as the user runs it)",
          "cli_real": " (real text, as the user runs it)"}


def _bench_label(r: dict) -> str:
    return f"{r.get('bench')}{LABELS.get(r.get('group', 'wordcount'), '')}"


def _size(n: int | None) -> str:
    if not n:
        return "–"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def report(records: list[dict], command: str | None = None, elapsed_s: float | None = None) -> str:
    """The whole Markdown report `paxflow bench` writes: where it ran, the table, Paxflow against the fastest
    Polars formulation per benchmark and input, and the scaling runs."""
    m = next((r["machine"] for r in records if r.get("machine")), {})
    lines = []
    if command:
        lines.append(f"`{command}`" + (f" ({elapsed_s / 60:.0f} min)" if elapsed_s else ""))
    lines.append(f"Machine: {m.get('cpus', '?')} CPUs, {m.get('mem_gib', '?')} GiB, Python {m.get('python', '?')}; "
                 f"commit {m.get('commit') or '?'}. Medians of the timed runs; `paxflow` runs on a warm local Ray in "
                 f"the benchmark's process, `paxflow_oneshot` / `paxflow_service` / `polars_csv_script` are commands "
                 f"of their own (timed end to end, as the user times them). × ref: time against the run's reference "
                 f"engine (pyarrow; in the real-text and as-the-user-runs-it rows, the first engine listed), whose "
                 f"result every other engine's must agree with.")
    lines.append("")
    main_rows = [r for r in records if r.get("group", "wordcount") in LABELS]
    lines += rows_of(main_rows)
    versus = []
    for group in (*LABELS, "scaling"):  # side by side: only records of the same script run
        mine = [r for r in records if r.get("group", "wordcount") == group and "wall_s_median" in r]
        for bench in dict.fromkeys(r["bench"] for r in mine):
            for size in sorted({r.get("input_bytes") or 0 for r in mine if r["bench"] == bench}):
                same = [r for r in mine if r["bench"] == bench and (r.get("input_bytes") or 0) == size]
                polars = sorted((r for r in same if r["engine"].startswith("polars")), key=lambda r: r["wall_s_median"])
                for p in (r for r in same if r["engine"].startswith("paxflow")):
                    if not polars:
                        break
                    q = polars[0]
                    name = "" if p["engine"] == "paxflow" else f" ({p['engine']})"
                    versus.append(f"| {bench}{name} | {_size(size)} | {group} | {p['wall_s_median']:.2f} | {q['engine']} "
                                  f"{q['wall_s_median']:.2f} | {p['wall_s_median'] / q['wall_s_median']:.2f} | "
                                  f"{fmt(p.get('peak_pss_mb'), 0)} / {fmt(q.get('peak_pss_mb'), 0)} |")
    if versus:
        lines += ["", "Paxflow against the fastest Polars formulation that ran (time ratio < 1: Paxflow is faster):",
                  "", "| bench | input | run | Paxflow s | fastest Polars s | Paxflow / Polars | peak PSS MB (Paxflow / Polars) |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: |", *versus]
    cpus = sorted((r["config"]["ray_cpus"], r["wall_s_median"], r.get("input_bytes")) for r in records
                  if r.get("group") == "scaling_cpus" and "wall_s_median" in r)
    if cpus:
        base = cpus[0][1]
        lines += ["", f"Paxflow word count at {_size(cpus[0][2])} by Ray CPUs:", "",
                  f"| CPUs | median s | speed-up over {cpus[0][0]} CPU(s) |", "| ---: | ---: | ---: |"]
        lines += [f"| {c} | {t:.2f} | {base / t:.2f} |" for c, t, _ in cpus]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="JSON-lines files (default: stdin)")
    parser.add_argument("--report", action="store_true",
                        help="the whole report paxflow bench writes (table.md), not only the table")
    args = parser.parse_args(argv)
    records = []
    for f in args.files or ["-"]:
        stream = sys.stdin if f == "-" else open(f)
        with stream:
            records += [json.loads(line) for line in stream if line.strip().startswith("{")]
    print(report(records) if args.report else "\n".join(rows_of(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
