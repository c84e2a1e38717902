"""A cluster scheduler on one computer: one Python process per worker, always stopped.

:func:`run_workers` runs one function in ``n`` fresh interpreters, each with its own
``TF_CONFIG`` (loopback), and stops every process whatever happens: a worker that raises or
dies raises :class:`WorkerError` (index, traceback), a late run :class:`WorkerTimeout`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from helpers import _checks

HOST = "127.0.0.1"  # the only address the workers are told about
_PORT_ATTEMPTS = 3
_PORT_TAKEN = re.compile(r"address already in use|could not start grpc server|failed to bind",
                         re.IGNORECASE)


class WorkerError(RuntimeError):
    """A worker raised or died; every worker of the run has been stopped."""

    def __init__(self, message: str, worker: int, worker_traceback: str) -> None:
        super().__init__(message)
        self.worker, self.worker_traceback = worker, worker_traceback


class WorkerTimeout(TimeoutError):
    """The workers did not all finish in time; every worker has been stopped."""

    def __init__(self, message: str, workers: list[int]) -> None:
        super().__init__(message)
        self.workers = workers


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on the loopback now (chosen by the system, all open
    at once, closed on return; one taken meanwhile makes :func:`run_workers` retry)."""
    n = _checks.positive_int("n", n)
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]


def tf_config(ports: list[int], index: int) -> dict:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of one worker per port.

    >>> tf_config([12345, 12346], 1)
    {'cluster': {'worker': ['127.0.0.1:12345', '127.0.0.1:12346']}, \
'task': {'type': 'worker', 'index': 1}}
    """
    ports = [_checks.integer("port", p) for p in ports]
    if not ports or not all(1 <= p <= 65535 for p in ports):
        raise ValueError(f"ports must name at least one port in 1..65535, got {ports}")
    index = _checks.non_negative_int("index", index)
    if index >= len(ports):
        raise ValueError(f"index must lie in [0, {len(ports)}), got {index}")
    return {"cluster": {"worker": [f"{HOST}:{p}" for p in ports]},
            "task": {"type": "worker", "index": index}}


def _function_path(function) -> str:
    """``"module:name"`` of a function a fresh interpreter can import."""
    if isinstance(function, str):
        if not re.fullmatch(r"[\w.]+:[\w.]+", function):
            raise ValueError(f"function must read 'module:name', got {function!r}")
        return function
    if not callable(function):
        raise TypeError(f"function must be a callable or 'module:name', got {function!r}")
    module, name = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if module in (None, "__main__") or "<" in name:
        raise ValueError(f"{name or function!r} is defined in {module or 'no module'}: a worker "
                         "is a fresh Python process and can only run a function it can import. "
                         "Put it at the top level of a module (a .py file) and pass that function.")
    return f"{module}:{name}"


def _worker_main(run_dir: str, index: int) -> None:
    """Run the function, write ``result-<index>.pkl`` atomically, wait for every worker's result
    (worker 0 hosts the coordination service) or the deadline, and exit."""
    run, launcher = Path(run_dir), os.getppid()

    def exit_with_launcher():  # a killed kernel runs no cleanup
        while os.getppid() == launcher:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=exit_with_launcher, daemon=True).start()
    spec = {"deadline": float("inf")}
    try:
        spec = pickle.loads((run / "spec.pkl").read_bytes())
        module, _, name = spec["function"].partition(":")
        function = importlib.import_module(module)
        for part in name.split("."):
            function = getattr(function, part)
        payload = {"ok": True, "value": function(**spec["kwargs"])}
    except BaseException as exc:  # noqa: BLE001  (reported to the launcher)
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc()}
    try:
        data = pickle.dumps(payload)
    except Exception:  # noqa: BLE001  (a value that cannot be pickled)
        payload = {"ok": False, "error": "the function's return value could not be pickled",
                   "traceback": traceback.format_exc()}
        data = pickle.dumps(payload)
    (run / f"result-{index}.part").write_bytes(data)
    os.replace(run / f"result-{index}.part", run / f"result-{index}.pkl")
    n = len(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", [0]))
    while payload["ok"] and time.time() < spec["deadline"] and not all(
            (run / f"result-{i}.pkl").exists() for i in range(n)):
        time.sleep(0.1)
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(0 if payload["ok"] else 1)  # TensorFlow's gRPC threads must not keep it alive


def _pythonpath(inherited: str) -> str:
    """The workers' ``PYTHONPATH``: the inherited one first, then the launcher's ``sys.path``."""
    entries = [p for p in inherited.split(os.pathsep) if p]
    return os.pathsep.join(entries + [p for p in sys.path if p and p not in entries])


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _stop(processes: list[subprocess.Popen]) -> None:
    """Kill each worker's whole process group and wait for it to be gone."""
    for p in processes:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
    for p in processes:
        with contextlib.suppress(Exception):
            p.wait(timeout=30)


