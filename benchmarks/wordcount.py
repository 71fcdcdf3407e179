r"""Word count on a Zipf text corpus: Paxflow (jobs/wordcount.py on a local 2-CPU Ray) against peer engines.

    python benchmarks/wordcount.py                          # 512 MiB corpus, default engines, 3 timed runs each
    python benchmarks/wordcount.py --size 64MiB --runs 3    # a quick run
    python benchmarks/wordcount.py --engines paxflow,pyarrow,duckdb,polars
    python benchmarks/wordcount.py --spark                  # also Spark local[2] (slow to start)

Every engine computes the same thing as jobs/wordcount.py: words are maximal runs of Unicode letters and digits
(RE2 `[\p{L}\p{N}]+`), lowercased with Unicode rules; the output is one row per distinct word with its count.
The corpus (vocabulary ~1M words, Zipf exponent 1.1, 4 files) is generated once by framework.datagen.zipf into
the benchmark data cache (see common.py).

Engines (`--engines`; the pyarrow baseline always runs first: every ratio and agreement check refers to it):

* pyarrow     single process, one thread: files read in 32 MiB blocks cut at newlines, each block tokenised with
              pyarrow.compute (utf8_lower, split_pattern_regex on `[^\p{L}\p{N}]+`, drop "") and counted with
              value_counts; the per-block counts are merged with Table.group_by(...).aggregate(sum).
* pyarrow_mt  the same blocks tokenised and counted by 2 threads (pyarrow kernels release the GIL).
* pyarrow_fw  the pyarrow baseline (one thread) with Paxflow's own tokenizer, framework.text.words, in place of
              the regex one: what the word count job's map function costs without the framework around it.
* paxflow     jobs/wordcount.py via framework.client.run(executor="ray"), output Parquet to a temporary folder.
              Timed as RunResult.wall_s: submission to commit (Ray start-up excluded; one warm-up job before).
* duckdb      SQL, threads=2: read_csv of one VARCHAR column, regexp_split_to_table(lower(line)), GROUP BY.
* polars      lazy scan_lines -> str.to_lowercase().str.extract_all(`[\p{L}\p{N}]+`) -> explode -> group_by len,
              collected with the streaming engine.
* polars_csv  the same pipeline over scan_csv of one String column (separator 0x1f, no quoting): Polars' faster
              line reader here.
* raydata     Ray Data on the same Ray: read_text -> map_batches(pyarrow tokenizer + per-batch value_counts, i.e.
              a map-side combiner like Paxflow's) -> groupby(word, num_partitions=4).sum(count) ->
              materialize (Ray Data's default of 200 shuffle partitions is ~3x slower on 2 CPUs).
* dask        dask.dataframe read_csv (32 MB blocks) -> map_partitions(pyarrow tokenizer + value_counts) ->
              groupby(word).sum(), threaded scheduler with 2 workers.
* spark       (only with --spark) Spark local[2]: read.text -> explode(split(lower(value))) -> groupBy.count ->
              write Parquet.

Each engine gets one untimed warm-up run on a small (8 MiB) corpus; then `--runs` rounds each time every engine
once in turn (interleaved, so a busy spell on a shared machine hits all engines alike). Ray Data and Spark are
warmed up and timed only after those rounds (Ray Data leaves state in the shared Ray that slowed Paxflow's next
runs in trials; Spark keeps a JVM alive). One JSON line per engine goes to stdout, after the last round; progress
notes go to stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER before anything imports ray)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

BENCH = "wordcount"
NOT_WORD = r"[^\p{L}\p{N}]+"
WORD = r"[\p{L}\p{N}]+"
BLOCK_BYTES = 32 << 20
WARMUP_SIZE = 8 << 20
ENGINES = ["pyarrow", "pyarrow_mt", "pyarrow_fw", "paxflow", "duckdb", "polars", "polars_csv", "raydata", "dask",
           "spark", "paxflow_oneshot", "paxflow_service", "polars_csv_script"]
#: what the user times, each a command of its own: `paxflow run` with a one-shot Ray, `paxflow run` on a service
#: (`paxflow up` first; it is started for the rounds when none runs, and stopped after), and the Polars pipeline
#: as a Python script writing Parquet. Run them apart from the in-process engines (`--engines` of these only).
USER_TIMED = ("paxflow_oneshot", "paxflow_service", "polars_csv_script")
DEFAULT_ENGINES = "pyarrow,pyarrow_mt,pyarrow_fw,paxflow,duckdb,polars,polars_csv,raydata,dask"
#: run after the interleaved rounds: Ray Data leaves state in the shared Ray that slowed Paxflow's next runs down
#: by up to 5x in trials; Spark keeps a JVM with a 6 GB heap alive
NOT_INTERLEAVED = ("raydata", "spark")


# ------------------------------------------------------------------------------------------- pyarrow tokenizer


def tokenize(lines: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Every word, lowercased: the same rule as framework.text.words, written here with plain pyarrow.compute."""
    tokens = pc.list_flatten(pc.split_pattern_regex(pc.utf8_lower(lines), NOT_WORD))
    return tokens.filter(pc.not_equal(tokens, ""))


