r"""What a user times end to end, each beside the whole Polars script in the same run.

    python benchmarks/lifecycle.py                          # 64 MiB corpus, 5 runs each, 20 + 20 stability runs
    python benchmarks/lifecycle.py --size 128MiB --runs 3 --only one_shot,service,polars
    python benchmarks/lifecycle.py --only stability --stability-runs 20
    python benchmarks/lifecycle.py --size 8MiB --runs 1 --stability-runs 1     # a smoke run (~3 minutes)

Parts (`--only`, comma separated; default all, run in this order):

* polars     the whole Polars script as a new process (`python script.py FILES... OUT`): imports polars, runs the
             same word count as `wordcount.py`'s run_polars (scan_lines -> to_lowercase -> extract_all
             `[\p{L}\p{N}]+` -> explode -> group_by len, streaming) and writes Parquet. Every ratio refers to it.
* one_shot   `paxflow run jobs/wordcount.py CORPUS -o OUT --overwrite --json` with no service up: each run starts
             and stops a local Ray of its own. 3 s after each run exits, the processes it left are counted (any
             process carrying the run's private marker in its environment: Ray's gcs_server, raylet, workers and
             agents inherit it), so other Ray sessions on a shared machine are not counted; it must be 0.
* service    `paxflow up` (timed), the first job on the service, then `--runs` more; whether the later jobs ran on
             the task workers of the first later job (`worker_pids` a subset: workers reused); `paxflow down` (in
             a finally) and the processes the service left 3 s after it.
* cluster    `ray start --head --num-cpus 2` on loopback (RAY_num_workers_soft_limit=32), then a first `paxflow run
             --address 127.0.0.1:PORT` as a new process (it starts a keeper on the cluster by itself) and
             `--runs` more, each a new process; then one long-lived Python process that joins the cluster and calls
             `framework.run` 3 times (the steady state inside a driver): the new-client job time (`wall_s`) over
             the in-process one is the `ratio_job_new_client_vs_in_process` (target <= 1.15). Stopped with
             `paxflow down --address` and by killing the processes of that Ray session only
             (`framework.cluster.kill_session`; never `ray stop`, which would stop every Ray on the machine).
* stability  `--stability-runs` one-shot runs and as many on a service: how many saw a leader change
             (`leader_changes` non-empty), failed, or abandoned attempts. Long: ~2 x K job runs.

Every timed run is a subprocess timed with time.perf_counter around subprocess.run, as `time paxflow run ...`
would time it (`e2e_s`); the job's own `wall_s` (from submission) and `startup_s` come from its --json summary.
One untimed one-shot run on an 8 MiB corpus warms the private cache first (the tokenizer table is computed once
per machine). All runs share one private PAXFLOW_CACHE (a temporary folder, removed at the end), so no run sees
or touches the service record of `~/.cache/paxflow`; RAY_ADDRESS is removed from their environment.

Prints one JSON record per measurement on stdout (medians and p99 of this run; a failed run is kept with its
error, the stderr tail) and, at the end, a Markdown table on stderr: median seconds and the ratio to Polars' median.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER before anything imports ray)

from common import log  # noqa: E402

KINDS = ["polars", "one_shot", "service", "cluster", "stability"]
JOB = os.path.join(common.JOBS, "wordcount.py")
WARMUP_SIZE = 8 << 20
RUN_TIMEOUT_S = 1800
LEFT_WAIT_S = 3.0
IN_PROCESS_RUNS = 3
TAG = "PAXFLOW_LIFECYCLE_TAG"
ERROR_TAIL = 1500

#: the whole Polars script: the same query as wordcount.py's run_polars, from the import to the Parquet file
POLARS_SCRIPT = r'''
import sys

import polars as pl

paths, out = sys.argv[1:-1], sys.argv[-1]
(
    pl.scan_lines(paths, name="line")
    .select(pl.col("line").str.to_lowercase().str.extract_all(r"[\p{L}\p{N}]+").alias("word"))
    .explode("word")
    .drop_nulls("word")
    .group_by("word")
    .len(name="count")
    .collect(engine="streaming")
    .write_parquet(out)
)
'''

#: one long-lived driver on the cluster: join it, then run the job IN_PROCESS_RUNS times; one JSON line at the end
IN_PROCESS_SCRIPT = r'''
import json, sys, time
from framework import cluster, run
address, runs, job, out, inputs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
started = time.perf_counter()
cluster.ensure_ray(address)
join_s = time.perf_counter() - started
walls, e2e = [], []
for _ in range(runs):
    started = time.perf_counter()
    result = run(job, inputs, out, overwrite=True)
    e2e.append(time.perf_counter() - started)
    walls.append(result.wall_s)
print(json.dumps({"join_s": join_s, "wall_s": walls, "call_s": e2e}))
'''


# --------------------------------------------------------------------------------------------------- helpers


class Bench:
    """State shared by the parts: the private cache, the output folder, the Polars median for the ratios."""

    def __init__(self, corpus: str, paths: list[str], runs: int, stability_runs: int) -> None:
        self.corpus, self.paths = corpus, paths
        self.runs, self.stability_runs = runs, stability_runs
        self.cache = tempfile.mkdtemp(prefix="paxflow-lifecycle-cache-")
        self.tmp = tempfile.mkdtemp(prefix="paxflow-lifecycle-")
        self.out = os.path.join(self.tmp, "out")
        self.input_bytes = common.total_bytes(paths)
        self.polars_median: float | None = None
        self.warm: dict | None = None  # the untimed warm-up run
        self.stability: dict | None = None
        self.rows: list[tuple[str, float | None, float | None, str]] = []  # the table: what, median, p99, note

    def env(self, tag: str | None = None, **extra: str) -> dict:
        env = dict(os.environ, PAXFLOW_CACHE=self.cache, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **extra)
        env.pop("RAY_ADDRESS", None)
        if tag:
            env[TAG] = tag
        return env

    def close(self) -> None:
        if os.path.exists(os.path.join(self.cache, "service.json")):
            log(f"lifecycle: a service record is left in {self.cache}: kept; stop it with "
                f"`PAXFLOW_CACHE={self.cache} paxflow down`")
        else:
            shutil.rmtree(self.cache, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Timed(tuple):
    """(seconds, exit code or None, stdout, stderr), plus `last_line_s`: seconds from the start until the last
    line of stdout arrived (for `paxflow run --json`, its summary: what follows is the process leaving)."""

    last_line_s: float | None = None


def timed(argv: list[str], env: dict, timeout: float = RUN_TIMEOUT_S) -> Timed:
    """(seconds, exit code or None, stdout, stderr) of one subprocess; a timeout or a failed start is an exit
    code of None with the reason in stderr, never an exception. A command past its timeout gets SIGTERM first
    (`paxflow run` then cancels its job and stops its Ray), SIGKILL 30 s later."""
    import threading

    started = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, env=env, cwd=common.REPO)
    except OSError as e:
        return Timed((time.perf_counter() - started, None, "", f"could not start {argv[0]}: {e}"))
    out: list[str] = []
    err: list[str] = []
    last_line = [None]

    def read(stream, into: list[str], stamp: bool) -> None:
        for line in stream:
            into.append(line)
            if stamp and line.strip():
                last_line[0] = time.perf_counter() - started
        stream.close()

    readers = [threading.Thread(target=read, args=(proc.stdout, out, True), daemon=True),
               threading.Thread(target=read, args=(proc.stderr, err, False), daemon=True)]
    for t in readers:
        t.start()
    note = ""
    try:
        proc.wait(timeout=timeout)
        seconds = time.perf_counter() - started
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - started
        note = f"\n(timed out after {timeout:.0f} s)"
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for t in readers:  # a grandchild that kept the pipes open must not hold the benchmark up
        t.join(timeout=10)
    result = Timed((seconds, None if note else proc.returncode, "".join(out), "".join(err) + note))
    result.last_line_s = last_line[0]
    return result


def paxflow(args: list[str], env: dict, timeout: float = RUN_TIMEOUT_S) -> Timed:
    return timed(common.console_script("paxflow") + args, env, timeout)


def job(bench: Bench, *extra: str, tag: str | None = None, corpus: str | None = None) -> dict:
    """One `paxflow run jobs/wordcount.py CORPUS -o OUT --overwrite --json [extra]`: end-to-end seconds and what
    its --json summary says (or the error)."""
    done = paxflow(["run", JOB, corpus or bench.corpus, "-o", bench.out, "--overwrite", "--json", *extra],
                   bench.env(tag))
    seconds, rc, out, err = done
    record: dict = {"e2e_s": round(seconds, 3), "rc": rc}
    if done.last_line_s is not None:  # the summary printed -> the process gone: what leaving costs the user
        record["exit_after_summary_s"] = round(seconds - done.last_line_s, 3)
    summary: dict = {}
    lines = out.strip().splitlines()
    if lines:
        try:
            summary = json.loads(lines[-1])
        except ValueError:
            summary = {}
    if isinstance(summary, dict) and "wall_s" in summary:
        record.update(wall_s=summary.get("wall_s"), startup_s=summary.get("startup_s"),
                      leader_changes=summary.get("leader_changes") or [],
                      abandoned_attempts=summary.get("abandoned_attempts"), service=summary.get("service"),
                      worker_pids=summary.get("worker_pids"))
    if all(isinstance(record.get(k), (int, float)) for k in ("wall_s", "startup_s", "exit_after_summary_s")):
        # the rest: the interpreter and imports, planning, and (one-shot) the master group, stores and workers
        record["other_s"] = round(seconds - record["wall_s"] - record["startup_s"] - record["exit_after_summary_s"],
                                  3)
    if rc != 0:
        reason = summary.get("error") if isinstance(summary, dict) else None
        record["error"] = ((f"{reason}\n" if reason else "") + err[-ERROR_TAIL:]).strip() or f"exit {rc}"
    elif "wall_s" not in record:
        record["error"] = f"no JSON summary on the last stdout line: {out[-300:]!r}"
    return record


def ok(r: dict) -> bool:
    return r.get("rc") == 0 and "error" not in r


def _environ_has(pid: str, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def _title(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        if not title:
            with open(f"/proc/{pid}/comm") as f:
                title = f.read().strip()
        return title[:120]
    except OSError:
        return "?"


def tagged_processes(tag: str) -> dict[int, str]:
    """{pid: title} of the live processes that carry `TAG=tag` in their environment: everything a run started
    (Ray's gcs_server, raylet, agents and workers, a keeper) inherits it, and nothing of another user's Ray has it."""
    needle = f"{TAG}={tag}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _environ_has(entry, needle):
            found[int(entry)] = _title(entry)
    return found


def new_tag(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def summarize(bench: Bench, name: str, what: str, runs: list[dict], key: str = "e2e_s", **extra) -> dict:
    """One record: medians and p99 over the runs that succeeded, every run kept (with its error if it failed)."""
    good = [r for r in runs if ok(r) and r.get(key) is not None]
    values = [r[key] for r in good]
    walls = [r["wall_s"] for r in good if r.get("wall_s") is not None]
    record: dict = {"bench": name, "what": what, "input_bytes": bench.input_bytes, "runs": len(runs),
                    "failed_runs": len(runs) - len(good)}
    if values:
        median = statistics.median(values)
        record.update({f"{key}_median": round(median, 3), f"{key}_p99": round(common.pct(values, 0.99), 3),
                       f"{key}_min": round(min(values), 3),
                       "ratio_vs_polars": common.ratio(median, bench.polars_median)})
    if walls and key != "wall_s":
        record.update(wall_s_median=round(statistics.median(walls), 3), wall_s_p99=round(common.pct(walls, 0.99), 3))
    record.update(extra)
    record["run_records"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in runs]
    errors = [r["error"] for r in runs if r.get("error")]
    if errors:
        record["first_error"] = errors[0][-ERROR_TAIL:]
    return record


def add_row(bench: Bench, record: dict, label: str, key: str = "e2e_s", note: str = "") -> None:
    bench.rows.append((label, record.get(f"{key}_median"), record.get(f"{key}_p99"),
                       note or (f"{record['failed_runs']} of {record['runs']} failed" if record.get("failed_runs")
                                else "")))


def ensure_no_service(bench: Bench) -> None:
    """A one-shot run must not find a service: stop any that a failed part left in the private cache."""
    if os.path.exists(os.path.join(bench.cache, "service.json")):
        log("lifecycle: a service record is in the private cache: paxflow down first")
        paxflow(["down"], bench.env(), timeout=300)


def _progress(kind: str, i: int, n: int, r: dict) -> None:
    parts = [f"{label} {r[key]:.2f} s" for key, label in (("startup_s", "startup"), ("wall_s", "job"),
                                                          ("other_s", "other"),
                                                          ("exit_after_summary_s", "exit after summary"))
             if r.get(key) is not None]
    what = f"{r['e2e_s']:.2f} s" + (f" ({', '.join(parts)})" if parts else "")
    flags = []
    if r.get("leader_changes"):
        flags.append(f"{len(r['leader_changes'])} leader change(s)")
    if r.get("processes_left"):
        flags.append(f"{r['processes_left']} processes left")
    if r.get("error"):
        flags.append("FAILED: " + r["error"].strip().splitlines()[-1][:200])
    log(f"  {kind} {i}/{n}: {what}" + (f"; {'; '.join(flags)}" if flags else ""))


# --------------------------------------------------------------------------------------------------- parts


def part_polars(bench: Bench) -> list[dict]:
    script = os.path.join(bench.tmp, "polars_wordcount.py")
    with open(script, "w") as f:
        f.write(POLARS_SCRIPT)
    out = os.path.join(bench.tmp, "polars-out.parquet")
    runs = []
    for i in range(bench.runs):
        seconds, rc, _, err = timed([sys.executable, script, *bench.paths, out], bench.env())
        r: dict = {"e2e_s": round(seconds, 3), "rc": rc}
        if rc != 0:
            r["error"] = err[-ERROR_TAIL:] or f"exit {rc}"
        runs.append(r)
        _progress("polars", i + 1, bench.runs, r)
    good = [r["e2e_s"] for r in runs if ok(r)]
    bench.polars_median = statistics.median(good) if good else None
    record = summarize(bench, "lifecycle_polars", "the whole Polars script, a new process per run", runs,
                       script="see POLARS_SCRIPT in benchmarks/lifecycle.py (= wordcount.py run_polars + "
                              "write_parquet)")
    add_row(bench, record, "Polars, whole script")
    return [record]


def part_one_shot(bench: Bench) -> list[dict]:
    ensure_no_service(bench)
    runs = []
    for i in range(bench.runs):
        tag = new_tag("one-shot")
        r = job(bench, tag=tag)
        time.sleep(LEFT_WAIT_S)
        left = tagged_processes(tag)
        r["processes_left"] = len(left)
        if left:
            r["left"] = sorted(left.values())[:20]
        if r.get("service"):
            r["error"] = (r.get("error") or "") + "ran on a service, not one-shot"
        runs.append(r)
        _progress("one_shot", i + 1, bench.runs, r)
    record = summarize(bench, "lifecycle_one_shot", "paxflow run, no service up (a local Ray of its own)", runs,
                       processes_left_max=max((r["processes_left"] for r in runs), default=0),
                       warmup=bench.warm,
                       runs_with_leader_change=sum(1 for r in runs if r.get("leader_changes")))
    add_row(bench, record, "paxflow run, one-shot")
    return [record]


def part_service(bench: Bench) -> list[dict]:
    ensure_no_service(bench)
    tag = new_tag("service")
    records: list[dict] = []
    up_record: dict = {"bench": "lifecycle_service_up", "what": "paxflow up (returns once the group has a leader)",
                       "input_bytes": bench.input_bytes}
    first: dict | None = None
    later: list[dict] = []
    try:
        seconds, rc, out, err = paxflow(["up"], bench.env(tag), timeout=600)
        up_record.update(e2e_s=round(seconds, 3), rc=rc, stdout=out.strip()[-400:],
                         ratio_vs_polars=common.ratio(seconds, bench.polars_median))
        log(f"  paxflow up: {seconds:.2f} s (exit {rc})")
        if rc != 0:
            up_record["error"] = err[-ERROR_TAIL:] or f"exit {rc}"
        else:
            first = job(bench, tag=tag)
            _progress("service first job", 1, 1, first)
            for i in range(bench.runs):
                later.append(job(bench, tag=tag))
                _progress("service job", i + 1, bench.runs, later[-1])
    finally:
        seconds, rc, out, err = paxflow(["down"], bench.env(), timeout=600)
        up_record["down_s"] = round(seconds, 3)
        if rc != 0:
            up_record["down_error"] = err[-ERROR_TAIL:] or f"exit {rc}"
        time.sleep(LEFT_WAIT_S)
        left = tagged_processes(tag)
        up_record["processes_left_after_down"] = len(left)
        if left:
            up_record["left"] = sorted(left.values())[:20]
        log(f"  paxflow down: {seconds:.2f} s (exit {rc}); {len(left)} processes left")
    records.append(up_record)
    bench.rows.append(("paxflow up", up_record.get("e2e_s") if up_record.get("rc") == 0 else None, None,
                       f"{len(left)} processes left after down" if left else ""))
    if first is not None:
        for r in [first] + later:
            if r.get("service") is False:
                r["error"] = (r.get("error") or "") + "did not run on the service"
        rec = summarize(bench, "lifecycle_service_first_job", "the first job after paxflow up", [first])
        records.append(rec)
        add_row(bench, rec, "first job on a service")
        pids = [set(r.get("worker_pids") or []) for r in later if ok(r)]
        reused = all(p <= pids[0] for p in pids[1:]) if pids and pids[0] else None
        reused_any = (all(p <= pids[0] | set(first.get("worker_pids") or []) for p in pids[1:])
                      if pids and pids[0] else None)
        rec = summarize(bench, "lifecycle_service_job", "later jobs on the service", later,
                        workers_reused=reused, workers_reused_incl_first_job=reused_any,
                        runs_with_leader_change=sum(1 for r in later if r.get("leader_changes")))
        records.append(rec)
        add_row(bench, rec, "job on a service", note=("" if reused is not False else "workers NOT reused")
                + (f" {rec['failed_runs']} of {rec['runs']} failed" if rec.get("failed_runs") else ""))
    return records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_of_port(port: int) -> str | None:
    """The session folder of the Ray whose GCS listens on `port` (from its gcs_server's command line)."""
    flag = f"--gcs_server_port={port}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if flag in args:
            for a in args:
                if a.startswith(b"--session-dir="):
                    return a.split(b"=", 1)[1].decode()
    return None


def part_cluster(bench: Bench) -> list[dict]:
    tag = new_tag("cluster")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = bench.env(tag)
    record: dict = {"bench": "lifecycle_cluster_new_client", "input_bytes": bench.input_bytes, "address": address}
    session = None
    first: dict | None = None
    clients: list[dict] = []
    in_process: dict = {}
    try:
        start = ["start", "--head", "--port", str(port), "--num-cpus", "2", "--node-ip-address", "127.0.0.1",
                 "--include-dashboard=false", "--disable-usage-stats"]
        seconds, rc, out, err = timed(common.console_script("ray") + start,
                                      dict(env, RAY_num_workers_soft_limit="32"), timeout=300)
        session = _session_of_port(port)
        record.update(ray_start_s=round(seconds, 3), session_dir=session)
        log(f"  ray start: {seconds:.2f} s (exit {rc}); session {session}")
        if rc != 0:
            record["error"] = f"ray start failed: {(err or out)[-ERROR_TAIL:]}"
            bench.rows.append(("cluster, new client", None, None, "ray start FAILED"))
            return [record]
        first = job(bench, "--address", address, tag=tag)
        _progress("cluster first client", 1, 1, first)
        for i in range(bench.runs):
            clients.append(job(bench, "--address", address, tag=tag))
            _progress("cluster new client", i + 1, bench.runs, clients[-1])
        seconds, rc, out, err = timed([sys.executable, "-c", IN_PROCESS_SCRIPT, address, str(IN_PROCESS_RUNS), JOB,
                                       bench.out, bench.corpus], env)
        in_process = {"e2e_s": round(seconds, 3), "rc": rc}
        try:
            in_process.update(json.loads(out.strip().splitlines()[-1]) if rc == 0 else {})
        except (IndexError, ValueError):
            in_process["error"] = f"no JSON on the last stdout line: {out[-300:]!r}"
        if rc != 0:
            in_process["error"] = err[-ERROR_TAIL:] or f"exit {rc}"
        walls = in_process.get("wall_s") or []
        log(f"  in one process, {IN_PROCESS_RUNS} jobs: wall_s {', '.join(f'{w:.2f}' for w in walls) or '-'}"
            + (f"; FAILED: {in_process['error'].strip().splitlines()[-1][:200]}" if in_process.get("error") else ""))
    finally:
        seconds, rc, out, err = paxflow(["down", "--address", address], bench.env(), timeout=300)
        record["down_s"] = round(seconds, 3)
        if rc != 0:
            record["down_error"] = err[-ERROR_TAIL:] or f"exit {rc}"
        from framework.cluster import kill_session

        session = session or _session_of_port(port)
        killed = kill_session(session) if session else 0
        if not session:
            log(f"lifecycle: could not find the session of the Ray at {address}: its processes are left running")
        time.sleep(LEFT_WAIT_S)
        left = tagged_processes(tag)
        record.update(session_processes_killed=killed, processes_left=len(left))
        if left:
            record["left"] = sorted(left.values())[:20]
        log(f"  cluster stopped: paxflow down --address {rc}, {killed} session processes killed, "
            f"{len(left)} left")
    records = []
    if first is not None:
        rec = summarize(bench, "lifecycle_cluster_first_client",
                        "the first paxflow run --address on a new ray start cluster (starts a keeper)", [first],
                        address=address)
        records.append(rec)
        add_row(bench, rec, "cluster, first client (starts a keeper)")
    walls = in_process.get("wall_s") or []
    job_in_process = round(statistics.median(walls), 3) if walls else None
    rec = summarize(bench, "lifecycle_cluster_new_client", "later paxflow run --address, each a new process", clients,
                    **{k: v for k, v in record.items() if k not in ("bench", "input_bytes")})
    rec["wall_s_in_process_median"] = job_in_process
    rec["ratio_job_new_client_vs_in_process"] = common.ratio(rec.get("wall_s_median"), job_in_process)
    rec["ratio_e2e_new_client_vs_in_process_job"] = common.ratio(rec.get("e2e_s_median"), job_in_process)
    rec["in_process"] = {k: ([round(x, 3) for x in v] if isinstance(v, list) else
                             round(v, 3) if isinstance(v, float) else v) for k, v in in_process.items()}
    records.append(rec)
    add_row(bench, rec, "cluster, new client")
    if walls:
        bench.rows.append((f"cluster, job in one driver (wall_s, {len(walls)} runs)", job_in_process,
                           round(common.pct(walls, 0.99), 3),
                           f"new client job / this: {rec['ratio_job_new_client_vs_in_process']}x"))
    elif in_process.get("error"):
        bench.rows.append(("cluster, job in one driver", None, None, "FAILED"))
    return records


def part_stability(bench: Bench) -> list[dict]:
    k = bench.stability_runs
    ensure_no_service(bench)
    one_shot = []
    for i in range(k):
        one_shot.append(job(bench))
        _progress("stability one_shot", i + 1, k, one_shot[-1])
    service: list[dict] = []
    up_error = None
    try:
        _, rc, _, err = paxflow(["up"], bench.env(), timeout=600)
        if rc != 0:
            up_error = err[-ERROR_TAIL:] or f"exit {rc}"
        else:
            for i in range(k):
                service.append(job(bench))
                _progress("stability service", i + 1, k, service[-1])
    finally:
        paxflow(["down"], bench.env(), timeout=600)

    def changed(rs: list[dict]) -> int:
        return sum(1 for r in rs if r.get("leader_changes"))

    def failed(rs: list[dict]) -> int:
        return sum(1 for r in rs if not ok(r))

    def slim(rs: list[dict]) -> list[dict]:
        return [{key: r[key] for key in ("e2e_s", "wall_s", "rc", "leader_changes", "abandoned_attempts", "error")
                 if r.get(key) not in (None, [])} for r in rs]

    good = lambda rs: [r["e2e_s"] for r in rs if ok(r)]  # noqa: E731
    med = lambda xs: round(statistics.median(xs), 3) if xs else None  # noqa: E731
    record = {"bench": "lifecycle_stability", "what": "plain runs (no chaos): how many saw a leader change",
              "input_bytes": bench.input_bytes, "runs_each": k,
              "one_shot_runs_with_leader_change": changed(one_shot),
              "service_runs_with_leader_change": changed(service) if not up_error else None,
              "one_shot_failed": failed(one_shot), "service_failed": failed(service) if not up_error else None,
              "abandoned_attempts": sum(r.get("abandoned_attempts") or 0 for r in one_shot + service),
              "one_shot_e2e_s_median": med(good(one_shot)), "service_e2e_s_median": med(good(service)),
              "one_shot_runs": slim(one_shot), "service_runs": slim(service)}
    if up_error:
        record["service_up_error"] = up_error
    return [record]


PARTS = {"polars": part_polars, "one_shot": part_one_shot, "service": part_service, "cluster": part_cluster,
         "stability": part_stability}


def warm_up(bench: Bench) -> dict:
    """One untimed one-shot run on a small corpus: fills the private cache (the tokenizer table) and the page cache."""
    small = common.corpus(WARMUP_SIZE)
    tag = new_tag("warm-up")
    r = job(bench, tag=tag, corpus=small)
    _progress("warm-up (8 MiB, untimed)", 1, 1, r)
    return r


def table(bench: Bench) -> str:
    polars = bench.polars_median
    lines = ["| what | median s | p99 s | x Polars | note |", "| --- | ---: | ---: | ---: | --- |"]
    for label, median, p99, note in bench.rows:
        ratio = common.ratio(median, polars) if median is not None else None
        lines.append(f"| {label} | {'-' if median is None else f'{median:.2f}'} | "
                     f"{'-' if p99 is None else f'{p99:.2f}'} | {'-' if ratio is None else f'{ratio:.2f}'} | "
                     f"{note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lifecycle.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Prints one JSON line per measurement on stdout; a table on stderr.")
    parser.add_argument("--size", type=common.size_arg, default="64MiB", help="word count corpus (default 64MiB)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each kind (default 5)")
    parser.add_argument("--stability-runs", type=int, default=20,
                        help="one-shot runs and service runs counted for leader changes (default 20 each)")
    parser.add_argument("--only", default=",".join(KINDS),
                        help=f"comma-separated parts, from {','.join(KINDS)} (default all)")
    args = parser.parse_args(argv)
    only = [k.strip().lower() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in only if k not in KINDS]
    if unknown or not only:
        parser.error(f"--only: unknown part(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(KINDS)}")
    if args.runs < 1 or args.stability_runs < 1:
        parser.error("--runs and --stability-runs must be at least 1")
    common.begin()

    corpus = common.corpus(args.size)
    paths = common.files_under(corpus)
    bench = Bench(corpus, paths, args.runs, args.stability_runs)
    base = {"size": args.size, "machine": common.machine()}
    log(f"lifecycle: corpus {corpus} ({bench.input_bytes / 2**20:.0f} MiB, {len(paths)} files); parts "
        f"{','.join(only)}; {args.runs} runs, {args.stability_runs} stability runs; PAXFLOW_CACHE={bench.cache}")
    try:
        if any(k != "polars" for k in only):
            bench.warm = warm_up(bench)
        for kind in KINDS:  # in this order: Polars first, for the ratios
            if kind not in only:
                continue
            log(f"== lifecycle: {kind}")
            started = time.perf_counter()
            try:
                produced = PARTS[kind](bench)
            except Exception as e:  # noqa: BLE001 - one part failing must not lose the others
                import traceback

                log(traceback.format_exc())
                produced = [{"bench": f"lifecycle_{kind}", "error": common.failure_reason(e)}]
            log(f"   ({time.perf_counter() - started:.0f} s)")
            for record in produced:
                record.update(base)
                common.emit(record)
                if record["bench"] == "lifecycle_stability":
                    bench.stability = record
    finally:
        ensure_no_service(bench)
        bench.close()
    log("\n" + table(bench))
    st = bench.stability
    if st and "runs_each" in st:
        log(f"\nleader changes in plain runs: {st['one_shot_runs_with_leader_change']} of {st['runs_each']} one-shot, "
            f"{st['service_runs_with_leader_change']} of {st['runs_each']} on a service (failed: "
            f"{st['one_shot_failed']} / {st['service_failed']}; abandoned attempts {st['abandoned_attempts']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
