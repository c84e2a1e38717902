"""The popularity and random baselines on a tiny hand-made split whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.baselines import popularity_scores, random_scores
from helpers.metrics import top_k_accuracy

# Five items. In train, item 2 is watched 3 times, item 0 twice, item 4 once,
# items 1 and 3 never.
TRAIN_USERS = np.array([0, 1, 2, 0, 1, 2])
TRAIN_ITEMS = np.array([2, 2, 2, 0, 0, 4])
# Test pairs: item 2 (rank 0 by popularity), item 0 (rank 1), item 4 (rank 2),
# item 1 (behind items 2, 0, 4, and tied with item 3, never watched either:
# place 4 or 5 with equal chance).
TEST_USERS = np.array([0, 1, 2, 2])
TEST_ITEMS = np.array([2, 0, 4, 1])


def test_popularity_counts_train_occurrences():
    np.testing.assert_array_equal(popularity_scores(TRAIN_ITEMS, 5), [2, 0, 3, 0, 1])


def test_popularity_top_k_on_the_hand_made_split():
    scores = popularity_scores(TRAIN_ITEMS, 5)
    acc = top_k_accuracy(scores, TEST_USERS, TEST_ITEMS, ks=(1, 2, 3, 4, 5))
    assert acc == pytest.approx({1: 0.25, 2: 0.5, 3: 0.75, 4: 0.875, 5: 1.0})


def test_popularity_is_the_same_for_every_user():
    scores = popularity_scores(TRAIN_ITEMS, 5)
    assert scores.shape == (5,)
    # As a matrix, every row equal, the accuracy is the same.
    matrix = np.tile(scores, (3, 1))
    assert top_k_accuracy(matrix, TEST_USERS, TEST_ITEMS, ks=(1, 3)) == top_k_accuracy(
        scores, TEST_USERS, TEST_ITEMS, ks=(1, 3)
    )


def test_random_scores_are_seeded_and_shaped():
    a, b = random_scores(3, 5, seed=1), random_scores(3, 5, seed=1)
    assert a.shape == (3, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, random_scores(3, 5, seed=2))


def test_random_scores_reach_k_over_n_on_average():
    """Expected top-k accuracy of random scores is k / n_items."""
    n_users, n_items = 200, 50
    users = np.repeat(np.arange(n_users), 5)
    items = np.random.default_rng(0).integers(0, n_items, size=users.size)
    acc = top_k_accuracy(random_scores(n_users, n_items, seed=3), users, items, ks=(5, 25))
    assert acc[5] == pytest.approx(5 / n_items, abs=0.03)
    assert acc[25] == pytest.approx(25 / n_items, abs=0.05)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: popularity_scores(TRAIN_ITEMS, 0), ValueError, "n_items"),
        (lambda: popularity_scores(TRAIN_ITEMS, 3), ValueError, r"\[0, 3\)"),
        (lambda: popularity_scores(np.array([0.5, 1.0]), 3), TypeError, "integer"),
        (lambda: random_scores(0, 5), ValueError, "n_users"),
        (lambda: random_scores(3, -1), ValueError, "n_items"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_ease_is_the_closed_form_ridge_with_a_zero_diagonal():
    """Three users, three items; each column of B solves its own ridge regression
    on the other items (the zero diagonal), so X B is checked against lstsq."""
    from helpers.baselines import _ease, ease_scores
    X = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1.0]])
    reg = 0.5
    B = _ease(X, reg)
    assert np.allclose(np.diag(B), 0.0)
    for j in range(3):
        others = [i for i in range(3) if i != j]
        A = X[:, others]
        w = np.linalg.solve(A.T @ A + reg * np.eye(2), A.T @ X[:, j])
        assert np.allclose(B[others, j], w)
    assert np.allclose(ease_scores(X, reg), X @ B)
    with pytest.raises(ValueError):
        ease_scores(X, 0.0)