def count_words(lines: pa.Array | pa.ChunkedArray, tokenizer=tokenize) -> pa.Table:
    """(word, count) for one batch of lines."""
    counted = pc.value_counts(tokenizer(lines))
    return pa.table({"word": counted.field("values"), "count": counted.field("counts")})


def merge_counts(tables: list[pa.Table]) -> pa.Table:
    merged = pa.concat_tables(tables).group_by("word").aggregate([("count", "sum")])
    return merged.select(["word", "count_sum"]).rename_columns(["word", "count"])


def line_blocks(path: str, block_bytes: int = BLOCK_BYTES):
    """The file's lines as string arrays of about `block_bytes` each (each line keeps its '\\n', which is not a
    word character). Zero-copy over a memory map; newlines found with numpy; UTF-8 validated per block."""
    with pa.memory_map(path) as f:
        buf = f.read_buffer()
    data = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(data == 10) + 1  # one past each newline
    if len(data) and (len(ends) == 0 or ends[-1] != len(data)):
        ends = np.append(ends, len(data))  # a last line without a newline
    start_line = 0
    start_byte = 0
    while start_line < len(ends):
        stop_line = int(np.searchsorted(ends, start_byte + block_bytes, side="right"))
        stop_line = max(stop_line, start_line + 1)
        offsets = np.concatenate([[0], ends[start_line:stop_line] - start_byte]).astype(np.int32)
        stop_byte = int(ends[stop_line - 1])
        arr = pa.StringArray.from_buffers(stop_line - start_line, pa.py_buffer(offsets),
                                          buf.slice(start_byte, stop_byte - start_byte))
        arr.validate(full=True)  # checks the UTF-8, as every other engine's reader does
        yield arr
        start_line, start_byte = stop_line, stop_byte


def run_pyarrow(paths: list[str], tokenizer=tokenize, block_bytes: int = BLOCK_BYTES) -> pa.Table:
    partial: list[pa.Table] = []
    rows = 0
    for path in paths:
        for lines in line_blocks(path, block_bytes):
            partial.append(count_words(lines, tokenizer))
            rows += partial[-1].num_rows
            if rows > 4_000_000 and len(partial) > 1:
                partial = [merge_counts(partial)]
                rows = partial[0].num_rows
    return merge_counts(partial)


def run_pyarrow_fw(paths: list[str]) -> pa.Table:
    """The pyarrow baseline with Paxflow's own tokenizer (framework.text.words) in place of the regex one, on
    blocks of the size Paxflow's Text reader hands its maps."""
    from framework.io.lines import BLOCK_BYTES as TEXT_BLOCK_BYTES
    from framework.text import words

    return run_pyarrow(paths, words, TEXT_BLOCK_BYTES)


def run_pyarrow_mt(paths: list[str], threads: int = 2) -> pa.Table:
    with ThreadPoolExecutor(threads) as pool:
        partial = list(pool.map(count_words, (lines for path in paths for lines in line_blocks(path))))
    return merge_counts(partial)


