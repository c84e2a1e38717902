"""Tests of helpers.evaluate.recall_at_k on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data import EncodedSplit
from helpers.evaluate import recall_at_k, top_k_accuracy


def make_split(train_users, train_items, test_users, test_items, n_users=2, n_items=4):
    return EncodedSplit(
        user_ids=np.array([f"u{i}" for i in range(n_users)]),
        movie_titles=np.array([f"m{i}" for i in range(n_items)]),
        train_users=np.asarray(train_users),
        train_items=np.asarray(train_items),
        test_users=np.asarray(test_users),
        test_items=np.asarray(test_items),
    )


SCORES = np.array(
    [
        [0.9, 0.8, 0.1, 0.3],  # user 0 ranks items 0, 1, 3, 2
        [0.1, 0.2, 0.3, 0.4],  # user 1 ranks items 3, 2, 1, 0
    ]
)
# User 0 saw item 0 in train; tests on items 1 and 3. User 1 saw item 3; tests on item 0.
SPLIT = make_split([0, 1], [0, 3], [0, 0, 1], [1, 3, 0])


def test_recall_by_hand_with_seen_excluded():
    # User 0 without item 0: ranks 1, 3, 2 -> test items 1 (rank 0) and 3 (rank 1).
    # User 1 without item 3: ranks 2, 1, 0 -> test item 0 at rank 2.
    recall = recall_at_k(SCORES, SPLIT, ks=(1, 2, 3))
    assert recall == pytest.approx({1: (0.5 + 0) / 2, 2: (1 + 0) / 2, 3: (1 + 1) / 2})


def test_recall_by_hand_with_seen_kept():
    # User 0: item 1 at rank 1, item 3 at rank 2. User 1: item 0 at rank 3.
    recall = recall_at_k(SCORES, SPLIT, ks=(1, 2, 3, 4), exclude_seen=False)
    assert recall == pytest.approx({1: 0.0, 2: 0.25, 3: 0.5, 4: 1.0})


def test_every_user_weighs_the_same():
    """One pair per user: recall equals top-k accuracy; otherwise users are averaged."""
    split = make_split([0], [2], [0, 1], [0, 0])
    for k in (1, 2, 3):
        assert recall_at_k(SCORES, split, ks=(k,), exclude_seen=False) == pytest.approx(
            top_k_accuracy(SCORES, split.test_users, split.test_items, ks=(k,))
        )
    # User 0 has three test pairs (all hits at k=3), user 1 one (a miss at k=3):
    # per pair 3/4, per user (1 + 0) / 2.
    split = make_split([0], [2], [0, 0, 0, 1], [0, 1, 3, 0])
    assert recall_at_k(SCORES, split, ks=(3,), exclude_seen=False)[3] == pytest.approx(0.5)


def test_shared_scores_and_seen_test_pairs_dropped():
    popularity = np.array([5.0, 1.0, 3.0, 2.0])
    # User 1's test item 2 is also in their train: dropped when seen are excluded.
    split = make_split([1], [2], [0, 1], [3, 2])
    assert recall_at_k(popularity, split, ks=(2,)) == pytest.approx({2: 0.0})
    assert recall_at_k(popularity, split, ks=(3,)) == pytest.approx({3: 1.0})
    assert recall_at_k(popularity, split, ks=(3,), exclude_seen=False) == pytest.approx(
        {3: 1.0}
    )


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((SCORES, "not a split"), TypeError, "EncodedSplit"),
        ((SCORES, SPLIT, (0,)), ValueError, "1..4"),
        ((SCORES, SPLIT, (1.5,)), TypeError, "int"),
        ((SCORES, SPLIT, ()), ValueError, "at least one"),
        ((SCORES[:, :2], SPLIT, (1,)), ValueError, r"\[0, 2\)"),
        ((SCORES, make_split([0], [1], [0], [1]), (1,)), ValueError, "no test pairs"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        recall_at_k(*args)