def _collect(processes, run: Path, deadline: float, timeout: float) -> list:
    """Wait for every worker's result; raise as soon as one fails or time is up."""
    n, payloads = len(processes), {}
    while len(payloads) < n:
        for i, p in enumerate(processes):
            result, code = run / f"result-{i}.pkl", p.poll()
            if i not in payloads and result.exists():
                payloads[i] = pickle.loads(result.read_bytes())
            elif i not in payloads and code is not None:
                payloads[i] = {"ok": False, "error": f"the process exited with code {code} "
                               "without a result", "traceback": "last lines of its output:\n"
                               + _tail(run / f"worker-{i}.log")}
            if not payloads.get(i, {"ok": True})["ok"]:
                raise WorkerError(f"worker {i} of {n} failed: {payloads[i]['error']}\n(all {n} "
                                  f"workers have been stopped)\n\nworker {i}'s traceback:\n"
                                  f"{payloads[i]['traceback']}", i, payloads[i]["traceback"])
        if len(payloads) < n and time.monotonic() > deadline:
            running = [i for i in range(n) if i not in payloads]
            tails = "\n\n".join(f"last lines of worker {i}'s output:\n"
                                f"{_tail(run / f'worker-{i}.log', 10)}" for i in running)
            raise WorkerTimeout(f"worker(s) {running} of {n} did not finish within {timeout:g} s; "
                                f"all {n} workers have been stopped.\n\n{tails}", running)
        time.sleep(0.05)
    return [payloads[i]["value"] for i in range(n)]


def _launch(path: str, kwargs: dict, ports: list[int], threads: int, deadline: float,
            timeout: float) -> list:
    """Start one worker per port, collect their results, always stop them."""
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tfrs-book-workers-") as tmp:
        run = Path(tmp)
        spec = {"function": path, "kwargs": kwargs,  # wall clock: a finished worker stops waiting
                "deadline": time.time() + deadline - time.monotonic()}
        (run / "spec.pkl").write_bytes(pickle.dumps(spec))
        try:
            for i in range(len(ports)):
                env = {**os.environ, "TF_CONFIG": json.dumps(tf_config(ports, i)),
                       "TF_USE_LEGACY_KERAS": "1", "TF_NUM_INTRAOP_THREADS": str(threads),
                       "OMP_NUM_THREADS": str(threads),
                       "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                       "PYTHONPATH": _pythonpath(os.environ.get("PYTHONPATH", ""))}
                with open(run / f"worker-{i}.log", "wb") as log:
                    processes.append(subprocess.Popen(
                        [sys.executable, "-c", "import sys, helpers._launch as l; "
                         "l._worker_main(sys.argv[1], int(sys.argv[2]))", str(run), str(i)],
                        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True))  # its own process group
            return _collect(processes, run, deadline, timeout)
        finally:
            _stop(processes)


def run_workers(function, num_workers: int = 2, *, kwargs=None, timeout: float = 300.0,
                threads_per_worker: int | None = None) -> list:
    """Run ``function(**kwargs)`` in ``num_workers`` worker processes of one cluster.

    ``function`` (or ``"module:name"``) must be importable, its result picklable. ``timeout``
    bounds the whole run, start-up included; ``threads_per_worker`` defaults to the cores shared
    out. Returns each worker's result, worker 0 first. A port taken before its worker binds it
    restarts the run on new ports (up to 3 times); any other failure raises at once.
    """
    path = _function_path(function)
    num_workers = _checks.positive_int("num_workers", num_workers)
    timeout = _checks.number("timeout", timeout, low=0.0, low_open=True)
    if threads_per_worker is None:
        threads_per_worker = max(1, (os.cpu_count() or 1) // num_workers)
    threads = _checks.positive_int("threads_per_worker", threads_per_worker)
    deadline = time.monotonic() + timeout
    for attempt in range(_PORT_ATTEMPTS):
        try:
            return _launch(path, dict(kwargs or {}), free_ports(num_workers), threads,
                           deadline, timeout)
        except WorkerError as error:
            if (not _PORT_TAKEN.search(error.worker_traceback)
                    or attempt + 1 == _PORT_ATTEMPTS or time.monotonic() > deadline):
                raise