# ------------------------------------------------------------------------------------------- peers


def run_duckdb(paths: list[str]) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
        query = f"""
            SELECT word, count(*) AS count
            FROM (
                SELECT regexp_split_to_table(lower(line), '{NOT_WORD}') AS word
                FROM read_csv({files}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '{chr(31)}',
                              quote = '', escape = '', auto_detect = false, new_line = '\\n')
            )
            WHERE word <> ''
            GROUP BY word
        """
        return con.sql(query).to_arrow_table()
    finally:
        con.close()


def _polars_count(lines) -> pa.Table:
    """The Polars word count over a LazyFrame of one String column `line`."""
    import polars as pl

    return (
        lines.select(pl.col("line").str.to_lowercase().str.extract_all(WORD).alias("word"))
        .explode("word")
        .drop_nulls("word")
        .group_by("word")
        .len(name="count")
        .collect(engine="streaming")
        .to_arrow()
    )


def run_polars(paths: list[str]) -> pa.Table:
    import polars as pl

    return _polars_count(pl.scan_lines(paths, name="line"))


def run_polars_csv(paths: list[str]) -> pa.Table:
    """Polars' other line reader: scan_csv of one String column (no quoting, a separator byte absent from text),
    faster than scan_lines here; the same tokenization and count."""
    import polars as pl

    return _polars_count(pl.scan_csv(paths, has_header=False, separator=chr(31), quote_char=None,
                                     new_columns=["line"], schema={"line": pl.String}))


def run_command(cmd: list[str], env: dict | None = None) -> None:
    """Run a user's command; a failure raises with its last line of stderr."""
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()] or [f"exit {done.returncode}"]
        raise RuntimeError(f"{os.path.basename(cmd[0])} exited with {done.returncode}: {lines[-1]}")


def run_paxflow_cli(paths: list[str], out_dir: str, service: bool) -> str:
    """`paxflow run jobs/wordcount.py PATHS -o OUT --overwrite` as its own process: on the running service, or (a
    cache folder of its own, so it sees no service) with a one-shot local Ray."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    if not service:
        env["PAXFLOW_CACHE"] = os.path.join(common.data_dir(), "oneshot-cache")
    run_command([*common.console_script("paxflow"), "run", os.path.join(common.JOBS, "wordcount.py"), *paths,
                 "-o", out_dir, "--overwrite"], env)
    return out_dir


def run_polars_csv_script(paths: list[str], out_dir: str) -> str:
    """The polars_csv pipeline as a user's script: a fresh Python process that writes the counts to Parquet."""
    os.makedirs(out_dir, exist_ok=True)
    run_command([sys.executable, os.path.abspath(__file__), "--script", os.path.join(out_dir, "part-0.parquet"),
                 *paths])
    return out_dir


class Service:
    """A `paxflow up` service for the paxflow_service runs: the running one, else one started here and stopped at
    the end."""

    started = False

    @classmethod
    def ensure(cls) -> None:
        from framework.service import running_service

        if running_service() is None:
            run_command([*common.console_script("paxflow"), "up"])
            cls.started = True

    @classmethod
    def stop(cls) -> None:
        if cls.started:
            run_command([*common.console_script("paxflow"), "down"])
            cls.started = False


def _raydata_count_batch(batch: pa.Table) -> pa.Table:
    return count_words(batch.column("text"))


def run_raydata(paths: list[str]):
    import ray.data

    common.init_ray()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ds = (
        ray.data.read_text(paths)
        .map_batches(_raydata_count_batch, batch_format="pyarrow", batch_size=1 << 18)
        .groupby("word", num_partitions=2 * common.RAY_CPUS)  # Ray's default (200) is 3x slower on 2 CPUs
        .sum("count")
    )
    return ds.materialize()


