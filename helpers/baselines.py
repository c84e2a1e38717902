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


def _ease(X: np.ndarray, reg: float) -> np.ndarray:
    """EASE (Steck 2019), ``argmin ‖X − XB‖² + reg‖B‖²``, ``diag(B) = 0``: ``B = −P / diag(P)``
    column-wise off the diagonal, ``P = (XᵀX + reg·I)⁻¹``."""
    P = np.linalg.inv(X.T @ X + reg * np.eye(X.shape[1]))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    return B


def ease_scores(X, reg: float = 500.0) -> np.ndarray:
    """Item-item scores ``X B`` of EASE (:func:`_ease`) for a ``(users, items)`` 0/1 matrix."""
    if (X := np.asarray(X, dtype=np.float64)).ndim != 2:
        raise ValueError(f"X must be a (users, items) matrix, got shape {X.shape}")
    reg = _checks.number("reg", reg, low=0.0, low_open=True)
    return X @ _ease(X, reg)
