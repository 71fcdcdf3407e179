"""A long-lived client process of a test cluster: runs `paxflow` commands and Python snippets on request.

Tests of a multi-node cluster talk to it from other processes, as users do. Starting a process per command costs
~1.3 s of CPU and a Ray connection each (measured: the node-loss tests spent most of their time there, polling
`paxflow status`), so one process per cluster runs them all: each command still goes through `framework.cli` on
a Ray client of its own, apart from the test process and its own Ray session.

    remote = Remote(address, env)        # starts `python -m tests.remote ADDRESS`
    done = remote.cli("status", job_id, "--address", address, "--json")   # -> subprocess.CompletedProcess
    done = remote.script(CODE, arg1, ...)                                   # CODE sees sys.argv[1:] = args
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import threading
import traceback


class Remote:
    """The test's side: sends one request at a time and reads back a CompletedProcess-like answer."""

    def __init__(self, address: str, env: dict) -> None:
        self.address = address
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.remote", address], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.lock = threading.Lock()

    def _ask(self, request: dict, timeout: float) -> subprocess.CompletedProcess:
        with self.lock:
            assert self.proc.poll() is None, f"the remote client exited ({self.proc.returncode})"
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            answer: list[str] = []
            reader = threading.Thread(target=lambda: answer.append(self.proc.stdout.readline()), daemon=True)
            reader.start()
            reader.join(timeout)
            if not answer:
                self.proc.kill()
                raise subprocess.TimeoutExpired(request.get("argv") or "script", timeout)
            got = json.loads(answer[0])
            return subprocess.CompletedProcess(request.get("argv"), got["rc"], got["stdout"], got["stderr"])

    def cli(self, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return self._ask({"argv": list(argv)}, timeout)

    def script(self, code: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return self._ask({"script": code, "args": list(args)}, timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _serve(address: str) -> None:
    from framework import cluster
    from framework.cli import main

    cluster.ensure_ray(address)
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        stdout, stderr = io.StringIO(), io.StringIO()
        rc = 0
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                if "argv" in request:
                    rc = main(request["argv"])
                else:
                    sys.argv = ["remote", *request["args"]]
                    exec(compile(request["script"], "<remote script>", "exec"), {"__name__": "__remote__"})
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, (int, type(None))):
                    print(e.code, file=sys.stderr)
            except BaseException:  # noqa: BLE001 - reported back as a failed command
                traceback.print_exc()
                rc = 1
        out.write(json.dumps({"rc": rc, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}) + "\n")
        out.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
