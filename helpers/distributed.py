"""Training one model on several worker processes with ``tf.distribute`` (chapter 10).

``tf.distribute.MultiWorkerMirroredStrategy`` runs *the same program* in every
worker process; each process learns who it is from the ``TF_CONFIG``
environment variable (the cluster's addresses, and its own task type and
index). This module plays the part a cluster scheduler plays on real machines,
on one computer:

* :func:`free_ports` and :func:`tf_config`: one loopback address
  (``127.0.0.1:port``) per worker, and each worker's ``TF_CONFIG``;
* :func:`run_workers`: start one Python process per worker, run the same
  function in each, collect what each returns, and stop every process
  whatever happens: a worker that raises ends the run with
  :class:`WorkerError` (naming the worker, with its traceback), a worker
  that hangs ends it with :class:`WorkerTimeout`; either way no process is
  left behind;
* :func:`train_retrieval`: the book's retrieval model (chapter 3's towers and
  :class:`helpers.retrieval.RetrievalModel`) built under ``strategy.scope()``
  and trained on the rating pairs it is given, sharded across the workers
  with ``AutoShardPolicy.DATA``. It returns the embeddings, so that the model is
  measured *outside* the strategy, with :func:`helpers.evaluate.top_k_accuracy`.

A worker is a fresh interpreter (``python -c``) that imports this module, so
``import helpers`` runs before TensorFlow, as in every chapter. The function a
worker runs must therefore live in an importable module, not in a notebook.
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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from helpers import _checks

__all__ = [
    "WorkerError",
    "WorkerTimeout",
    "free_ports",
    "tf_config",
    "run_workers",
    "train_retrieval",
]

#: The only address the workers are told about: this computer's loopback.
HOST = "127.0.0.1"


class WorkerError(RuntimeError):
    """A worker raised (or died); every worker of the run has been stopped.

    Attributes:
        worker: the index of the worker that failed first.
        worker_traceback: its traceback as text (or the end of its log when it
            died without one, e.g. killed by a signal).
    """

    def __init__(self, message: str, worker: int, worker_traceback: str) -> None:
        super().__init__(message)
        self.worker = worker
        self.worker_traceback = worker_traceback


class WorkerTimeout(TimeoutError):
    """The workers did not all finish in time; every worker has been stopped.

    Attributes:
        workers: the indices of the workers still running at the deadline.
    """

    def __init__(self, message: str, workers: list[int]) -> None:
        super().__init__(message)
        self.workers = workers


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports that are free on the loopback interface right now.

    The operating system picks them (bind to port 0); all ``n`` sockets are
    open at once, so the ports differ, and closed before returning, so the
    workers can bind them. Another program may take one in between;
    :func:`run_workers` then starts the run again on new ports.
    """
    n = _checks.positive_int("n", n)
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]


