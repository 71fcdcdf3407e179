r"""Joins: TPC-H revenue by order priority, and the db-benchmark x JOIN medium, Paxflow against peer engines.

    python benchmarks/join.py                                    # both benchmarks, default sizes, 3 timed runs
    python benchmarks/join.py --bench tpch_revenue --scale 1     # (a) only, TPC-H SF1
    python benchmarks/join.py --bench join_x_medium --rows 10M   # (b) only, x with 10M rows
    python benchmarks/join.py --engines paxflow,pyarrow,duckdb,polars --runs 3
    python benchmarks/join.py --spark                            # also Spark local[2] (slow to start)

(a) tpch_revenue: lineitem JOIN orders ON l_orderkey = o_orderkey, then per o_orderpriority the number of line
    items and the sum of l_extendedprice (5 output rows). Paxflow runs jobs/revenue_by_priority.py. Every engine
    reads only the two columns it needs from each table (Parquet, generated once by framework.datagen.tpch).
    Engines: pyarrow (pq.read_table + Table.join + Table.group_by; Arrow's default thread pool), paxflow, duckdb
    (SQL, threads=2), polars (lazy scan_parquet, join, group_by), raydata (read_parquet, Dataset.join with 4
    partitions, groupby aggregate), dask (read_parquet, merge, groupby agg; threaded scheduler, 2 workers) and,
    with --spark, Spark local[2].
(b) join_x_medium: the generic join job, `jobs/join.py --on id2 --how inner`, on db-benchmark tables x (--rows
    rows) and medium (rows / 1000), generated once by framework.datagen.dbbench. This is db-benchmark's
    "medium inner on int" question, which joins on id2 (medium has only ~10 distinct id1 values, so a join on id1
    would produce ~1000 rows per row of x). Every engine writes the joined rows to Parquet, as Paxflow does.
    Engines: pyarrow (read, Table.join, pq.write_table), paxflow, duckdb (COPY ... TO parquet), polars
    (scan_parquet, join, sink_parquet).

Each engine gets one untimed warm-up run on small inputs (TPC-H SF0.01, x with 100k rows); then `--runs` rounds
each time every engine once in turn (interleaved); Ray Data and Spark are warmed up and timed after those rounds.
Results are cross-checked against the pyarrow baseline: (a) the line count per priority exactly and the revenue
per priority to a relative 1e-9; (b) the number of output rows exactly and sum(v1), sum(v2) to a relative 1e-9.
One JSON line per (benchmark, engine) goes to stdout; notes go to stderr.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER before anything imports ray)

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

BENCHES = ["tpch_revenue", "join_x_medium"]
TPCH_ENGINES = ["pyarrow", "paxflow", "duckdb", "polars", "raydata", "dask", "spark"]
JOIN_ENGINES = ["pyarrow", "paxflow", "duckdb", "polars"]
DEFAULT_ENGINES = "pyarrow,paxflow,duckdb,polars,raydata,dask"
REL_TOL = 1e-9


# ------------------------------------------------------------------------------------------- (a) TPC-H


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def tpch_pyarrow(li: list[str], od: list[str]) -> pa.Table:
    lineitem = pq.read_table(li, columns=["l_orderkey", "l_extendedprice"])
    orders = pq.read_table(od, columns=["o_orderkey", "o_orderpriority"])
    joined = lineitem.join(orders, keys="l_orderkey", right_keys="o_orderkey", join_type="inner")
    out = joined.group_by("o_orderpriority").aggregate([([], "count_all"), ("l_extendedprice", "sum")])
    return out.select(["o_orderpriority", "count_all", "l_extendedprice_sum"]).rename_columns(
        ["o_orderpriority", "order_lines", "revenue"])


def tpch_duckdb(li: list[str], od: list[str]) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        return con.sql(f"""
            SELECT o_orderpriority, count(*) AS order_lines, sum(l_extendedprice) AS revenue
            FROM read_parquet({_sql_list(li)}) JOIN read_parquet({_sql_list(od)}) ON l_orderkey = o_orderkey
            GROUP BY o_orderpriority
        """).to_arrow_table()
    finally:
        con.close()


def tpch_polars(li: list[str], od: list[str]) -> pa.Table:
    import polars as pl

    lineitem = pl.scan_parquet(li).select("l_orderkey", "l_extendedprice")
    orders = pl.scan_parquet(od).select("o_orderkey", "o_orderpriority")
    out = (lineitem.join(orders, left_on="l_orderkey", right_on="o_orderkey", how="inner")
           .group_by("o_orderpriority")
           .agg(pl.len().alias("order_lines"), pl.col("l_extendedprice").sum().alias("revenue"))
           .collect())
    return out.to_arrow()


def tpch_raydata(li: list[str], od: list[str]) -> pa.Table:
    import ray.data
    from ray.data.aggregate import Count, Sum

    common.init_ray()
    _quiet_ray_data()
    lineitem = ray.data.read_parquet(li).select_columns(["l_orderkey", "l_extendedprice"])
    orders = ray.data.read_parquet(od).select_columns(["o_orderkey", "o_orderpriority"])
    joined = lineitem.join(orders, join_type="inner", num_partitions=2 * common.RAY_CPUS, on=("l_orderkey",),
                           right_on=("o_orderkey",))
    out = joined.groupby("o_orderpriority", num_partitions=2 * common.RAY_CPUS).aggregate(
        Count(alias_name="order_lines"), Sum("l_extendedprice", alias_name="revenue"))
    return pa.Table.from_pandas(out.to_pandas(), preserve_index=False)


def tpch_dask(li: list[str], od: list[str]) -> pa.Table:
    import dask
    import dask.dataframe as dd

    lineitem = dd.read_parquet(li, columns=["l_orderkey", "l_extendedprice"])
    orders = dd.read_parquet(od, columns=["o_orderkey", "o_orderpriority"])
    joined = lineitem.merge(orders, left_on="l_orderkey", right_on="o_orderkey", how="inner")
    out = joined.groupby("o_orderpriority").agg(order_lines=("l_orderkey", "count"),
                                                 revenue=("l_extendedprice", "sum"))
    with dask.config.set(scheduler="threads", num_workers=2):
        df = out.compute().reset_index()
    return pa.Table.from_pandas(df, preserve_index=False)


def tpch_spark(li: list[str], od: list[str]) -> pa.Table:
    from pyspark.sql import functions as F

    spark = common.Spark.get()
    lineitem = spark.read.parquet(*li).select("l_orderkey", "l_extendedprice")
    orders = spark.read.parquet(*od).select("o_orderkey", "o_orderpriority")
    rows = (lineitem.join(orders, lineitem.l_orderkey == orders.o_orderkey, "inner")
            .groupBy("o_orderpriority")
            .agg(F.count(F.lit(1)).alias("order_lines"), F.sum("l_extendedprice").alias("revenue"))
            .collect())
    return pa.Table.from_pylist([r.asDict() for r in rows])


def tpch_summary(result) -> dict:
    """{priority: (order_lines, revenue)} of any engine's output."""
    table = result.read() if hasattr(result, "job_id") else result
    rows = table.select(["o_orderpriority", "order_lines", "revenue"]).to_pylist()
    return {r["o_orderpriority"]: (int(r["order_lines"]), float(r["revenue"])) for r in rows}


