"""Baselines that any recommender must beat before it is worth its complexity.

Both return scores in the form :func:`helpers.evaluate.top_k_accuracy` takes.
"""

from __future__ import annotations

import numpy as np

from helpers import _checks

__all__ = ["popularity_scores", "random_scores"]


def popularity_scores(train_items: np.ndarray, n_items: int) -> np.ndarray:
    """How often each item occurs in train: the same ranking for every user.

    Args:
        train_items: integer item positions of the training interactions.
        n_items: catalogue size; items never seen in train score 0.

    Returns:
        ``float64`` array of shape ``(n_items,)``.

    Raises:
        ValueError: ``n_items < 1`` or positions outside ``0..n_items-1``.
        TypeError: non-integer positions.
    """
    n_items = _checks.positive_int("n_items", n_items)
    train_items = _checks.positions("train_items", train_items, n_items, what="items")
    return np.bincount(train_items, minlength=n_items).astype(np.float64)


def random_scores(n_users: int, n_items: int, seed: int = 42) -> np.ndarray:
    """Uniform random scores: the floor. Its expected top-k accuracy is ``k / n_items``.

    Raises:
        ValueError: a size below 1.
        TypeError: a size that is not an int.
    """
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    seed = _checks.non_negative_int("seed", seed)
    return np.random.default_rng(seed).random((n_users, n_items))
