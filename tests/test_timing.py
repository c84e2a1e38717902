"""helpers.timing: the Stopwatch tells waiting from computing; medians over repeats."""

import time

import pytest

from helpers import timing
from helpers.timing import Stopwatch, median_latencies, median_seconds


def test_sleeping_is_wall_time_not_cpu_time():
    with Stopwatch() as clock:
        time.sleep(0.3)
    assert clock.seconds >= 0.3
    assert clock.cpu_seconds < clock.seconds / 2  # other threads may run a little


def test_computing_is_cpu_time_too():
    # Spin until the process has used 0.2 s of CPU (not 0.2 s of wall time: on a
    # loaded machine a wall-clock loop gets only part of a core).
    with Stopwatch() as clock:
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
    assert clock.cpu_seconds >= 0.19
    assert clock.cpu_seconds <= clock.seconds + 0.05  # one thread


def test_stop_freezes_both_readings_and_str_shows_both():
    clock = Stopwatch()
    clock.stop()
    frozen = clock.seconds, clock.cpu_seconds
    time.sleep(0.05)
    assert (clock.seconds, clock.cpu_seconds) == frozen
    assert str(clock) == f"{frozen[0]:.1f} s wall, {frozen[1]:.1f} s CPU"


def test_with_block_stops_the_clock():
    with Stopwatch() as clock:
        pass
    frozen = clock.seconds
    time.sleep(0.05)
    assert clock.seconds == frozen


def test_median_latencies_interleaves_and_takes_medians(monkeypatch):
    calls, clock = [], [0.0]
    cost = {"a": [5.0, 1.0, 2.0, 9.0, 3.0], "b": [0.5, 0.1, 0.2, 0.3, 0.4]}

    def make(name):
        def run():
            calls.append(name)
            if len(calls) > 2:  # the warm-up round costs nothing on this clock
                clock[0] += cost[name][(len(calls) - 3) // 2]
        return run

    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    medians = median_latencies({"a": make("a"), "b": make("b")}, repeats=5)
    assert calls == ["a", "b"] + ["a", "b"] * 5
    assert medians == pytest.approx({"a": 3.0, "b": 0.3})


def test_median_seconds_and_bad_arguments():
    assert median_seconds(lambda: None, repeats=3) >= 0.0
    with pytest.raises(ValueError):  # no repeats, no median (Python says so)
        median_seconds(lambda: None, repeats=0)
    with pytest.raises(TypeError, match="not callable"):
        median_latencies({"x": 3})
    assert median_latencies({}) == {}


def test_median_seconds_with_cpu_gives_wall_and_cpu_medians():
    def spin():
        end = time.process_time() + 0.02
        while time.process_time() < end:
            pass

    wall, cpu = median_seconds(spin, repeats=3, cpu=True)
    assert 0.02 <= cpu <= wall + 0.005  # one busy thread: CPU about wall
    assert median_seconds(spin, repeats=3) >= 0.02