def tf_config(ports: list[int], index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of one worker per port.

    >>> tf_config([12345, 12346], 1)
    {'cluster': {'worker': ['127.0.0.1:12345', '127.0.0.1:12346']}, \
'task': {'type': 'worker', 'index': 1}}
    """
    if not ports:
        raise ValueError("ports must name at least one port")
    ports = [_checks.integer("port", p) for p in ports]
    if not all(1 <= p <= 65535 for p in ports):
        raise ValueError(f"ports must lie in 1..65535, got {ports}")
    index = _checks.non_negative_int("index", index)
    if index >= len(ports):
        raise ValueError(f"index must lie in [0, {len(ports)}), got {index}")
    return {
        "cluster": {"worker": [f"{HOST}:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    }


# --------------------------------------------------------------------------- launching


def _function_path(function: Callable[..., Any] | str) -> str:
    """``"module:name"`` of a function a fresh interpreter can import."""
    if isinstance(function, str):
        module, sep, name = function.partition(":")
        if not sep or not module or not name:
            raise ValueError(f"function must read 'module:name', got {function!r}")
        return function
    if not callable(function):
        raise TypeError(f"function must be a callable or 'module:name', got {function!r}")
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", "")
    if module in (None, "__main__") or "<" in name:
        raise ValueError(
            f"{name or function!r} is defined in {module or 'no module'}: a worker is a "
            "fresh Python process and can only run a function it can import. Put it "
            "at the top level of a module (a .py file) and pass that function."
        )
    return f"{module}:{name}"


def _import_function(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _exit_with_launcher(poll: float = 0.5) -> None:
    """End this worker if the launcher dies (a killed kernel runs no ``finally``)."""
    launcher = os.getppid()

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-launcher", daemon=True).start()


def _worker_main(run_dir: str, index: int) -> None:
    """Entry point of a worker process: run the function, write its result, exit.

    The result file holds ``{"ok": True, "value": ...}`` or ``{"ok": False,
    "error": ..., "traceback": ...}``; it is written to a temporary name and
    renamed, so the launcher never reads half a file. The process ends with
    ``os._exit``: TensorFlow's gRPC threads must not keep it alive.
    """
    run = Path(run_dir)
    _exit_with_launcher()
    deadline = float("inf")
    try:
        with open(run / "spec.pkl", "rb") as f:
            spec = pickle.load(f)
        deadline = spec.get("deadline", deadline)
        function = _import_function(spec["function"])
        payload = {"ok": True, "value": function(**spec["kwargs"])}
    except BaseException as exc:  # noqa: BLE001  (reported to the launcher)
        payload = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    partial = run / f"result-{index}.part"
    try:
        with open(partial, "wb") as f:
            pickle.dump(payload, f)
    except Exception:  # noqa: BLE001  (e.g. a value that cannot be pickled)
        payload = {
            "ok": False,
            "error": "the function's return value could not be pickled",
            "traceback": traceback.format_exc(),
        }
        with open(partial, "wb") as f:
            pickle.dump(payload, f)
    os.replace(partial, run / f"result-{index}.pkl")
    sys.stdout.flush()
    sys.stderr.flush()
    if payload["ok"]:
        # Stay alive until every worker has its result: worker 0 hosts the
        # cluster's coordination service, and a worker still finishing would
        # fail if it vanished. The launcher stops everyone after the last one;
        # past the run's deadline (the launcher is gone or stuck) it stops itself.
        n = len(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", [0]))
        while not all((run / f"result-{i}.pkl").exists() for i in range(n)):
            if time.time() > deadline:
                break
            time.sleep(0.1)
    os._exit(0 if payload["ok"] else 1)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _stop(processes: list[subprocess.Popen]) -> None:
    """Kill each worker's whole process group and wait for it to be gone."""
    for p in processes:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
    for p in processes:
        with contextlib.suppress(Exception):
            p.wait(timeout=30)


def _pythonpath(inherited: str) -> str:
    """The workers' ``PYTHONPATH``: the inherited one first, then the launcher's
    ``sys.path``, so a worker imports what the launcher can and what it was given."""
    entries = [p for p in inherited.split(os.pathsep) if p]
    entries += [p for p in sys.path if p and p not in entries]
    return os.pathsep.join(entries)


def run_workers(
    function: Callable[..., Any] | str,
    num_workers: int = 2,
    *,
    kwargs: Mapping[str, Any] | None = None,
    timeout: float = 300.0,
    threads_per_worker: int | None = None,
) -> list[Any]:
    """Run ``function(**kwargs)`` in ``num_workers`` worker processes of one cluster.

    Every worker gets the same function and arguments, and its own
    ``TF_CONFIG`` (:func:`tf_config`, loopback addresses only), exactly as a
    scheduler would start the same program on several machines.

    Args:
        function: a function at the top level of an importable module (or its
            ``"module:name"``); it runs in a fresh interpreter, so not one
            defined in a notebook. What it returns must be picklable.
        num_workers: how many worker processes.
        kwargs: keyword arguments for ``function``, picklable.
        timeout: seconds the whole run may take, start-up included.
        threads_per_worker: TensorFlow's intra-op threads in each worker;
            by default the machine's cores divided among the workers, so that
            they do not fight over the same cores.

    Returns:
        What each worker's call returned, in worker order (index 0 first).

    Raises:
        WorkerError: a worker raised or died; its index and traceback are in
            the message. The other workers have been stopped. (A worker that
            could not bind its port, taken since :func:`free_ports` chose it,
            is not an error: the run starts again on new ports, up to three
            times.)
        WorkerTimeout: not every worker finished within ``timeout`` seconds;
            all have been stopped.
    """
    path = _function_path(function)
    num_workers = _checks.positive_int("num_workers", num_workers)
    timeout = _checks.number("timeout", timeout, low=0.0, low_open=True)
    cores = os.cpu_count() or 1
    if threads_per_worker is None:
        threads_per_worker = max(1, cores // num_workers)
    threads_per_worker = _checks.positive_int("threads_per_worker", threads_per_worker)
    kwargs = dict(kwargs or {})

    deadline = time.monotonic() + timeout
    # free_ports closes its sockets before the workers bind them, so another
    # program can take a port in between: then start again on new ports.
    for attempt in range(_PORT_ATTEMPTS):
        try:
            return _launch(path, kwargs, free_ports(num_workers), threads_per_worker,
                           deadline, timeout)
        except WorkerError as error:
            taken = _PORT_TAKEN.search(error.worker_traceback)
            if not taken or attempt + 1 == _PORT_ATTEMPTS or time.monotonic() > deadline:
                raise
            # A port was taken: every worker has been stopped; try new ports.


_PORT_ATTEMPTS = 3
_PORT_TAKEN = re.compile(
    r"address already in use|could not start grpc server|failed to bind", re.IGNORECASE)


def _launch(
    path: str,
    kwargs: dict[str, Any],
    ports: list[int],
    threads_per_worker: int,
    deadline: float,
    timeout: float,
) -> list[Any]:
    """Start one worker per port, collect their results, always stop them."""
    num_workers = len(ports)
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tfrs-book-workers-") as tmp:
        run = Path(tmp)
        with open(run / "spec.pkl", "wb") as f:
            # The wall-clock deadline, so a finished worker stops waiting for others.
            remaining = deadline - time.monotonic()
            spec = {"function": path, "kwargs": kwargs, "deadline": time.time() + remaining}
            pickle.dump(spec, f)
        logs = [run / f"worker-{i}.log" for i in range(num_workers)]
        results = [run / f"result-{i}.pkl" for i in range(num_workers)]
        try:
            for i in range(num_workers):
                env = dict(os.environ)
                env.update(
                    TF_CONFIG=json.dumps(tf_config(ports, i)),
                    TF_USE_LEGACY_KERAS="1",
                    TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                    TF_NUM_INTRAOP_THREADS=str(threads_per_worker),
                    OMP_NUM_THREADS=str(threads_per_worker),
                    PYTHONPATH=_pythonpath(os.environ.get("PYTHONPATH", "")),
                )
                with open(logs[i], "wb") as log:
                    processes.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-c",
                                "import sys, helpers.distributed as d; "
                                "d._worker_main(sys.argv[1], int(sys.argv[2]))",
                                str(run),
                                str(i),
                            ],
                            env=env,
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,  # its own process group
                        )
                    )
            return _collect(processes, results, logs, deadline, timeout)
        finally:
            _stop(processes)


