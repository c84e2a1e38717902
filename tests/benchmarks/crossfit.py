"""Cross-fitting for a second stage trained on the first stage's own training pairs
(tests/benchmarks/ch8_second_stage.py; tested in tests/test_ranking_crossfit.py).

It lives beside the benchmark, not in ``helpers/``, until a chapter uses it.
"""

import numpy as np

from helpers import _checks
from helpers.baselines import _ease
from helpers.metrics import matrix
from helpers.ranking import PAD


def crossfit_folds(n: int, k: int = 5, seed: int = 42) -> np.ndarray:
    """A random fold in ``0..k-1`` for each of ``n`` training pairs, as equal as possible:
    fold ``f`` labels lists built from the other folds (:func:`crossfit_lists`)."""
    n, k = _checks.positive_int("n", n), _checks.positive_int("k", k)
    seed = _checks.non_negative_int("seed", seed)
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


def crossfit_lists(users, items, gains, shape, folds, build):
    """``(X, Y)`` stacked over folds: ``cand, X = build(rows)`` from the *other* folds'
    rows only, ``Y`` the held-out fold's gains at ``cand`` (0: nothing rated, or padding)."""
    Xs, Ys = [], []
    for f in range(int(folds.max()) + 1):
        held = folds == f
        cand, X = build(np.flatnonzero(~held))
        G = matrix(users[held], items[held], shape, gains[held])
        Xs.append(X), Ys.append(np.where(cand == PAD, 0.0, np.take_along_axis(G, cand, axis=1)))
    return np.stack(Xs), np.stack(Ys)


FEATURES = ("first_stage_score", "first_stage_rank", "ease_score", "ease_rank", "popularity",
            "mean_rating", "recent_similarity", "user_count", "predicted_rating", "item_recency")


def candidate_features(cand, S, V, users, items, stars, stamps, n_users, n_items,
                       *, ease_reg: float = 500.0, recent: int = 5):
    """``(X, names)``: :data:`FEATURES` ``(users, k, features)`` of the candidates from
    the given pairs only, the first stage's scores ``S`` and title vectors ``V``."""
    seen = matrix(users, items, (n_users, n_items))
    E = seen @ _ease(seen, ease_reg)
    rank = np.argsort(np.argsort(-np.where(seen > 0, -np.inf, E), 1, kind="stable"), 1)
    count, mean = np.bincount(items, minlength=n_items).astype(float), stars.mean()
    item_mean = (np.bincount(items, stars, minlength=n_items) + 10 * mean) / (count + 10)
    user_count = np.bincount(users, minlength=n_users).astype(float)
    user_bias = np.bincount(users, stars - item_mean[items], minlength=n_users) / (user_count + 5)
    W = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-9)
    latest = np.lexsort((-stamps, users))  # by user, newest first
    take = latest[np.arange(len(latest)) - np.searchsorted(users[latest], users[latest]) < recent]
    profile = np.zeros((n_users, V.shape[1]))
    np.add.at(profile, users[take], W[items[take]])
    item_time = np.bincount(items, stamps, minlength=n_items) / np.maximum(count, 1)
    item_time = np.where(count > 0, (item_time - stamps.max()) / 86400, -1e4)
    rows = np.arange(len(cand))[:, None]
    X = np.stack([S[rows, cand], np.broadcast_to(np.arange(cand.shape[1]), cand.shape),
                  E[rows, cand], rank[rows, cand], count[cand], item_mean[cand],
                  np.einsum("ukd,ud->uk", W[cand], profile),
                  np.broadcast_to(user_count[:, None], cand.shape),
                  user_bias[:, None] + item_mean[cand], item_time[cand]], axis=-1)
    return X, list(FEATURES)
