"""The `paxflow` command: argument parsing, progress display, the summary, and exit codes.

Exit codes: 0 success, 1 the job failed, 2 usage or bad input (one line on stderr, no traceback spew).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Sequence

from framework.datagen.common import size_arg
from framework.errors import Interrupted, JobFailed, UsageError
from framework.argparsing import UsageParser

if TYPE_CHECKING:
    from framework.job import Job

PREVIEW_ROWS = 20


def _run_parser(prog: str, job_cls: type[Job] | None, with_job_arg: bool) -> argparse.ArgumentParser:
    parser = UsageParser(prog=prog, description="Run a Paxflow job module.", add_help=False)
    parser.add_argument("-h", "--help", action="store_true", help="show this help (with the job's options) and exit")
    if with_job_arg:
        parser.add_argument("job", help="path of the job module (e.g. jobs/wordcount.py)")
    parser.add_argument("paths", nargs="*", metavar="INPUT", help="input files, directories or globs (single-input jobs)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH",
                        help="a named input (repeatable; a name may be given several times)")
    parser.add_argument("-o", "--output", help="output directory (default: print the result; keep it under ~/.cache/paxflow)")
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv", "jsonl"], help="output file format")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output directory")
    parser.add_argument("--address", help="join a running Ray cluster (e.g. auto); default: start a local Ray")
    parser.add_argument("--inline", action="store_true", help="run in this process without Ray (debugging)")
    parser.add_argument("--partitions", type=int, help="reduce partitions per step (default: from data size and CPUs)")
    parser.add_argument("--split-size", type=int, metavar="BYTES", help="bytes per map task (default: from data size and CPUs)")
    parser.add_argument("--stores", type=int, help="number of shuffle store actors (default: one per node)")
    parser.add_argument("--replicas", type=int, default=1, metavar="R",
                        help="shuffle stores holding each partition (default 1; 2 survives the loss of a store's "
                             "node without re-running map tasks)")
    parser.add_argument("--store-memory", type=size_arg, metavar="SIZE",
                        help="memory per shuffle store before it spills to disk (e.g. 2GiB; default: half the "
                             "object store shared among the stores)")
    parser.add_argument("--volatile-stores", action="store_true",
                        help="keep shuffle data in memory only (by default stores also write it to local disk as it "
                             "arrives, so a store that crashes comes back with it)")
    parser.add_argument("--masters", type=int, choices=[1, 3, 5],
                        help="replicas in the Paxos master group (default 3; used when the group is created)")
    parser.add_argument("--max-attempts", type=int, default=3, help="attempts per task before the job fails")
    parser.add_argument("--skip-bad-records", type=int, metavar="N",
                        help="skip up to N malformed input records in all (non-UTF-8 text lines, CSV rows with the "
                             "wrong field count or an unparsable value, JSON lines that do not parse), counted in "
                             "`skipped_records` and listed in the summary; default: the job's skip_bad_records, "
                             "else 0 (the first one fails the job)")
    parser.add_argument("--broadcast-limit", type=size_arg, metavar="SIZE",
                        help="broadcast a join input of at most SIZE (as planned: the uncompressed size of the columns "
                             "read) to the other side's map tasks instead of shuffling both (default 64MiB; 0: never)")
    parser.add_argument("--explain", action="store_true",
                        help="print the plan (stages, broadcast or shuffle joins, skew splits, tasks, partitions) and "
                             "exit: no task runs and nothing is written (planning reads input metadata and samples "
                             "a shuffle join's keys)")
    parser.add_argument("--job-id", help="job id (submitting the same id twice runs the job once)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    parser.add_argument("--detach", action="store_true",
                        help="submit, print the job id and exit (with --address); then paxflow status/wait/cancel")
    parser.add_argument("--chaos", action="append", default=[], metavar="KIND@P%",
                        help="inject a fault when P%% of tasks are done: kill-leader@P%%, kill-follower@P%%, "
                             "kill-store@P%% (repeatable)")
    parser.add_argument("--chaos-seed", type=int, default=0, help="seed for choosing chaos victims")
    if job_cls is not None and job_cls.options:
        ours = {s for a in parser._actions for s in a.option_strings}
        group = parser.add_argument_group(f"options of {job_cls.__name__}")
        for option in job_cls.options:
            clash = ours.intersection(option.flags)
            if clash:
                raise UsageError(f"{job_cls.__name__} declares option {sorted(clash)[0]}, which paxflow itself uses")
            group.add_argument(*option.flags, **option.kwargs)
    return parser


def _parse_named_inputs(specs: Sequence[str]) -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--input wants NAME=PATH, got {spec!r}")
        named.setdefault(name, []).append(path)
    return named


def run_job_main(job_cls: type[Job] | None, argv: Sequence[str], prog: str = "paxflow run") -> int:
    """`paxflow run ...` (job_cls None: the job path is the first argument) or `python jobs/NAME.py ...`."""
    try:
        if job_cls is None:
            from framework.client import resolve_job

            job_path = next((a for a in argv if not a.startswith("-")), None)
            if job_path is None:
                if "-h" in argv or "--help" in argv:
                    _run_parser(prog, None, True).print_help()
                    return 0
                raise UsageError("give a job module, e.g. paxflow run jobs/wordcount.py")
            job_cls = resolve_job(job_path)
            argv = list(argv)
            argv.remove(job_path)
        parser = _run_parser(prog, job_cls, False)
        if "-h" in argv or "--help" in argv:  # before parsing: the job's required options may be missing
            parser.print_help()
            return 0
        ns = parser.parse_args(list(argv))
        return _run(job_cls, ns)
    except UsageError as e:
        _json_failure(argv, "usage_error", str(e))
        print(f"paxflow: error: {e}", file=sys.stderr)
        return 2
    except JobFailed as e:
        _json_failure(argv, "usage_error" if e.usage else "failed", str(e))
        if e.details and not e.usage:  # the user's traceback; bad input gets its one line only
            print(e.details.rstrip(), file=sys.stderr)
        print(f"paxflow: {'error' if e.usage else 'job failed'}: {e}", file=sys.stderr)
        return e.exit_code
    except Interrupted as e:
        _json_failure(argv, "cancelled", str(e))
        how = "SIGTERM" if e.signum == signal.SIGTERM else "Ctrl-C"
        if e.job_id:
            print(f"paxflow: {how}: job {e.job_id} cancelled; its output directory is as it was", file=sys.stderr)
        else:
            print(f"paxflow: {how}: stopped before the job was submitted; nothing was written", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:  # before the job was submitted
        signum = getattr(e, "signum", signal.SIGINT)
        how = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        print(f"paxflow: {how}: stopped before the job was submitted; nothing was written", file=sys.stderr)
        return 128 + signum


def _json_failure(argv: Sequence[str], status: str, error: str) -> None:
    """With --json, a failure is a JSON object on the last line of stdout too."""
    if "--json" in argv:
        print(json.dumps({"status": status, "error": error}))


def _run(job_cls: type[Job], ns: argparse.Namespace) -> int:
    from framework.client import run

    dests = {o.dest for o in job_cls.options}
    job_args = {k: v for k, v in vars(ns).items() if k in dests}
    named = _parse_named_inputs(ns.input)
    if ns.paths and named:
        raise UsageError("give inputs either as paths or as --input NAME=PATH, not both")
    inputs = named or ns.paths or None
    if ns.explain:
        return _explain(job_cls, inputs, ns, job_args)
    progress = _Progress(enabled=sys.stderr.isatty() and not ns.json)
    _catch_interrupts()
    try:
        result = run(job_cls, inputs, ns.output, args=job_args, executor="inline" if ns.inline else "ray",
                     fmt=ns.format, overwrite=ns.overwrite, address=ns.address, partitions=ns.partitions,
                     split_size=ns.split_size, stores=ns.stores, replicas=ns.replicas, store_memory=ns.store_memory,
                     durable_stores=not ns.volatile_stores, masters=ns.masters, max_attempts=ns.max_attempts,
                     job_id=ns.job_id, on_progress=progress.update, on_step=progress.step, chaos=ns.chaos,
                     chaos_seed=ns.chaos_seed, detach=ns.detach, skip_bad_records=ns.skip_bad_records,
                     broadcast_limit=ns.broadcast_limit)
    finally:
        progress.close()
    summary = result.summary()
    if ns.detach:
        print(json.dumps({"job_id": result.job_id, "status": "submitted"}) if ns.json else result.job_id)
        return 0
    if ns.output is None and not ns.json:
        _preview(result, job_cls.preview_order)
    if ns.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        _print_summary(summary)
    return 0


def _explain(job_cls: type[Job], inputs, ns: argparse.Namespace, job_args: dict) -> int:
    """`--explain`: plan the job as `paxflow run` would (for this machine's CPUs) and print the plan; nothing runs
    and nothing is written."""
    from framework.client import plan_job

    job_id, spec = plan_job(job_cls, inputs, ns.output, args=job_args, fmt=ns.format, overwrite=True,
                            cpus=os.cpu_count() or 1, partitions=ns.partitions, split_size=ns.split_size,
                            skip_bad_records=ns.skip_bad_records, broadcast_limit=ns.broadcast_limit)
    if ns.json:
        print(json.dumps({"explain": spec["explain"], "plan": spec["plan"]}))
    else:
        print(f"plan of {job_cls.__name__}: {spec['explain']}")
    return 0


class _Signalled(KeyboardInterrupt):
    """SIGTERM, raised where the program is, like Ctrl-C's KeyboardInterrupt; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum


def _catch_interrupts() -> None:
    """Ctrl-C and SIGTERM cancel the job (the client catches the KeyboardInterrupt they raise); a second one while
    it is being cancelled exits at once."""
    seen = []

    def handler(signum, frame) -> None:
        if seen:
            os._exit(128 + signum)
        seen.append(signum)
        raise _Signalled(signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _preview(result, order: Sequence[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = result.read()
    if order and table.num_rows and all(c in table.column_names for c, _ in order):
        table = table.sort_by(list(order))
    shown = table.slice(0, PREVIEW_ROWS)
    view = Table(show_header=True, header_style="bold")
    for name in shown.column_names:
        view.add_column(name)
    for row in shown.to_pylist():
        view.add_row(*[str(v) for v in row.values()])
    console = Console()
    console.print(view)
    if table.num_rows > PREVIEW_ROWS:
        console.print(f"... {table.num_rows - PREVIEW_ROWS:,} more rows in {result.output}")


def _print_summary(s: dict) -> None:
    rate = f", {s['mb_per_s']:.1f} MB/s" if s.get("mb_per_s") else ""
    print(f"job {s['job_id']} committed in {s['wall_s']:.2f} s (Ray start-up {s['startup_s']:.2f} s): "
          f"{s['input_bytes'] / 1e6:,.1f} MB in{rate}, {s['output_rows']:,} rows out -> {s['output']}")
    if s["counters"]:
        print("counters: " + ", ".join(f"{k}={v:,}" for k, v in sorted(s["counters"].items())))
    if s.get("skipped_records"):
        from framework.jobctl import print_skipped

        print_skipped(s["counters"], s["skipped_records"])
    for change in s.get("leader_changes", []):
        print(f"master leader changed at +{change['t']:.2f} s: replica {change['old']} -> {change['new']}")


class _Progress:
    """A rich progress bar on a terminal (stage, tasks done/total, rows, MB/s); silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None
        self._task = None
        self._status = None
        self._started = time.perf_counter()

    def step(self, text: str, note: bool = False) -> None:
        """A line saying what is being set up (starting Ray, the master group, waiting for a leader); a `note`
        stays on the screen."""
        if not self.enabled or self._bar is not None:
            return
        if note:
            print(f"paxflow: {text}", file=sys.stderr)
            return
        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(f"{text}...")
            self._status.start()
        else:
            self._status.update(f"{text}...")

    def update(self, status: dict) -> None:
        if not self.enabled or not status:
            return
        if self._bar is None:
            if self._status is not None:
                self._status.stop()
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("", total=status.get("all_total") or 1, info="")
            self._started = time.perf_counter()  # the rate is the job's, not the set-up's
        elapsed = max(1e-6, time.perf_counter() - self._started)
        mb_s = status.get("bytes_in", 0) / 1e6 / elapsed
        desc = f"{status.get('stage_name', '')} {status.get('phase', '')}"
        info = f"{status.get('rows_in', 0):,} rows, {status.get('bytes_in', 0) / 1e6:,.0f} MB, {mb_s:.1f} MB/s"
        self._bar.update(self._task, description=desc, completed=status.get("all_done", 0),
                         total=status.get("all_total") or 1, info=info)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
        if self._bar is not None:
            self._bar.stop()


def exit_fast(code: int) -> int:
    """Leave at once once the command has printed, if it joined or started a Ray: nothing is lost, and the
    graceful way costs the user seconds for nothing (`ray.shutdown()` of a one-shot Ray ~1.5 s, a driver's
    disconnect from a service ~0.9 s, measured here). A one-shot run's Ray is killed with it (its GCS and raylet
    share its fate, and its agents are killed here), and its group's WAL goes too: nothing can resume it. A job on
    a service or cluster lives in the master group, not in this process."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():  # `paxflow gen`, a usage error: nothing to leave fast
        return code
    from framework import cluster

    if cluster.started_local_ray():
        from framework.master.group import forget_created_groups

        forget_created_groups()
    sys.stdout.flush()
    sys.stderr.flush()
    cluster.stop_local_ray_now()
    os._exit(code)


def _bench(argv: list[str]) -> int:
    """`paxflow bench`: benchmarks/run.py of the checkout this framework was installed from, run in this process
    (the benchmarks are repository scripts beside jobs/, not part of the installed package; each benchmark
    script still runs in a process of its own)."""
    import importlib.util

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "run.py")
    if not os.path.isfile(script):
        print("paxflow: error: paxflow bench needs the repository checkout (pip install -e '.[bench]' from it): "
              f"{script} is missing", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("paxflow_bench_run", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.main(argv)
    except SystemExit as e:  # argparse's usage errors (exit 2, one line) and --help
        return e.code if isinstance(e.code, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the console script: this process is the user's command
        return exit_fast(_main(sys.argv[1:]))
    return _main(argv)


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: paxflow run JOB [INPUT ...] [options]   (paxflow run --help for the options)\n"
              "       paxflow up [--name NAME] [--address ADDR] [--masters N] [--stores M] [--store-memory SIZE] [--cpus N]\n"
              "                                                (a service that stays up: later runs use it; started\n"
              "                                                again, it resumes the jobs that were running)\n"
              "       paxflow down [--forget] [--address ADDR]  (stop what paxflow up started; --forget: its state too)\n"
              "       paxflow status [JOB] [--json] [--address ADDR]\n"
              "       paxflow wait JOB [--address ADDR]\n"
              "       paxflow cancel JOB [--address ADDR]\n"
              "       paxflow scale --stores N | --auto [--address ADDR]  (set the shuffle stores; running jobs use them too)\n"
              "       paxflow gen {zipf,tpch,join} ...          (generate sample data; paxflow gen --help)\n"
              "       paxflow bench wordcount|join|scaling|all [--size S] [--scale F] [--engines a,b] [--runs N] [--out DIR]\n"
              "                                                (benchmarks beside other engines; needs the repository\n"
              "                                                checkout and .[bench]; paxflow bench --help)")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        return run_job_main(None, rest)
    if command in ("up", "down"):
        from framework.servicectl import main as service_main

        return service_main(command, rest)
    if command in ("status", "wait", "cancel", "scale"):
        from framework.jobctl import main as jobctl_main

        return jobctl_main(command, rest)
    if command == "gen":
        from framework.datagen.generate import main as gen_main

        try:
            gen_main(rest)
            return 0
        except UsageError as e:
            print(f"paxflow: error: {e}", file=sys.stderr)
            return 2
    if command == "bench":
        return _bench(rest)
    print(f"paxflow: error: unknown command {command!r} (try: paxflow run JOB)", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