def _collect(
    processes: list[subprocess.Popen],
    results: list[Path],
    logs: list[Path],
    deadline: float,
    timeout: float,
) -> list[Any]:
    """Wait for every worker's result; raise as soon as one fails or time is up."""
    n = len(processes)
    payloads: dict[int, dict[str, Any]] = {}
    while True:
        for i, p in enumerate(processes):
            if i in payloads:
                continue
            code = p.poll()
            if results[i].exists():
                with open(results[i], "rb") as f:
                    payloads[i] = pickle.load(f)
            elif code is not None:
                payloads[i] = {
                    "ok": False,
                    "error": f"the process exited with code {code} without a result",
                    "traceback": f"last lines of its output:\n{_tail(logs[i])}",
                }
            if i in payloads and not payloads[i]["ok"]:
                _stop(processes)
                raise WorkerError(
                    f"worker {i} of {n} failed: {payloads[i]['error']}\n"
                    f"(all {n} workers have been stopped)\n\n"
                    f"worker {i}'s traceback:\n{payloads[i]['traceback']}",
                    worker=i,
                    worker_traceback=payloads[i]["traceback"],
                )
        if len(payloads) == n:
            return [payloads[i]["value"] for i in range(n)]
        if time.monotonic() > deadline:
            running = [i for i in range(n) if i not in payloads]
            _stop(processes)
            tails = "\n\n".join(
                f"last lines of worker {i}'s output:\n{_tail(logs[i], 10)}" for i in running
            )
            raise WorkerTimeout(
                f"worker(s) {running} of {n} did not finish within {timeout:g} s; "
                f"all {n} workers have been stopped.\n\n{tails}",
                workers=running,
            )
        time.sleep(0.05)


# --------------------------------------------------------------------------- the model


