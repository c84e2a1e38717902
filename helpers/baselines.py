"""Baselines that any recommender must beat: scores for :func:`helpers.metrics.top_k_accuracy`."""

import numpy as np

from helpers import _checks


def popularity_scores(train_items, n_items: int) -> np.ndarray:
    """How often each item (position) occurs in train, ``(n_items,)`` float64: one ranking for all."""
    n_items = _checks.positive_int("n_items", n_items)
    train_items = _checks.positions("train_items", train_items, n_items, what="items")
    return np.bincount(train_items, minlength=n_items).astype(np.float64)


def random_scores(n_users: int, n_items: int, seed: int = 42) -> np.ndarray:
    """Uniform random scores ``(n_users, n_items)``: the floor, expected top-k accuracy ``k / n_items``."""
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    seed = _checks.non_negative_int("seed", seed)
    return np.random.default_rng(seed).random((n_users, n_items))