def run_dask(paths: list[str]) -> pa.Table:
    import dask
    import dask.dataframe as dd
    import pandas as pd

    def count_partition(df: pd.DataFrame) -> pd.DataFrame:
        lines = pa.array(df["line"], type=pa.string(), from_pandas=True)
        counted = count_words(lines)
        return counted.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow") if t == pa.string() else None)

    meta = pd.DataFrame({"word": pd.Series([], dtype=pd.StringDtype("pyarrow")), "count": pd.Series([], dtype="int64")})
    ddf = dd.read_csv(paths, sep=chr(31), header=None, names=["line"], dtype={"line": "string[pyarrow]"},
                      quoting=3, blocksize="32MB", na_filter=False, skip_blank_lines=True)
    counts = ddf.map_partitions(count_partition, meta=meta).groupby("word")["count"].sum(split_out=2)
    with dask.config.set(scheduler="threads", num_workers=2):
        result = counts.compute()
    return pa.table({"word": pa.array(result.index.to_numpy(), pa.string()),
                     "count": pa.array(result.to_numpy(), pa.int64())})


def run_spark(paths: list[str], out_dir: str) -> str:
    from pyspark.sql import functions as F

    spark = common.Spark.get()
    words = spark.read.text(paths).select(F.explode(F.split(F.lower("value"), NOT_WORD)).alias("word"))
    words.where(F.col("word") != "").groupBy("word").count().write.mode("overwrite").parquet(out_dir)
    return out_dir


# ------------------------------------------------------------------------------------------- results


def summary_of(result) -> dict:
    """distinct words and total count of whatever an engine returned (an Arrow table, a Ray dataset, a folder)."""
    if isinstance(result, str):  # a folder of Parquet files
        import pyarrow.parquet as pq

        result = pq.read_table(result)
    if hasattr(result, "read") and hasattr(result, "job_id"):  # Paxflow's RunResult
        result = result.read()
    if not isinstance(result, pa.Table):  # a materialized Ray Dataset
        result = pa.concat_tables([pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b
                                   for b in result.iter_batches(batch_format="pyarrow", batch_size=None)])
    count_col = next(c for c in result.column_names if c != "word")
    return {"distinct_words": result.num_rows, "total_words": int(pc.sum(result[count_col]).as_py() or 0)}


