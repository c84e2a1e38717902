"""Timing: the wall-clock and CPU seconds of a piece of work.

Wall-clock time is what a reader waits for; CPU time is what the computation
costs, summed over this process's threads. On a busy machine the first grows
and the second does not, so the book prints both wherever it prints a time.
"""

from __future__ import annotations

import time


class Stopwatch:
    """Wall-clock and CPU seconds since it was made, until :meth:`stop`::

        with Stopwatch() as clock:
            factors = wals(A, 32)
        print(f"factorized in {clock}")  # factorized in 4.2 s wall, 7.9 s CPU
    """

    def __init__(self) -> None:
        self._start = time.perf_counter(), time.process_time()
        self._stop: tuple[float, float] | None = None

    def stop(self) -> "Stopwatch":
        self._stop = time.perf_counter(), time.process_time()
        return self

    def _elapsed(self) -> tuple[float, float]:
        end = self._stop or (time.perf_counter(), time.process_time())
        return end[0] - self._start[0], end[1] - self._start[1]

    @property
    def seconds(self) -> float:
        return self._elapsed()[0]

    @property
    def cpu_seconds(self) -> float:
        return self._elapsed()[1]

    def __enter__(self) -> "Stopwatch":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __str__(self) -> str:
        return f"{self.seconds:.1f} s wall, {self.cpu_seconds:.1f} s CPU"
