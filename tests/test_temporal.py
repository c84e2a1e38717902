"""Temporal splits and recent popularity on a hand-made timeline whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.temporal import (cut_times, leave_last_out, recent_popularity, rolling_origin, time_order,
                              temporal_split)

# Eight ratings by three users. Rows 2 and 3 share a second (user 1 at t=20);
# rows 6 and 7 are user 0's two last ratings, entered in the same second.
USERS = np.array([0, 1, 1, 1, 2, 0, 0, 0])
ITEMS = np.array([0, 1, 2, 3, 0, 1, 2, 3])
TIMES = np.array([10, 15, 20, 20, 30, 40, 50, 50])


def test_cut_times_are_the_times_of_the_kth_event():
    np.testing.assert_array_equal(cut_times(TIMES, [2, 5]), [20, 40])


def test_temporal_split_keeps_one_second_on_one_side():
    parts = temporal_split(TIMES, [20, 40])
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4], [5, 6, 7]]


def test_temporal_split_puts_nothing_after_the_cut_in_the_past():
    for cut in range(0, 60, 5):
        past, future = temporal_split(TIMES, [cut])
        assert (TIMES[past] < cut).all() and (TIMES[future] >= cut).all()


def test_rolling_origin_trains_on_the_past_and_tests_the_next_window():
    windows = rolling_origin(TIMES, [20, 40])
    assert [(p.tolist(), w.tolist()) for p, w in windows] == [
        ([0, 1], [2, 3, 4]), ([0, 1, 2, 3, 4], [5, 6, 7])]
    for past, window in windows:
        assert TIMES[past].max() < TIMES[window].min()


def test_leave_last_out_holds_each_users_last_events_in_time_order():
    train, valid, test = leave_last_out(USERS, TIMES)
    # user 0: rows 0, 5, 6, 7; the tie at t=50 is ordered by row, so 7 is last.
    # user 1: rows 1, 2, 3; user 2 has one rating and keeps it in train.
    assert train.tolist() == [0, 1, 4, 5]
    assert valid.tolist() == [6, 2]
    assert test.tolist() == [7, 3]


def test_leave_last_out_ignores_the_order_of_the_rows():
    shuffled = np.random.default_rng(0).permutation(len(TIMES))
    parts = leave_last_out(USERS[shuffled], TIMES[shuffled])
    assert [sorted(shuffled[p].tolist()) for p in parts] == [[0, 1, 4, 5], [2, 6], [3, 7]]


def test_recent_popularity_counts_the_window_before_now():
    np.testing.assert_array_equal(recent_popularity(ITEMS, TIMES, 4, now=50, window=30),
                                  [1, 1, 1, 1])  # rows 2..5: t in [20, 50)
    np.testing.assert_array_equal(recent_popularity(ITEMS, TIMES, 4, now=50, window=29),
                                  [1, 1, 0, 0])  # rows 4, 5: t in [21, 50)
    np.testing.assert_array_equal(recent_popularity(ITEMS, TIMES, 4, now=51, window=1),
                                  [0, 0, 1, 1])
    np.testing.assert_array_equal(recent_popularity(ITEMS, TIMES, 4, now=[50, 51], window=1),
                                  [[0, 0, 0, 0], [0, 0, 1, 1]])


def test_wrong_arguments_are_refused():
    with pytest.raises(ValueError, match="increase"):
        temporal_split(TIMES, [40, 20])
    with pytest.raises(ValueError, match="below"):
        cut_times(TIMES, [8])
    with pytest.raises(ValueError, match="integer seconds"):
        temporal_split(TIMES.astype(float), [20])


def test_time_order_breaks_ties_by_row():
    np.testing.assert_array_equal(time_order([30, 10, 30, 20]), [2, 0, 3, 1])
