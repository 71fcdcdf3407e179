r"""One entry point over the benchmark scripts: run them, then write the records, a Markdown table and plots.

    paxflow bench all                                   # word count, joins and the scaling runs (also: python benchmarks/run.py all)
    paxflow bench wordcount --size 64MiB --runs 1       # a quick look
    paxflow bench join --scale 0.1 --engines paxflow,polars,duckdb
    paxflow bench scaling --sizes 128MiB,512MiB,2GiB --cpus 1,2

Benchmarks (the first argument; several may be given, comma-separated):

* wordcount  benchmarks/wordcount.py at --size over the word count engines
* join       benchmarks/join.py at --scale (tpch_revenue) and --rows (join_x_medium) over the join engines
* scaling    word count by Paxflow and Polars (the fastest peer) at each of --sizes, and Paxflow's word count at
             the middle size on a Ray of each of --cpus CPUs: time against input size, and the speed-up per CPU
* real       word count on real text (this machine's installed documentation, --real-size) over Paxflow, Polars,
             DuckDB and the framework's tokenizer in one process
* cli        what the user times, each run a command of its own: `paxflow run` one-shot, `paxflow run` on a
             `paxflow up` service, and the Polars pipeline as a Python script; on the Zipf corpus (--size) and on
             real text (--real-size)
* all        all five

Each script runs as its own process (its own local Ray), in turn, so no engine's leftovers reach the next script.
Into --out (default benchmarks/results) go:

* records.jsonl     every record the scripts printed (one JSON object per benchmark, engine and size)
* table.md          the Markdown table (benchmarks/table.py), with the machine and commit it ran on
* throughput.png    throughput per engine and benchmark (with matplotlib, in the `bench` extra)
* scaling.png       time against input size, and 1 vs N CPUs (scaling runs only)

An engine the machine lacks is skipped with a note in the table; bad options are a one-line error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import table  # noqa: E402

BENCHES = ("wordcount", "join", "scaling", "real", "cli")
WORDCOUNT_ENGINES = ["pyarrow", "pyarrow_mt", "pyarrow_fw", "paxflow", "duckdb", "polars", "polars_csv", "raydata",
                     "dask", "spark", "paxflow_oneshot", "paxflow_service", "polars_csv_script"]
#: what the user times (each run a process of its own: benchmarks/wordcount.py USER_TIMED)
CLI_ENGINES = ["paxflow_oneshot", "paxflow_service", "polars_csv_script"]
REAL_ENGINES = "pyarrow_fw,paxflow,duckdb,polars,polars_csv"
JOIN_ENGINES = ["pyarrow", "paxflow", "duckdb", "polars", "raydata", "dask", "spark"]
SCALING_ENGINES = "paxflow,polars_csv"


def parse_benches(text: str) -> list[str]:
    names = [b.strip().lower() for b in text.split(",") if b.strip()]
    if "all" in names:
        return list(BENCHES)
    unknown = [b for b in names if b not in BENCHES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmark {', '.join(unknown) or '(none)'}: choose from "
                                         f"{', '.join(BENCHES)} or all")
    return list(dict.fromkeys(names))


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [common.parse_size(s.strip()) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected sizes such as 128MiB,512MiB, got {text!r}")
    return sorted(set(sizes))


def parse_cpus(text: str) -> list[int]:
    try:
        cpus = sorted({int(c) for c in text.split(",") if c.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CPU counts such as 1,2, got {text!r}") from None
    if not cpus or cpus[0] < 1:
        raise argparse.ArgumentTypeError(f"expected CPU counts >= 1, got {text!r}")
    return cpus


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paxflow bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benches", type=parse_benches, metavar="wordcount|join|scaling|all")
    p.add_argument("--size", type=common.size_arg, default="512MiB", help="word count corpus size (default 512MiB)")
    p.add_argument("--real-size", type=common.size_arg, default="256MiB",
                   help="real-text corpus size for real and cli (default 256MiB)")
    p.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor for tpch_revenue (default 1)")
    p.add_argument("--rows", type=common.count_arg, default="10M", help="rows of x for join_x_medium (default 10M)")
    p.add_argument("--engines", default=None,
                   help="comma-separated engines to run (default: each script's defaults); a name only one script "
                        f"knows goes to that script. Word count: {','.join(WORDCOUNT_ENGINES)}; joins: "
                        f"{','.join(JOIN_ENGINES)}")
    p.add_argument("--runs", type=int, default=3, help="timed runs per engine; medians are reported (default 3)")
    p.add_argument("--sizes", type=parse_sizes, default="128MiB,512MiB,2GiB",
                   help="corpus sizes of the scaling runs (default 128MiB,512MiB,2GiB)")
    p.add_argument("--cpus", type=parse_cpus, default="1,2",
                   help="Ray CPU counts of the scaling runs' speed-up measurement (default 1,2)")
    p.add_argument("--spark", action="store_true", help="also run Spark local[2] (slow to start)")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="where the results go (default %(default)s)")
    return p


def split_engines(p: argparse.ArgumentParser, text: str | None) -> tuple[str | None, str | None]:
    """--engines split into (word count's, joins') lists; None where the script's default applies."""
    if text is None:
        return None, None
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORDCOUNT_ENGINES and n not in JOIN_ENGINES]
    if unknown or not names:
        p.error(f"--engines: unknown engine {', '.join(unknown) or '(none)'}: choose from "
                f"{', '.join(dict.fromkeys(WORDCOUNT_ENGINES + JOIN_ENGINES))}")
    wc = ",".join(n for n in names if n in WORDCOUNT_ENGINES) or "pyarrow"
    join = ",".join(n for n in names if n in JOIN_ENGINES) or "pyarrow"
    return wc, join


