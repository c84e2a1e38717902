"""Tests of helpers.distributed: workers start, agree, and are always stopped.

The functions named ``_worker_*`` below are what the worker processes run:
a worker is a fresh interpreter, so they live at the top level of this
module, which the workers import. Only the test of ``train_retrieval``
imports TensorFlow; the failure tests use plain Python so that they stay fast.
Every test is bounded in time by ``run_workers``'s own ``timeout``, and
checks afterwards that no worker process and no listening port is left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers.data import encode
from helpers.distributed import (
    HOST,
    WorkerError,
    WorkerTimeout,
    free_ports,
    run_workers,
    tf_config,
    train_retrieval,
)
from helpers._launch import _pythonpath
from helpers.metrics import factorized_top_k_accuracy

# Generous: the machine that runs the tests may be busy, and a worker that
# imports TensorFlow needs several seconds just to start.
TF_TIMEOUT = 300.0


def _me() -> tuple[int, list[str]]:
    config = json.loads(os.environ["TF_CONFIG"])
    return config["task"]["index"], config["cluster"]["worker"]


def _note_pid(pid_dir: str) -> int:
    index, _ = _me()
    with open(os.path.join(pid_dir, f"{index}.pid"), "w") as f:
        f.write(str(os.getpid()))
    return index


def _worker_one_raises(pid_dir: str) -> int:
    """Worker 1 raises once worker 0 runs; worker 0 waits, as for a collective."""
    index = _note_pid(pid_dir)
    if index == 1:
        while not os.path.exists(os.path.join(pid_dir, "0.pid")):
            time.sleep(0.05)
        raise ValueError("boom in worker 1")
    time.sleep(600)
    return index


def _worker_one_hangs(pid_dir: str) -> int:
    """Worker 1 never returns; the others finish."""
    index = _note_pid(pid_dir)
    if index == 1:
        time.sleep(600)
    return index


def _worker_one_dies(pid_dir: str) -> int:
    """Worker 0 vanishes without a word (as if killed)."""
    index = _note_pid(pid_dir)
    if index == 0:
        os._exit(3)
    time.sleep(600)
    return index


def _worker_returns_unpicklable(pid_dir: str):
    _note_pid(pid_dir)
    return lambda: None


def _pids(pid_dir) -> list[int]:
    return [int(p.read_text()) for p in sorted(pid_dir.glob("*.pid"))]


@pytest.fixture
def started(monkeypatch):
    """Every process ``run_workers`` starts, recorded as it starts."""
    import helpers._launch as distributed

    processes = []
    real_popen = distributed.subprocess.Popen

    def recording_popen(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        processes.append(process)
        return process

    monkeypatch.setattr(distributed.subprocess, "Popen", recording_popen)
    return processes


def _assert_gone(pids: list[int], processes=()) -> None:
    """Every worker process has exited and been reaped (no zombie either)."""
    for process in processes:
        assert process.returncode is not None
    for pid in [*pids, *(p.pid for p in processes)]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _assert_ports_free(addresses: list[str]) -> None:
    """Nobody listens on the workers' ports any more (TIME_WAIT is fine)."""
    for address in addresses:
        port = int(address.rsplit(":", 1)[1])
        for host in (HOST, "0.0.0.0"):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))  # fails if a worker's server still listens
                s.listen()


# --------------------------------------------------------------------------- no workers


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    _assert_ports_free([f"{HOST}:{p}" for p in ports])


def test_workers_keep_the_inherited_pythonpath_and_add_the_launchers(monkeypatch):
    monkeypatch.setattr(sys, "path", ["", "/launcher/site", "/shared"])
    merged = _pythonpath(os.pathsep.join(["/given/first", "/shared"])).split(os.pathsep)
    assert merged == ["/given/first", "/shared", "/launcher/site"]
    assert _pythonpath("").split(os.pathsep) == ["/launcher/site", "/shared"]


def test_a_finished_worker_stops_waiting_for_the_others_at_the_deadline(tmp_path):
    """Worker 0 of two finishes; worker 1 never writes a result. Worker 0 must
    exit by itself once the run's deadline has passed, not wait forever."""
    import pickle

    with open(tmp_path / "spec.pkl", "wb") as f:
        pickle.dump({"function": "os:getpid", "kwargs": {},
                     "deadline": time.time() + 1.0}, f)
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config([1, 2], 0)))
    worker = subprocess.Popen(
        [sys.executable, "-c", "import sys, helpers._launch as d; "
         "d._worker_main(sys.argv[1], 0)", str(tmp_path)], env=env)
    try:
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()
    with open(tmp_path / "result-0.pkl", "rb") as f:
        assert pickle.load(f)["ok"]


