"""Time: splits that train on the past and test on what comes next, and recent popularity.

One order of events (:func:`time_order`): by timestamp, ties (ratings of one second) by
row. A cut-off time ``c`` puts an event in the past when ``t < c``: one second, one side."""

from __future__ import annotations

import numpy as np

from helpers import _checks


def _times(times) -> np.ndarray:
    if (times := np.asarray(times)).ndim != 1 or not np.issubdtype(times.dtype, np.integer):
        raise ValueError(f"times must be 1-D integer seconds, got {times.dtype} {times.shape}")
    return times.astype(np.int64)


def time_order(times) -> np.ndarray:
    """Each event's place in the time order: by timestamp, equal timestamps by row."""
    return np.argsort(np.argsort(_times(times), kind="stable"))  # inverse of the order


def cut_times(times, counts) -> np.ndarray:
    """The timestamp of the ``count``-th event in time order, for each count: the cut-offs
    that leave about ``count`` events in the past (fewer when the cut falls inside a second)."""
    times, counts = np.sort(_times(times)), [_checks.positive_int("count", c) for c in counts]
    if max(counts) >= len(times):
        raise ValueError(f"every count must be below the {len(times)} events")
    return times[counts]


def temporal_split(times, cuts) -> list[np.ndarray]:
    """Rows before ``cuts[0]``, between each pair of cuts, and from the last cut on."""
    times, cuts = _times(times), np.asarray(cuts, dtype=np.int64)
    if np.any(np.diff(cuts) <= 0):
        raise ValueError(f"cuts must increase, got {cuts.tolist()}")
    part = np.searchsorted(cuts, times, side="right")  # t < cuts[0] -> part 0
    return [np.flatnonzero(part == p) for p in range(len(cuts) + 1)]


def rolling_origin(times, cuts):
    """``(past, window)`` row pairs for each origin ``cuts[j]``: every event before it, and
    the events in ``[cuts[j], cuts[j + 1])`` (the last window runs to the end)."""
    parts = temporal_split(times, cuts)
    return [(np.concatenate(parts[: j + 1]), parts[j + 1]) for j in range(len(cuts))]


def leave_last_out(users, times, n_held: int = 2) -> list[np.ndarray]:
    """``(train, *held)``: each user's ``n_held`` last events (time order, ties by row) held
    out, one per part, the last in the last part; users with fewer events keep them in train."""
    times, n_held = _times(times), _checks.positive_int("n_held", n_held)
    users = _checks.positions("users", users, np.iinfo(np.int64).max, what="users")
    order = np.lexsort((time_order(times), users))
    by_user = users[order]
    from_end = np.searchsorted(by_user, by_user, side="right") - 1 - np.arange(len(order))
    place = np.where(np.bincount(users)[by_user] > n_held, from_end, n_held)  # n_held: train
    return [np.sort(order[place >= n_held])] + [order[place == p] for p in range(n_held - 1, -1, -1)]


def recent_popularity(items, times, n_items: int, now, window: int) -> np.ndarray:
    """How often each item occurs in ``[now - window, now)``: ``(n_items,)``, or one row per
    moment when ``now`` is an array of them."""
    n_items = _checks.positive_int("n_items", n_items)
    items = _checks.positions("items", items, n_items, what="items")
    window, times = _checks.positive_int("window", window), _times(times)
    order = np.argsort(times, kind="stable")
    moments = np.atleast_1d(np.asarray(now, dtype=np.int64))
    low, high = (np.searchsorted(times[order], moments - d) for d in (window, 0))
    counts = np.stack([np.bincount(items[order][a:b], minlength=n_items) for a, b in zip(low, high)])
    return counts[0].astype(np.float64) if np.ndim(now) == 0 else counts.astype(np.float64)
