"""helpers.timing: the Stopwatch tells waiting from computing."""

import time

from helpers.timing import Stopwatch


def test_sleeping_is_wall_time_not_cpu_time():
    with Stopwatch() as clock:
        time.sleep(0.3)
    assert clock.seconds >= 0.3
    assert clock.cpu_seconds < clock.seconds / 2  # other threads may run a little


def test_computing_is_cpu_time_too():
    with Stopwatch() as clock:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            pass
    assert clock.cpu_seconds > 0.15
    assert clock.cpu_seconds <= clock.seconds + 0.05  # one thread


def test_stop_freezes_both_readings_and_str_shows_both():
    clock = Stopwatch()
    clock.stop()
    frozen = clock.seconds, clock.cpu_seconds
    time.sleep(0.05)
    assert (clock.seconds, clock.cpu_seconds) == frozen
    assert str(clock) == f"{frozen[0]:.1f} s wall, {frozen[1]:.1f} s CPU"
