"""Tests of helpers.evaluate.top_k_accuracy on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.evaluate import ranks, top_k_accuracy


SCORES = np.array(
    [
        [0.9, 0.5, 0.1, 0.3],  # user 0 ranks items 0, 1, 3, 2
        [0.1, 0.2, 0.3, 0.4],  # user 1 ranks items 3, 2, 1, 0
    ]
)


def test_ranks_by_hand():
    np.testing.assert_array_equal(ranks(SCORES, [0, 0, 1, 1], [0, 2, 3, 0]), [0, 3, 0, 3])


def test_top_k_accuracy_by_hand():
    acc = top_k_accuracy(SCORES, np.array([0, 0, 1, 1]), np.array([0, 2, 3, 1]), ks=(1, 2, 3, 4))
    # ranks are 0, 3, 0, 2
    assert acc == {1: 0.5, 2: 0.5, 3: 0.75, 4: 1.0}


def test_ties_count_in_the_test_items_favour():
    """As tf.math.in_top_k does: only strictly higher scores push an item down."""
    flat = np.ones((1, 5))
    assert top_k_accuracy(flat, np.array([0]), np.array([4]), ks=(1,)) == {1: 1.0}


def test_shared_scores_for_every_user():
    popularity = np.array([5.0, 1.0, 3.0])
    acc = top_k_accuracy(popularity, np.array([0, 7, 3]), np.array([0, 2, 1]), ks=(1, 2, 3))
    assert acc == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 1.0})


def test_chunking_gives_the_same_answer():
    rng = np.random.default_rng(0)
    scores = rng.random((50, 30))
    users, items = rng.integers(0, 50, 1000), rng.integers(0, 30, 1000)
    np.testing.assert_array_equal(
        ranks(scores, users, items, chunk_size=7), ranks(scores, users, items)
    )


def test_random_scores_reach_k_over_n():
    rng = np.random.default_rng(1)
    scores = rng.random((200, 100))
    users, items = rng.integers(0, 200, 20_000), rng.integers(0, 100, 20_000)
    acc = top_k_accuracy(scores, users, items, ks=(10, 50))
    assert acc[10] == pytest.approx(0.10, abs=0.01)
    assert acc[50] == pytest.approx(0.50, abs=0.015)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"ks": (0,)}, ValueError, "1..4"),
        ({"ks": (5,)}, ValueError, "1..4"),
        ({"ks": ()}, ValueError, "at least one"),
        ({"ks": (1.5,)}, TypeError, "int"),
        ({"items": np.array([], dtype=int), "users": np.array([], dtype=int)}, ValueError, "no test pairs"),
        ({"items": np.array([4])}, ValueError, r"\[0, 4\)"),
        ({"users": np.array([2])}, ValueError, r"\[0, 2\)"),
        ({"users": np.array([0.0])}, TypeError, "integer positions"),
        ({"users": np.array([0, 1])}, ValueError, "equal length"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"scores": SCORES, "users": np.array([0]), "items": np.array([1]), "ks": (1,)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        top_k_accuracy(**args)


def test_nan_scores_are_refused():
    bad = SCORES.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        top_k_accuracy(bad, np.array([0]), np.array([1]), ks=(1,))