def script_main(argv: list[str]) -> int:
    """`wordcount.py --script OUT.parquet PATH...`: the polars_csv pipeline as a user would run it."""
    import pyarrow.parquet as pq

    out, paths = argv[0], argv[1:]
    pq.write_table(run_polars_csv(paths), out)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--script"]:
        return script_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="wordcount.py", description=__doc__,
        epilog="Prints one JSON line per engine on stdout; see benchmarks/README.md for the fields.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=common.size_arg, default="512MiB",
                        help="corpus size, e.g. 512MiB (default), 64MiB, 1GiB")
    parser.add_argument("--text", choices=["zipf", "real"], default="zipf",
                        help="zipf: the generated Zipf corpus (default); real: this machine's installed documentation "
                             "(man pages in every installed language, /usr/share/doc, package docs; "
                             "framework.datagen.realtext)")
    parser.add_argument("--vocabulary", type=common.count_arg, default=1_000_000, help="distinct words (default 1M)")
    parser.add_argument("--exponent", type=float, default=1.1, help="Zipf exponent (default 1.1)")
    parser.add_argument("--engines", default=DEFAULT_ENGINES,
                        help=f"comma-separated, from {','.join(ENGINES)} (default {DEFAULT_ENGINES}; pyarrow always "
                             "runs first as the reference)")
    common.add_common_arguments(parser)
    args = parser.parse_args(argv)
    common.apply_common_arguments(parser, args)
    common.begin()
    names = common.selected_engines(parser, args, ENGINES)

    if args.text == "real":
        corpus, warm = common.real_text(args.size), common.real_text(WARMUP_SIZE)
    else:
        corpus = common.corpus(args.size, args.vocabulary, args.exponent)
        warm = common.corpus(WARMUP_SIZE, args.vocabulary, args.exponent)
    paths, warm_paths = common.files_under(corpus), common.files_under(warm)
    input_bytes = common.total_bytes(paths)
    log(f"corpus {corpus}: {len(paths)} files, {input_bytes / 2**20:.0f} MiB; engines {', '.join(names)}; "
        f"{args.runs} interleaved rounds")

    tmp = tempfile.mkdtemp(prefix="paxflow-bench-wc-")
    paxflow = common.PaxflowRunner() if "paxflow" in names else None
    job = os.path.join(common.JOBS, "wordcount.py")
    functions = {
        "pyarrow": (run_pyarrow, {"threads": 1}),
        "pyarrow_mt": (run_pyarrow_mt, {"threads": 2}),
        "pyarrow_fw": (run_pyarrow_fw, {"threads": 1, "tokenizer": "framework.text.words"}),
        "paxflow": (lambda p: paxflow.run(job, p), {"ray_cpus": common.RAY_CPUS, "job": "jobs/wordcount.py"}),
        "duckdb": (run_duckdb, {"threads": 2}),
        "polars": (run_polars, {"threads": os.environ.get("POLARS_MAX_THREADS", "default (one per CPU)"),
                                "engine": "streaming", "reader": "scan_lines"}),
        "polars_csv": (run_polars_csv, {"threads": os.environ.get("POLARS_MAX_THREADS", "default (one per CPU)"),
                                        "engine": "streaming", "reader": "scan_csv, one String column"}),
        "raydata": (run_raydata, {"ray_cpus": common.RAY_CPUS, "groupby_partitions": 2 * common.RAY_CPUS}),
        "dask": (run_dask, {"scheduler": "threads", "num_workers": 2}),
        "spark": (lambda p: run_spark(p, os.path.join(tmp, "spark-out")), {"master": "local[2]"}),
        "paxflow_oneshot": (lambda p: run_paxflow_cli(p, os.path.join(tmp, "oneshot-out"), False),
                            {"command": "paxflow run jobs/wordcount.py INPUT -o OUT (one-shot local Ray)"}),
        "paxflow_service": (lambda p: (Service.ensure(), run_paxflow_cli(p, os.path.join(tmp, "service-out"), True))[1],
                            {"command": "paxflow run jobs/wordcount.py INPUT -o OUT (on a paxflow up service)"}),
        "polars_csv_script": (lambda p: run_polars_csv_script(p, os.path.join(tmp, "polars-out")),
                              {"command": "python SCRIPT (the polars_csv pipeline, Parquet out)", "reader": "scan_csv"}),
    }
    engines = []
    for name in names:
        fn, config = functions[name]
        pax = name == "paxflow"
        engines.append(common.Engine(
            name, timed=lambda fn=fn: fn(paths), warm=lambda fn=fn: fn(warm_paths), summarize=summary_of,
            memory_mode={"paxflow": "ray", "raydata": "ray", "spark": "spark", "paxflow_oneshot": "spark",
                         "polars_csv_script": "spark", "paxflow_service": "service"}.get(name, "process"),
            seconds_of=(lambda r: r.wall_s) if pax else None, extra_of=(lambda r: r.bench) if pax else None,
            config=config, interleave=name not in NOT_INTERLEAVED, keep_result=name != "raydata"))

    try:
        common.run_interleaved(BENCH, engines, args.runs)
        reference = engines[0] if engines[0].runs else None
        for e in engines:
            if not e.runs:
                common.emit(common.not_run_record(BENCH, e, input_bytes=input_bytes))
                continue
            record = common.base_record(BENCH, e, reference, lambda a, b: a == b, input_bytes)
            summary = e.summaries[-1]
            record["output_rows"] = e.last_result.output_rows if e.name == "paxflow" else summary["distinct_words"]
            record.update(summary)
            if e.name == "paxflow":
                record.update(common.paxflow_extra(e))
            if e.name == "spark":
                record["startup_s"] = round(common.Spark.startup_s, 3)
            if e.failed:
                record["failed"] = e.failed
            record.update(config=e.config, input=os.path.basename(corpus), machine=common.machine())
            common.emit(record)
    finally:
        if paxflow is not None:
            paxflow.close()
        Service.stop()
        common.Spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


log = common.log

if __name__ == "__main__":
    sys.exit(main())