def _pairs(name: str, pairs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{"user_id": ..., "movie_title": ...}`` as two equally long string arrays."""
    if not isinstance(pairs, Mapping) or not {"user_id", "movie_title"} <= set(pairs):
        raise TypeError(
            f"{name} must be a dict with 'user_id' and 'movie_title' arrays "
            "(helpers.data.to_arrays gives one)"
        )
    users, titles = (np.asarray(pairs[k]).astype(str) for k in ("user_id", "movie_title"))
    if users.ndim != 1 or users.shape != titles.shape or len(users) == 0:
        raise ValueError(
            f"{name}: 'user_id' and 'movie_title' must be 1-D, non-empty and of equal "
            f"length, got shapes {users.shape} and {titles.shape}"
        )
    return {"user_id": users, "movie_title": titles}


def train_retrieval(
    train: Mapping[str, Any],
    user_ids: Any,
    movie_titles: Any,
    *,
    test: Mapping[str, Any] | None = None,
    embedding_dim: int = 32,
    learning_rate: float = 0.1,
    num_epochs: int = 3,
    batch_size: int = 8192,
    seed: int = 42,
    metrics_during_training: bool = False,
    distribute_reduction_method: str = "auto",
) -> dict[str, Any]:
    """Train the book's retrieval model under ``MultiWorkerMirroredStrategy``.

    Meant to run in every worker of :func:`run_workers`; with one worker (or
    no ``TF_CONFIG`` at all) it trains on a single replica. Every worker
    gets the same ratings; ``AutoShardPolicy.DATA`` then gives each worker
    its share of every global batch of ``batch_size`` ratings.

    Args:
        train: the training pairs, ``{"user_id": array, "movie_title": array}``
            of strings (:func:`helpers.data.to_arrays`).
        user_ids, movie_titles: the vocabularies (:func:`helpers.data.vocabularies`).
        test: test pairs like ``train``; when given, ``model.evaluate`` runs
            on them *under the strategy*, to show what Keras 2 reports there.
        embedding_dim, learning_rate, num_epochs: chapter 3's settings.
        batch_size: the *global* batch; each of the ``n`` replicas computes
            the loss on ``batch_size / n`` of the examples, with its own
            in-batch negatives.
        seed: the seed of the weights and of the shuffle.
        metrics_during_training: compute ``FactorizedTopK`` on every training
            step too (the TFRS recipe's default, and a pitfall).
        distribute_reduction_method: how Keras combines the replicas' results
            in ``fit`` and ``evaluate``: ``"auto"`` (Keras 2's default, which
            *sums* them on every strategy but TPUs) or ``"first"`` (the first
            replica's value; right for metrics that are already global).

    Returns:
        A dict with the worker's ``task_id``, ``num_workers``,
        ``replicas_in_sync``, ``seconds`` and ``cpu_seconds`` (wall-clock and
        CPU time of this worker's ``fit`` call), ``phases`` (seconds spent
        setting up TensorFlow and connecting, building the data and model,
        fitting, evaluating), ``examples``
        (trained on by all workers, per epoch), per-epoch ``loss`` (as Keras
        reports it), ``keras_evaluate`` (a dict, or ``None``) and the trained
        ``user_embeddings`` and ``movie_embeddings`` (NumPy, rows in
        vocabulary order, as :func:`helpers.retrieval.embeddings` gives them).
    """
    train = _pairs("train", train)
    test = None if test is None else _pairs("test", test)
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    learning_rate = _checks.number("learning_rate", learning_rate, low=0.0, low_open=True)
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    batch_size = _checks.positive_int("batch_size", batch_size)
    seed = _checks.non_negative_int("seed", seed)
    _checks.one_of("distribute_reduction_method", distribute_reduction_method, ("auto", "first"))
    started = time.perf_counter()

    def progress(what: str) -> None:  # goes to the worker's log
        print(f"[{time.perf_counter() - started:6.1f} s] {what}", flush=True)

    helpers.setup(seed=seed)
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    from helpers.retrieval import RetrievalModel, build_towers, embeddings

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    resolver = strategy.cluster_resolver
    task_id = int(resolver.task_id or 0) if resolver is not None else 0
    workers = len(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", [0]))
    progress(f"worker {task_id} of {workers}: {strategy.num_replicas_in_sync} replica(s)")
    phases = {"import TensorFlow, connect": time.perf_counter() - started}

    # Every worker reads the same batches; DATA sharding keeps its share of each.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_batches = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(100_000, seed=seed, reshuffle_each_iteration=False)
        .batch(batch_size)
        .cache()
        .with_options(options)
    )

    with strategy.scope():
        tf.keras.utils.set_random_seed(seed)
        user_model, movie_model = build_towers(user_ids, movie_titles, embedding_dim)
        candidates = tf.data.Dataset.from_tensor_slices(np.asarray(movie_titles))
        task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=candidates.batch(1024).map(movie_model))
        )
        model = RetrievalModel(user_model, movie_model, task, metrics_during_training)
        model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=learning_rate))
        model.distribute_reduction_method = distribute_reduction_method

    phases["build data and model"] = time.perf_counter() - started - sum(phases.values())
    progress("training")
    start, cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(train_batches, epochs=num_epochs, verbose=0)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    phases["fit"] = seconds
    progress(f"trained in {seconds:.1f} s")

    keras_metrics = None
    if test is not None:
        test_batches = (
            tf.data.Dataset.from_tensor_slices(test).batch(4096).cache().with_options(options)
        )
        result = model.evaluate(test_batches, return_dict=True, verbose=0)
        keras_metrics = {k: float(v) for k, v in result.items()}
        progress("evaluated under the strategy")
        phases["evaluate under the strategy"] = time.perf_counter() - start - seconds
    U, V = embeddings(model, user_ids, movie_titles)
    return {
        "task_id": task_id,
        "num_workers": workers,
        "replicas_in_sync": int(strategy.num_replicas_in_sync),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "phases": phases,
        "examples": len(train["user_id"]),
        "loss": [float(x) for x in history.history["loss"]],
        "keras_evaluate": keras_metrics,
        "user_embeddings": U,
        "movie_embeddings": V,
    }
