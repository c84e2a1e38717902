"""Baselines that any recommender must beat before it is worth its complexity.

Both return scores in the form :func:`helpers.evaluate.top_k_accuracy` takes.
"""

from __future__ import annotations

import numpy as np

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
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ValueError(f"n_items must be a positive int, got {n_items!r}")
    train_items = np.asarray(train_items)
    if train_items.size and not np.issubdtype(train_items.dtype, np.integer):
        raise TypeError(
            f"train_items must be integer positions (helpers.data.encode), got {train_items.dtype}"
        )
    if train_items.size and (train_items.min() < 0 or train_items.max() >= n_items):
        raise ValueError(f"item positions must lie in [0, {n_items})")
    return np.bincount(train_items, minlength=n_items).astype(np.float64)


def random_scores(n_users: int, n_items: int, seed: int = 42) -> np.ndarray:
    """Uniform random scores: the floor. Its expected top-k accuracy is ``k / n_items``.

    Raises:
        ValueError: a size below 1.
    """
    for name, n in (("n_users", n_users), ("n_items", n_items)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    return np.random.default_rng(seed).random((n_users, n_items))
