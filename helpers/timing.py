"""Timing: wall-clock seconds (what a reader waits for), CPU seconds (what the work costs,
summed over threads; a busy machine grows only the first), and medians over repeats."""

import time
from contextlib import AbstractContextManager
from statistics import median


def _now():
    return time.perf_counter(), time.process_time()


class Stopwatch(AbstractContextManager):
    """Wall-clock and CPU seconds since it was made, until :meth:`stop` or a ``with`` ends."""

    def __init__(self):
        self.start, self.end = _now(), None

    def stop(self, *exc):
        self.end = _now()
    __exit__ = stop

    seconds = property(lambda self: (self.end or _now())[0] - self.start[0])
    cpu_seconds = property(lambda self: (self.end or _now())[1] - self.start[1])

    def __str__(self):  # e.g. "4.2 s wall, 7.9 s CPU"
        return f"{self.seconds:.1f} s wall, {self.cpu_seconds:.1f} s CPU"


def median_latencies(functions, *, repeats=20, warmup=1, cpu=False):
    """Median wall-clock seconds of each ``{name: fn}``, run in turn (a, b, a, b, ...),
    the first ``warmup`` rounds not counted; ``cpu=True``: ``(wall, CPU)`` medians."""
    times = {name: [] for name in functions}
    for _ in range(warmup + repeats):
        for name, fn in functions.items():
            with Stopwatch() as clock:
                fn()
            times[name].append((clock.seconds, clock.cpu_seconds))
    medians = {name: tuple(map(median, zip(*t[warmup:]))) for name, t in times.items()}
    return medians if cpu else {name: wall for name, (wall, _) in medians.items()}


def median_seconds(fn, *, repeats=20, warmup=1, cpu=False):
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed (see above)."""
    return median_latencies({"fn": fn}, repeats=repeats, warmup=warmup, cpu=cpu)["fn"]
