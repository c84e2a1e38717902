"""Tests of helpers.metrics.top_k_accuracy on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.metrics import (
    factorized_top_k_accuracy,
    rank_counts,
    ranks,
    recall_at_k,
    top_k_accuracy,
)


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


def test_constant_scores_give_k_over_n_not_one():
    """A collapsed model (all scores equal) is a random list: k / n_items at every k."""
    flat = np.zeros((3, 8))
    users, items = np.array([0, 1, 2, 2]), np.array([7, 0, 3, 5])
    acc = top_k_accuracy(flat, users, items, ks=(1, 2, 4, 8))
    assert acc == pytest.approx({1: 1 / 8, 2: 2 / 8, 4: 4 / 8, 8: 1.0})
    # The same holds for one list shared by every user.
    assert top_k_accuracy(np.zeros(8), users, items, ks=(2,)) == pytest.approx({2: 0.25})


def test_ties_at_the_edge_of_the_list_count_for_their_share():
    # Test item 1 ties with items 2 and 3 behind item 0: it takes place 2, 3 or 4.
    scores = np.array([[9.0, 5.0, 5.0, 5.0, 1.0]])
    acc = top_k_accuracy(scores, np.array([0]), np.array([1]), ks=(1, 2, 3, 4, 5))
    assert acc == pytest.approx({1: 0.0, 2: 1 / 3, 3: 2 / 3, 4: 1.0, 5: 1.0})
    greater, equal = rank_counts(scores, np.array([0]), np.array([1]))
    assert (greater.tolist(), equal.tolist()) == ([1], [3])


def test_factorized_top_k_counts_ties_in_the_test_items_favour():
    """As tf.math.in_top_k does: only strictly higher scores push an item down."""
    flat = np.ones((1, 5))
    assert factorized_top_k_accuracy(flat, np.array([0]), np.array([4]), ks=(1,)) == {1: 1.0}
    assert top_k_accuracy(flat, np.array([0]), np.array([4]), ks=(1,)) == {1: 0.2}


def test_without_ties_both_conventions_agree():
    rng = np.random.default_rng(3)
    scores = rng.random((20, 15))
    users, items = rng.integers(0, 20, 300), rng.integers(0, 15, 300)
    assert top_k_accuracy(scores, users, items, ks=(1, 5)) == factorized_top_k_accuracy(
        scores, users, items, ks=(1, 5)
    )


def test_numpy_integers_are_accepted_as_k():
    acc = top_k_accuracy(SCORES, np.array([0]), np.array([0]), ks=(np.int64(1),))
    assert acc == {1: 1.0}


@pytest.mark.parametrize(
    "users, error, match",
    [
        (np.array([0.0, 1.0, 2.0]), TypeError, "users must be integer positions"),
        (np.array([0, -1, 2]), ValueError, "users"),
    ],
)
def test_shared_scores_still_check_users(users, error, match):
    with pytest.raises(error, match=match):
        top_k_accuracy(np.array([5.0, 1.0, 3.0]), users, np.array([0, 2, 1]), ks=(1,))


def test_float_items_are_named_as_items():
    with pytest.raises(TypeError, match="items must be integer positions of items"):
        top_k_accuracy(np.array([5.0, 1.0, 3.0]), np.array([0]), np.array([1.0]), ks=(1,))


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
