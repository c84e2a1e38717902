"""Tests of helpers.metrics.recall_at_k on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.metrics import recall_at_k, top_k_accuracy

SCORES = np.array(
    [
        [0.9, 0.8, 0.1, 0.3],  # user 0 ranks items 0, 1, 3, 2
        [0.1, 0.2, 0.3, 0.4],  # user 1 ranks items 3, 2, 1, 0
    ]
)
# User 0 saw item 0 in train; tests on items 1 and 3. User 1 saw item 3; tests on item 0.
TEST = (np.array([0, 0, 1]), np.array([1, 3, 0]))
SEEN = {"seen_users": np.array([0, 1]), "seen_items": np.array([0, 3])}


def test_recall_by_hand_with_seen_excluded():
    # User 0 without item 0: ranks 1, 3, 2 -> test items 1 (rank 0) and 3 (rank 1).
    # User 1 without item 3: ranks 2, 1, 0 -> test item 0 at rank 2.
    recall = recall_at_k(SCORES, *TEST, ks=(1, 2, 3), **SEEN)
    assert recall == pytest.approx({1: (0.5 + 0) / 2, 2: (1 + 0) / 2, 3: (1 + 1) / 2})


def test_recall_by_hand_with_seen_kept():
    # User 0: items 1 and 3 at ranks 1 and 2; user 1: item 0 at rank 3.
    recall = recall_at_k(SCORES, *TEST, ks=(1, 2, 3, 4))
    assert recall == pytest.approx({1: 0, 2: 0.25, 3: 0.5, 4: 1.0})


def test_a_duplicated_test_pair_counts_once():
    users, items = TEST
    twice = (np.append(users, 0), np.append(items, 1))  # user 0's item 1 listed again
    for k in (1, 2, 3):
        assert recall_at_k(SCORES, *twice, ks=(k,)) == recall_at_k(SCORES, *TEST, ks=(k,))


def test_one_test_item_per_user_equals_top_k_accuracy():
    rng = np.random.default_rng(0)
    scores = rng.random((30, 12))
    users, items = np.arange(30), rng.integers(0, 12, 30)
    for k in (1, 5, 12):
        assert recall_at_k(scores, users, items, ks=(k,)) == pytest.approx(
            top_k_accuracy(scores, users, items, ks=(k,))
        )


def test_shared_scores_and_seen_pairs():
    popularity = np.array([5.0, 1.0, 3.0, 2.0])
    # User 1's test item 2 is also in their train: dropped when seen are excluded.
    users, items = np.array([0, 1]), np.array([3, 2])
    seen = {"seen_users": np.array([1]), "seen_items": np.array([2])}
    assert recall_at_k(popularity, users, items, ks=(2,), **seen) == pytest.approx({2: 0.0})
    assert recall_at_k(popularity, users, items, ks=(3,), **seen) == pytest.approx({3: 1.0})
    assert recall_at_k(popularity, users, items, ks=(3,)) == pytest.approx({3: 1.0})


def test_constant_scores_give_the_random_list():
    flat = np.zeros((2, 4))
    assert recall_at_k(flat, *TEST, ks=(1, 2)) == pytest.approx({1: 0.25, 2: 0.5})
    # Seen excluded: user 0 and user 1 each have 3 unseen items left.
    assert recall_at_k(flat, *TEST, ks=(1,), **SEEN) == pytest.approx({1: 1 / 3})


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"ks": (0,)}, ValueError, "1..4"),
        ({"ks": (1.5,)}, TypeError, "int"),
        ({"ks": ()}, ValueError, "at least one"),
        ({"scores": SCORES[:, :2]}, ValueError, r"\[0, 2\)"),
        ({"items": np.array([1.0, 3.0, 0.0])}, TypeError, "items must be integer"),
        ({"users": np.array([0, 0])}, ValueError, "equal length"),
        ({"seen_users": np.array([0])}, ValueError, "both"),
        ({"seen_users": np.array([0]), "seen_items": np.array([9])}, ValueError, "seen_items"),
        (
            {"users": np.array([0]), "items": np.array([0]), **SEEN},
            ValueError,
            "no test pairs",
        ),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"scores": SCORES, "users": TEST[0], "items": TEST[1], "ks": (1,)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        recall_at_k(**args)


def test_paired_difference_leaves_out_users_without_both_values():
    from helpers.metrics import paired_difference

    a = np.array([0.5, 1.0, np.nan, 0.0, 1.0])
    b = np.array([0.0, 0.5, 1.0, 0.0, np.nan])
    mean, se, n = paired_difference(a, b)  # differences 0.5, 0.5, 0.0
    assert n == 3
    assert mean == pytest.approx(1 / 3)
    assert se == pytest.approx(np.std([0.5, 0.5, 0.0], ddof=1) / np.sqrt(3))
    with pytest.raises(ValueError, match="one shape"):
        paired_difference(a, b[:3])
    with pytest.raises(ValueError, match="no standard error"):
        paired_difference(np.array([1.0, np.nan]), np.array([0.0, 0.0]))