def run_script(script: str, args: list[str]) -> list[dict]:
    """Run one benchmark script as its own process; its records (stdout), its notes passed through (stderr)."""
    cmd = [sys.executable, os.path.join(HERE, script), *args]
    common.log(f"== {' '.join(os.path.relpath(c) if c.endswith('.py') else c for c in cmd[1:])}")
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip().startswith("{")]
    if done.returncode != 0:
        records.append({"bench": script.removesuffix(".py"), "engine": "(script)",
                        "failed": f"{script} exited with {done.returncode}: see its notes above"})
    return records


def plans(ns: argparse.Namespace, p: argparse.ArgumentParser) -> list[tuple[str, str, list[str]]]:
    """(group, script, arguments) of every script run the options ask for, in order."""
    wc_engines, join_engines = split_engines(p, ns.engines)
    common_args = ["--runs", str(ns.runs)] + (["--spark"] if ns.spark else [])
    out: list[tuple[str, str, list[str]]] = []
    chosen = wc_engines.split(",") if wc_engines else None
    if "wordcount" in ns.benches:
        main = [e for e in chosen if e not in CLI_ENGINES] if chosen else None
        if main is None or main:
            out.append(("wordcount", "wordcount.py", ["--size", str(ns.size), *common_args]
                        + (["--engines", ",".join(main)] if main else [])))
    if "real" in ns.benches:
        real = [e for e in chosen if e not in CLI_ENGINES] if chosen else REAL_ENGINES.split(",")
        if real:
            out.append(("real", "wordcount.py", ["--text", "real", "--size", str(ns.real_size), *common_args,
                                                 "--engines", ",".join(real), "--no-reference"]))
    if "cli" in ns.benches:
        timed = [e for e in chosen if e in CLI_ENGINES] if chosen else CLI_ENGINES
        if timed:
            for group, text in (("cli", ["--size", str(ns.size)]), ("cli_real", ["--text", "real", "--size",
                                                                                 str(ns.real_size)])):
                out.append((group, "wordcount.py", [*text, "--runs", str(ns.runs), "--engines", ",".join(timed),
                                                    "--no-reference"]))
    if "join" in ns.benches:
        out.append(("join", "join.py", ["--scale", str(ns.scale), "--rows", str(ns.rows), *common_args]
                    + (["--engines", join_engines] if join_engines else [])))
    if "scaling" in ns.benches:
        for size in ns.sizes:
            out.append(("scaling", "wordcount.py", ["--size", str(size), "--runs", str(ns.runs),
                                                    "--engines", SCALING_ENGINES, "--no-reference"]))
        middle = ns.sizes[len(ns.sizes) // 2]
        for cpus in ns.cpus:
            out.append(("scaling_cpus", "wordcount.py", ["--size", str(middle), "--runs", str(ns.runs),
                                                         "--engines", "paxflow", "--cpus", str(cpus),
                                                         "--no-reference"]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser()
    ns = p.parse_args(argv)
    if ns.runs < 1:
        p.error("--runs: at least 1")
    todo = plans(ns, p)
    try:
        os.makedirs(ns.out, exist_ok=True)
        with open(os.path.join(ns.out, ".writable"), "w"):
            pass
        os.remove(os.path.join(ns.out, ".writable"))
    except OSError as exc:
        p.error(f"--out {ns.out}: {exc.strerror or exc}")
    started = time.time()
    records: list[dict] = []
    for group, script, args in todo:
        for r in run_script(script, args):
            r["group"] = group
            records.append(r)
    path = os.path.join(ns.out, "records.jsonl")
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    md = table.report(records, command="paxflow bench " + " ".join(argv if argv is not None else sys.argv[1:]),
                      elapsed_s=time.time() - started)
    with open(os.path.join(ns.out, "table.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    written = write_plots(records, ns.out)
    common.log(f"wrote {', '.join(os.path.relpath(os.path.join(ns.out, n)) for n in ['records.jsonl', 'table.md', *written])}")
    return 1 if any("failed" in r for r in records) else 0


# ----------------------------------------------------------------------------------------------------- plots


def throughput_of(r: dict) -> tuple[float, str] | None:
    if "wall_s_median" not in r:
        return None
    if r.get("rows_per_s"):
        return r["rows_per_s"] / 1e6, "M rows/s"
    return r["mb_per_s"], "MB/s"


def write_plots(records: list[dict], out: str) -> list[str]:
    """throughput.png (and scaling.png when there are scaling runs); [] with a note where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        common.log("note: matplotlib is not installed (pip install -e '.[bench]'), so no plots")
        return []
    written = []
    main_records = [r for r in records if r.get("group") in ("wordcount", "join") and throughput_of(r)]
    benches = list(dict.fromkeys(r["bench"] for r in main_records))
    if benches:
        fig, axes = plt.subplots(1, len(benches), figsize=(5.2 * len(benches), 3.8), squeeze=False)
        for ax, bench in zip(axes[0], benches):
            rows = sorted((r for r in main_records if r["bench"] == bench), key=lambda r: throughput_of(r)[0])
            values = [throughput_of(r)[0] for r in rows]
            colors = ["tab:red" if r["engine"] == "paxflow" else "tab:gray" for r in rows]
            ax.barh([r["engine"] for r in rows], values, color=colors)
            ax.set_title(bench)
            ax.set_xlabel(throughput_of(rows[0])[1] + " (median)")
            for y, v in enumerate(values):
                ax.text(v, y, f" {v:.3g}", va="center", fontsize=8)
            ax.margins(x=0.2)
        written.append(_save(plt, fig, records, out, "throughput.png"))
    sizes = [r for r in records if r.get("group") == "scaling" and "wall_s_median" in r]
    cpus = [r for r in records if r.get("group") == "scaling_cpus" and "wall_s_median" in r and r["engine"] == "paxflow"]
    if sizes or cpus:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.4, 3.8))
        for engine in dict.fromkeys(r["engine"] for r in sizes):
            pts = sorted((r["input_bytes"] / 2**20, r["wall_s_median"]) for r in sizes if r["engine"] == engine)
            a1.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=engine)
            if engine == "paxflow" and pts:
                x0, y0 = pts[0]
                a1.plot([x for x, _ in pts], [y0 * x / x0 for x, _ in pts], ls="--", color="gray",
                        label="paxflow, linear from the smallest")
        a1.set_xscale("log", base=2)
        a1.set_yscale("log", base=2)
        a1.set_xlabel("corpus MiB")
        a1.set_ylabel("median seconds")
        a1.set_title("word count: time against input size")
        a1.legend(fontsize=8)
        pts = sorted((r["config"]["ray_cpus"], r["wall_s_median"]) for r in cpus)
        if pts:
            (c0, base) = pts[0]
            a2.plot([c for c, _ in pts], [base / t for _, t in pts], marker="o", color="tab:red", label="paxflow")
            a2.plot([c for c, _ in pts], [c / c0 for c, _ in pts], ls="--", color="gray", label="linear")
            a2.set_xticks([c for c, _ in pts])
            a2.set_xlabel("Ray CPUs")
            a2.set_ylabel(f"speed-up over {c0} CPU(s)")
            a2.set_title(f"word count at {_mib(cpus[0]['input_bytes'])}: speed-up by CPUs")
            a2.legend(fontsize=8)
        written.append(_save(plt, fig, records, out, "scaling.png"))
    return written


def _save(plt, fig, records: list[dict], out: str, name: str) -> str:
    """Caption (machine and commit), layout, write `out/name`, free the figure; the name written."""
    fig.suptitle(_caption(records), fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=110)
    plt.close(fig)
    return name


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _caption(records: list[dict]) -> str:
    m = next((r["machine"] for r in records if r.get("machine")), {})
    return f"{m.get('cpus', '?')} CPUs, {m.get('mem_gib', '?')} GiB, commit {m.get('commit') or '?'}"


if __name__ == "__main__":
    sys.exit(main())