def tpch_agrees(summary: dict, reference: dict) -> bool:
    if summary.keys() != reference.keys():
        return False
    return all(summary[k][0] == reference[k][0] and math.isclose(summary[k][1], reference[k][1], rel_tol=REL_TOL)
               for k in reference)


# ------------------------------------------------------------------------------------------- (b) x JOIN medium


def xm_pyarrow(x: str, medium: str, on: str, out: str) -> str:
    left, right = pq.read_table(x), pq.read_table(medium)
    joined = left.join(right, keys=on, join_type="inner", left_suffix="_left", right_suffix="_right")
    path = os.path.join(out, "part-0.parquet")
    pq.write_table(joined, path)
    return out


def xm_duckdb(x: str, medium: str, on: str, out: str) -> str:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        path = os.path.join(out, "part-0.parquet").replace("'", "''")
        con.execute(f"""
            COPY (SELECT * FROM read_parquet('{x}') AS x JOIN read_parquet('{medium}') AS m USING ({on}))
            TO '{path}' (FORMAT parquet)
        """)
    finally:
        con.close()
    return out


def xm_polars(x: str, medium: str, on: str, out: str) -> str:
    import polars as pl

    (pl.scan_parquet(x).join(pl.scan_parquet(medium), on=on, how="inner", suffix="_right")
     .sink_parquet(os.path.join(out, "part-0.parquet")))
    return out