def test_tf_config_names_every_worker_and_the_task():
    config = tf_config([2222, 3333], 1)
    assert config == {
        "cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:3333"]},
        "task": {"type": "worker", "index": 1},
    }
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize(
    "ports, index, error",
    [([], 0, ValueError), ([2222], 1, ValueError), ([2222], -1, ValueError),
     ([2222], 0.5, TypeError), (["x"], 0, TypeError), ([0], 0, ValueError)],
)
def test_tf_config_rejects_bad_arguments(ports, index, error):
    with pytest.raises(error):
        tf_config(ports, index)


def test_run_workers_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_workers"):
        run_workers(_worker_one_hangs, 0, kwargs={"pid_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="timeout"):
        run_workers(_worker_one_hangs, 2, timeout=0)
    with pytest.raises(TypeError, match="threads_per_worker"):
        run_workers(_worker_one_hangs, 2, threads_per_worker=1.5)
    with pytest.raises(ValueError, match="module:name"):
        run_workers("no_colon_here")
    with pytest.raises(TypeError):
        run_workers(42)


def test_a_function_a_worker_cannot_import_is_refused_before_starting():
    with pytest.raises(ValueError, match="fresh Python process"):
        run_workers(lambda: 1)

    def local():
        return 1

    with pytest.raises(ValueError, match="fresh Python process"):
        run_workers(local)


# --------------------------------------------------------------------------- workers


def _tiny_ratings(n: int = 512, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 12, size=n)
    titles = (users * 3 + rng.integers(0, 4, size=n)) % 24  # users have tastes
    return {"user_id": np.array([f"u{u:02d}" for u in users]),
            "movie_title": np.array([f"t{t:02d}" for t in titles])}


TINY = dict(embedding_dim=4, num_epochs=2, batch_size=64)


def _tiny_problem() -> dict:
    train, test = _tiny_ratings(512, 0), _tiny_ratings(128, 1)
    return dict(train=train, test=test, user_ids=np.unique(train["user_id"]),
                movie_titles=np.array([f"t{t:02d}" for t in range(24)]))


def _truth(result: dict, problem: dict, ks=(5, 10)) -> dict:
    """FactorizedTopK's quantity, computed from the embeddings outside TensorFlow."""
    U, V = result["user_embeddings"], result["movie_embeddings"]
    test = problem["test"]
    return factorized_top_k_accuracy(
        U @ V.T, encode(test["user_id"], problem["user_ids"]),
        encode(test["movie_title"], problem["movie_titles"]), ks=ks)


def _reported(result: dict, ks=(5, 10)) -> dict:
    return {k: result["keras_evaluate"][f"factorized_top_k/top_{k}_categorical_accuracy"]
            for k in ks}


def test_two_workers_train_the_retrieval_model_and_agree(started, monkeypatch):
    import helpers._launch as distributed

    ports = []
    real_free_ports = distributed.free_ports
    monkeypatch.setattr(
        distributed, "free_ports", lambda n: ports.extend(real_free_ports(n)) or list(ports)
    )
    problem = _tiny_problem()
    start = time.monotonic()
    results = run_workers(train_retrieval, 2, timeout=TF_TIMEOUT, kwargs={**problem, **TINY})
    assert time.monotonic() - start < TF_TIMEOUT + 60
    assert [r["task_id"] for r in results] == [0, 1]
    assert all(r["replicas_in_sync"] == 2 for r in results)
    for key in ("user_embeddings", "movie_embeddings"):
        assert results[0][key].shape == (len(results[0][key]), 4)
        assert np.array_equal(results[0][key], results[1][key]), "replicas must agree"
    assert results[0]["history"]["loss"] == results[1]["history"]["loss"]

    # Keras 2 sums the (already global) metric over the two replicas.
    truth, reported = _truth(results[0], problem), _reported(results[0])
    assert reported[10] > 1.0, "an accuracy above 1 can only be a sum over replicas"
    for k in (5, 10):
        # Loose: TFRS scores the positive twice in float32 (near-ties differ).
        assert abs(reported[k] - 2 * truth[k]) < 0.25
    assert len(started) == 2
    _assert_gone([], started)
    assert len(ports) == 2
    _assert_ports_free([f"{HOST}:{p}" for p in ports])


def test_reduction_first_reports_the_true_metric_under_two_workers(started):
    problem = _tiny_problem()
    results = run_workers(train_retrieval, 2, timeout=TF_TIMEOUT,
                          kwargs={**problem, **TINY, "distribute_reduction_method": "first"})
    truth, reported = _truth(results[0], problem), _reported(results[0])
    for k in (5, 10):
        assert reported[k] <= 1.0
        assert abs(reported[k] - truth[k]) < 0.125
    _assert_gone([], started)


def test_train_retrieval_checks_its_arguments():
    problem = _tiny_problem()
    with pytest.raises(TypeError, match="user_id"):
        train_retrieval({"user": ["1"]}, problem["user_ids"], problem["movie_titles"])
    with pytest.raises(ValueError, match="equal"):
        train_retrieval({"user_id": ["1", "2"], "movie_title": ["a"]},
                        problem["user_ids"], problem["movie_titles"])
    with pytest.raises(ValueError, match="num_epochs"):
        train_retrieval(problem["train"], problem["user_ids"], problem["movie_titles"],
                        num_epochs=0)
    with pytest.raises(ValueError, match="distribute_reduction_method"):
        train_retrieval(problem["train"], problem["user_ids"], problem["movie_titles"],
                        distribute_reduction_method="mean")


def test_a_worker_that_raises_stops_the_run_with_its_traceback(tmp_path, started):
    start = time.monotonic()
    with pytest.raises(WorkerError) as info:
        run_workers(_worker_one_raises, 2, kwargs={"pid_dir": str(tmp_path)}, timeout=120)
    assert time.monotonic() - start < 120, "a failure must not wait for the timeout"
    err = info.value
    assert err.worker == 1
    message = str(err)
    assert "worker 1 of 2 failed" in message
    assert "ValueError: boom in worker 1" in message
    assert "Traceback" in message and "_worker_one_raises" in message
    assert len(started) == 2 and len(_pids(tmp_path)) == 2
    _assert_gone(_pids(tmp_path), started)


def test_a_worker_that_hangs_ends_in_a_timeout(tmp_path, started):
    timeout = 20.0
    start = time.monotonic()
    with pytest.raises(WorkerTimeout) as info:
        run_workers(_worker_one_hangs, 2, kwargs={"pid_dir": str(tmp_path)}, timeout=timeout)
    elapsed = time.monotonic() - start
    assert timeout <= elapsed < timeout + 30
    assert info.value.workers == [1]
    assert "did not finish within 20 s" in str(info.value)
    assert isinstance(info.value, TimeoutError)
    assert len(started) == 2
    _assert_gone(_pids(tmp_path), started)


def test_a_worker_that_dies_without_a_result_is_reported(tmp_path, started):
    with pytest.raises(WorkerError, match="exited with code 3") as info:
        run_workers(_worker_one_dies, 2, kwargs={"pid_dir": str(tmp_path)}, timeout=120)
    assert info.value.worker == 0
    _assert_gone(_pids(tmp_path), started)


def test_a_result_that_cannot_be_pickled_is_an_error(tmp_path, started):
    with pytest.raises(WorkerError, match="could not be pickled"):
        run_workers(
            _worker_returns_unpicklable, 1, kwargs={"pid_dir": str(tmp_path)}, timeout=120
        )
    _assert_gone(_pids(tmp_path), started)


def test_workers_end_when_their_launcher_is_killed(tmp_path):
    """A killed launcher (e.g. a restarted kernel) runs no cleanup: workers must go anyway."""
    script = (
        "import sys; sys.path[:0] = sys.argv[2:]\n"
        "from helpers.distributed import run_workers\n"
        "from test_distributed import _worker_one_hangs\n"
        "run_workers(_worker_one_hangs, 2, kwargs={'pid_dir': sys.argv[1]}, timeout=600)\n"
    )
    runs = tmp_path / "runs"  # a killed launcher cannot remove its run folder
    runs.mkdir()
    launcher = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), os.path.dirname(__file__)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(runs)},
    )
    try:
        deadline = time.monotonic() + 120
        while len(_pids(tmp_path)) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            assert launcher.poll() is None, "the launcher ended early"
            time.sleep(0.1)
    finally:
        launcher.kill()
        launcher.wait()
    pids = _pids(tmp_path)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = [pid for pid in pids if _alive(pid)]
    for pid in leftover:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not leftover, f"workers {leftover} outlived their launcher"


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (orphans are reaped by init)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _worker_binds_its_address() -> int:
    """Binds the address TF_CONFIG gives this worker, as TensorFlow's server does."""
    index, workers = _me()
    host, port = workers[index].rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, int(port)))  # OSError: [Errno 98] Address already in use
    return index


def test_a_port_taken_after_free_ports_chose_it_starts_the_run_again(monkeypatch):
    import helpers._launch as distributed

    thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    thief.bind((HOST, 0))  # another program, holding a port free_ports will hand out
    thief.listen()
    real, calls = distributed.free_ports, []

    def first_a_taken_port(n):
        calls.append(n)
        return [thief.getsockname()[1], *real(n - 1)] if len(calls) == 1 else real(n)

    monkeypatch.setattr(distributed, "free_ports", first_a_taken_port)
    try:
        assert run_workers(_worker_binds_its_address, 2, timeout=60) == [0, 1]
    finally:
        thief.close()
    assert calls == [2, 2]


def test_a_worker_error_that_is_not_a_taken_port_is_not_retried(monkeypatch, tmp_path):
    import helpers._launch as distributed

    calls = []
    real = distributed.free_ports
    monkeypatch.setattr(distributed, "free_ports", lambda n: calls.append(n) or real(n))
    with pytest.raises(WorkerError, match="boom in worker 1"):
        run_workers(_worker_one_raises, 2, timeout=60, kwargs={"pid_dir": str(tmp_path)})
    assert calls == [2]