def xm_summary(folder: str) -> dict:
    files = [f for f in glob.glob(os.path.join(folder, "*.parquet"))]
    table = pq.read_table(files, columns=["v1", "v2"]) if files else pa.table({"v1": [], "v2": []})
    return {"rows": table.num_rows, "sum_v1": float(pc.sum(table["v1"]).as_py() or 0.0),
            "sum_v2": float(pc.sum(table["v2"]).as_py() or 0.0)}


def xm_agrees(summary: dict, reference: dict) -> bool:
    return (summary["rows"] == reference["rows"]
            and math.isclose(summary["sum_v1"], reference["sum_v1"], rel_tol=REL_TOL)
            and math.isclose(summary["sum_v2"], reference["sum_v2"], rel_tol=REL_TOL))


# ------------------------------------------------------------------------------------------- shared


def _quiet_ray_data() -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="join.py", description=__doc__,
        epilog="Prints one JSON line per benchmark and engine on stdout; see benchmarks/README.md for the fields.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=",".join(BENCHES),
                        help=f"comma-separated, from {','.join(BENCHES)} (default both)")
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor for tpch_revenue (default 1)")
    parser.add_argument("--rows", type=common.count_arg, default="10M",
                        help="rows of x for join_x_medium, e.g. 10M (default), 1M; medium has rows/1000")
    parser.add_argument("--on", default="id2",
                        help="join key for join_x_medium (default id2, db-benchmark's medium question)")
    parser.add_argument("--engines", default=DEFAULT_ENGINES,
                        help=f"comma-separated, from {','.join(TPCH_ENGINES)} (default {DEFAULT_ENGINES}; "
                             f"join_x_medium runs only {','.join(JOIN_ENGINES)}; pyarrow always runs first as "
                             "the reference)")
    common.add_common_arguments(parser)
    args = parser.parse_args(argv)
    common.apply_common_arguments(parser, args)
    common.begin()
    engines = common.selected_engines(parser, args, TPCH_ENGINES)
    benches = [b.strip() for b in args.bench.split(",") if b.strip()]
    if any(b not in BENCHES for b in benches):
        parser.error(f"--bench: choose from {', '.join(BENCHES)}")

    tmp = tempfile.mkdtemp(prefix="paxflow-bench-join-")
    paxflow = common.PaxflowRunner() if "paxflow" in engines else None
    try:
        if "tpch_revenue" in benches:
            bench_tpch(args, engines, paxflow)
        if "join_x_medium" in benches:
            bench_join_x_medium(args, [e for e in engines if e in JOIN_ENGINES], paxflow, tmp)
    finally:
        if paxflow is not None:
            paxflow.close()
        common.Spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


#: run after the interleaved rounds (see wordcount.py): Ray Data leaves state in the shared Ray, Spark a JVM
NOT_INTERLEAVED = ("raydata", "spark")
MEMORY_MODES = {"paxflow": "ray", "raydata": "ray", "spark": "spark"}


def _bench_engines(bench: str, names: list[str], bodies: dict, summarize, agrees, input_bytes: int,
                   input_rows: int, runs: int, extra: dict) -> None:
    """Build the engines, run them interleaved (common.run_interleaved) and emit one record per engine.

    bodies: {engine: (timed(), warm(), config)}; summarize(result) -> what `agrees` compares with pyarrow's.
    """
    engines = []
    for name in names:
        timed, warm, config = bodies[name]
        pax = name == "paxflow"
        engines.append(common.Engine(
            name, timed=timed, warm=warm, summarize=summarize, memory_mode=MEMORY_MODES.get(name, "process"),
            seconds_of=(lambda r: r.wall_s) if pax else None, extra_of=(lambda r: r.bench) if pax else None,
            config=config, interleave=name not in NOT_INTERLEAVED))
    common.run_interleaved(bench, engines, runs)
    reference = engines[0] if engines[0].runs else None
    for e in engines:
        if not e.runs:
            common.emit(common.not_run_record(bench, e, input_bytes=input_bytes, input_rows=input_rows, **extra))
            continue
        record = common.base_record(bench, e, reference, agrees, input_bytes)
        record["input_rows"] = input_rows
        record["rows_per_s"] = round(input_rows / e.median)
        record["result"] = e.summaries[-1]
        if e.name == "paxflow":
            record["output_rows"] = e.last_result.output_rows
            record.update(common.paxflow_extra(e))
        if e.name == "spark":
            record["startup_s"] = round(common.Spark.startup_s, 3)
        if e.failed:
            record["failed"] = e.failed
        record.update(extra, config=e.config, machine=common.machine())
        common.emit(record)


def bench_tpch(args, engines: list[str], paxflow) -> None:
    bench = "tpch_revenue"
    folder = common.tpch(args.scale)
    li, od = common.files_under(os.path.join(folder, "lineitem")), common.files_under(os.path.join(folder, "orders"))
    warm_folder = common.tpch(0.01)
    wli = common.files_under(os.path.join(warm_folder, "lineitem"))
    wod = common.files_under(os.path.join(warm_folder, "orders"))
    input_bytes = common.total_bytes(li + od)
    input_rows = common.parquet_rows(li) + common.parquet_rows(od)
    log(f"tpch SF{args.scale:g} {folder}: {common.parquet_rows(li):,} line items, {common.parquet_rows(od):,} orders")
    job = os.path.join(common.JOBS, "revenue_by_priority.py")
    functions = {
        "pyarrow": (tpch_pyarrow, {"threads": "Arrow default thread pool (2)"}),
        "paxflow": (lambda a, b: paxflow.run(job, {"lineitem": a, "orders": b}),
                    {"ray_cpus": common.RAY_CPUS, "job": "jobs/revenue_by_priority.py"}),
        "duckdb": (tpch_duckdb, {"threads": 2}),
        "polars": (tpch_polars, {"engine": "default", "threads": "default (one per CPU)"}),
        "raydata": (tpch_raydata, {"ray_cpus": common.RAY_CPUS, "partitions": 2 * common.RAY_CPUS}),
        "dask": (tpch_dask, {"scheduler": "threads", "num_workers": 2}),
        "spark": (tpch_spark, {"master": "local[2]"}),
    }
    bodies = {name: (lambda fn=fn: fn(li, od), lambda fn=fn: fn(wli, wod), config)
              for name, (fn, config) in functions.items()}
    _bench_engines(bench, engines, bodies, tpch_summary, tpch_agrees, input_bytes, input_rows, args.runs,
                   {"scale": args.scale})


def bench_join_x_medium(args, engines: list[str], paxflow, tmp: str) -> None:
    bench = "join_x_medium"
    folder = common.join_tables(args.rows)
    x, medium = os.path.join(folder, "x.parquet"), os.path.join(folder, "medium.parquet")
    warm_folder = common.join_tables(100_000)
    wx, wmedium = os.path.join(warm_folder, "x.parquet"), os.path.join(warm_folder, "medium.parquet")
    input_bytes = common.total_bytes([x, medium])
    input_rows = common.parquet_rows([x, medium])
    log(f"db-benchmark join tables {folder}: x {common.parquet_rows([x]):,} rows, medium "
        f"{common.parquet_rows([medium]):,} rows; on {args.on}")
    job = os.path.join(common.JOBS, "join.py")
    job_args = ["--on", args.on, "--how", "inner"]
    counter = [0]

    def out_dir() -> str:
        counter[0] += 1
        path = os.path.join(tmp, f"xm-{counter[0]}")
        os.makedirs(path)
        return path

    def peer(fn):
        return lambda a, b: fn(a, b, args.on, out_dir())

    functions = {
        "pyarrow": (peer(xm_pyarrow), {"steps": "read_table, Table.join (Arrow default threads), write_table"}),
        "paxflow": (lambda a, b: paxflow.run(job, {"left": a, "right": b}, args=job_args),
                    {"ray_cpus": common.RAY_CPUS, "job": "jobs/join.py " + " ".join(job_args)}),
        "duckdb": (peer(xm_duckdb), {"threads": 2, "steps": "COPY (SELECT ... JOIN ... USING) TO parquet"}),
        "polars": (peer(xm_polars), {"steps": "scan_parquet, join, sink_parquet"}),
    }
    previous: dict[str, str] = {}

    def timed(name: str, fn):
        old = previous.pop(name, None)
        if old and old.startswith(tmp):
            shutil.rmtree(old, ignore_errors=True)  # keep only the latest run's output on disk
        result = fn(x, medium)
        if isinstance(result, str):
            previous[name] = result
        return result

    def summarize(result) -> dict:
        return xm_summary(result.output if hasattr(result, "job_id") else result)

    bodies = {name: (lambda name=name, fn=fn: timed(name, fn), lambda fn=fn: fn(wx, wmedium), config)
              for name, (fn, config) in functions.items()}
    _bench_engines(bench, engines, bodies, summarize, xm_agrees, input_bytes, input_rows, args.runs,
                   {"x_rows": args.rows, "on": args.on, "how": "inner"})


log = common.log

if __name__ == "__main__":
    sys.exit(main())
