"""Metrics: how well each user's ranked list matches what the user did.

Equal scores are in random order and a metric is its expected value (except
:func:`factorized_top_k_accuracy`: like TFRS's ``FactorizedTopK``, ties favour the test item).
A user with nothing relevant gets ``NaN``, left out of every mean, which counts its users.
Per-user metrics take ``(n_users, n_items)`` matrices built with :func:`matrix`: scores
(``-inf``: never listed) and the gains of the held-out items (0 for the rest).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from helpers import _checks

DEFAULT_KS = (1, 5, 10, 50, 100)


def exponential_gain(stars):
    """The graded gain of a rating: ``2**r - 1`` (5 stars earn 31, 1 star earns 1)."""
    return 2.0 ** np.asarray(stars, dtype=float) - 1


def matrix(users, items, shape, values=1.0, fill=0.0, names=("users", "items")) -> np.ndarray:
    """``(n_users, n_items)`` array of ``fill``, with ``values`` at the pairs (the largest wins)."""
    users, items = _checks.pairs(users, items, *shape, names=names)
    out = np.full(shape, -np.inf)
    np.maximum.at(out, (users, items), np.broadcast_to(np.asarray(values, float), users.shape))
    return np.where(np.isneginf(out), fill, out)


def list_scores(lists, n_items: int) -> np.ndarray:
    """Scores that reproduce ranked lists of item positions (``-1`` pads; unlisted: ``-inf``)."""
    lists = np.asarray(lists)
    scores = np.full((len(lists), n_items), -np.inf)
    rows, places = np.nonzero(lists >= 0)
    scores[rows, lists[rows, places]] = lists.shape[1] - places
    return scores


def _ranked(scores, gains):
    """Gains in rank order (0 where the score is ``-inf``), each place's tie group start and size."""
    order = np.argsort(-scores, axis=1, kind="stable")
    s, g = np.take_along_axis(scores, order, 1), np.take_along_axis(gains, order, 1)
    g = np.where(np.isneginf(s), 0.0, g)
    n, m = s.shape
    new = np.ones((n, m), bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    place = np.arange(m)
    start = np.maximum.accumulate(np.where(new, place, 0), axis=1)
    after = np.concatenate([np.where(new[:, 1:], place[1:], m), np.full((n, 1), m)], 1)
    end = np.minimum.accumulate(after[:, ::-1], axis=1)[:, ::-1]
    return g, start, end - start


def ndcg(scores: np.ndarray, gains: np.ndarray, k: int) -> np.ndarray:
    """Per user: expected DCG@k over random tie-breaks, over the best possible DCG@k.

    ``DCG@k = sum over ranks r = 1..k of gain(r) / log2(r + 1)``; NaN if no gain.
    """
    g, start, size = _ranked(scores, gains)
    total = np.concatenate([np.zeros((len(g), 1)), np.cumsum(g, axis=1)], axis=1)
    group_mean = (np.take_along_axis(total, start + size, 1)
                  - np.take_along_axis(total, start, 1)) / size
    discount = 1.0 / np.log2(np.arange(2, k + 2))[: g.shape[1]]
    dcg = group_mean[:, :k] @ discount
    ideal = -np.sort(-gains, axis=1)[:, :k] @ discount
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal > 0, dcg / ideal, np.nan)


def recall(scores: np.ndarray, gains: np.ndarray, k: int) -> np.ndarray:
    """Per user: the expected share of relevant items (gain > 0) in the top ``k``; NaN
    for a user with none."""
    g, start, size = _ranked(scores, gains)
    inside = np.clip((k - start) / size, 0.0, 1.0)  # chance a place makes the top k
    hits = ((g > 0) * inside).sum(axis=1)
    relevant = (gains > 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(relevant > 0, hits / relevant, np.nan)


def mean_over_users(values: np.ndarray) -> tuple[float, int]:
    """The mean of per-user values over users with something relevant, and their number."""
    kept = ~np.isnan(values)
    if not kept.any():
        raise ValueError("no user has a relevant item: nothing to average")
    return float(values[kept].mean()), int(kept.sum())


def recall_at_k(scores, users, items, ks: Sequence[int] = DEFAULT_KS, *,
                seen_users=None, seen_items=None) -> dict[int, float]:
    """``{k: mean recall@k}`` over the users with a test item; seen (training) pairs never
    listed. ``scores`` is ``(n_users, n_items)`` or one ``(n_items,)`` row shared by all."""
    scores = np.asarray(scores, dtype=float)
    if (seen_users is None) != (seen_items is None):
        raise ValueError("pass both seen_users and seen_items (the training pairs), or neither")
    ks = _check_ks(ks, scores, items)
    if scores.ndim == 1:
        rows = 1 + max(np.max(users, initial=-1), np.max(seen_users, initial=-1)
                       if seen_users is not None else -1)
        scores = np.broadcast_to(scores, (int(rows), len(scores)))
    gains = matrix(users, items, scores.shape)
    if seen_users is not None:
        seen = matrix(seen_users, seen_items, scores.shape, names=("seen_users", "seen_items")) > 0
        scores, gains = np.where(seen, -np.inf, scores), np.where(seen, 0.0, gains)
    if not gains.any():
        raise ValueError("no test pairs to evaluate (all test movies were seen in train)")
    return {k: mean_over_users(recall(scores, gains, k))[0] for k in ks}


def evaluate_lists(lists, gains, *, k: int = 10, candidates=None) -> dict:
    """Recall@k, NDCG@k (graded and binary) of ranked lists; optionally the candidates' recall."""
    k = _checks.positive_int("k", k)
    scores = list_scores(lists, gains.shape[1])
    binary = (gains > 0).astype(float)
    out = {f"recall@{k}": recall(scores, gains, k), f"NDCG@{k}": ndcg(scores, gains, k),
           f"NDCG@{k} binary": ndcg(scores, binary, k)}
    if candidates is not None:
        m = np.shape(candidates)[1]
        out[f"candidate recall@{m}"] = recall(list_scores(candidates, gains.shape[1]), gains, m)
    means = {name: mean_over_users(v) for name, v in out.items()}
    return {**{name: v for name, (v, _) in means.items()}, "users": means[f"recall@{k}"][1]}


def _id_matrices(found, exact):
    """Scores and gains over the ids of each row: ``found`` ranked, ``exact`` relevant."""
    n, k = found.shape
    ids, codes = np.unique(np.concatenate([found, exact], 1), return_inverse=True)
    codes, rows = codes.reshape(n, 2 * k), np.repeat(np.arange(n), k)
    scores = matrix(rows, codes[:, :k].ravel(), (n, len(ids)), np.tile(np.arange(k, 0, -1), n),
                    fill=-np.inf)
    return scores, matrix(rows, codes[:, k:].ravel(), scores.shape)


def neighbour_recall(found, exact) -> float:
    """Recall@k of each query's ``found`` ids with its exact top-k ``exact`` as relevant, averaged."""
    found, exact = np.asarray(found), np.asarray(exact)
    if found.ndim != 2 or found.shape != exact.shape or found.size == 0:
        raise ValueError(f"found and exact must be non-empty (n_queries, k) arrays of one "
                         f"shape, got {found.shape} and {exact.shape}")
    parts = max(1, len(found) // 100)  # ~100 queries at a time keep the matrices small
    values = [recall(*_id_matrices(f, e), found.shape[1])
              for f, e in zip(np.array_split(found, parts), np.array_split(exact, parts))]
    return mean_over_users(np.concatenate(values))[0]


# ------------------------------------------------------------ per test pair


def rank_counts(scores, users, items, *, chunk_size: int = 4096):
    """Per test pair: how many items score higher than its item, and how many the same."""
    scores = np.asarray(scores, dtype=float)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: the model diverged or was not trained")
    n_users = scores.shape[0] if scores.ndim == 2 else np.iinfo(np.int64).max
    users, items = _checks.pairs(users, items, n_users, scores.shape[-1])
    greater, equal = np.empty(len(items), int), np.empty(len(items), int)
    for s in range(0, len(items), chunk_size):
        part = slice(s, s + chunk_size)
        rows = scores[users[part]] if scores.ndim == 2 else scores[np.newaxis]
        own = rows[np.arange(len(items[part])) % len(rows), items[part]][:, np.newaxis]
        greater[part], equal[part] = (rows > own).sum(1), (rows == own).sum(1)
    return greater, equal


def ranks(scores, users, items, *, chunk_size: int = 4096) -> np.ndarray:
    """0-based rank of each test item, ties in its favour (``tf.math.in_top_k``'s rank)."""
    return rank_counts(scores, users, items, chunk_size=chunk_size)[0]


def _check_ks(ks, scores, items) -> list[int]:
    n_items = np.shape(scores)[-1]
    ks = [_checks.integer("k", k) for k in ks]
    if not ks:
        raise ValueError("ks must hold at least one cut-off")
    if any(not 1 <= k <= n_items for k in ks):
        raise ValueError(f"every k must lie in 1..{n_items} (the number of items), got {ks}")
    if len(items) == 0:
        raise ValueError("no test pairs to evaluate")
    return ks


def top_k_accuracy(scores, users, items, ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    """Expected share of test pairs whose item is in its user's top ``k`` (random tie-break)."""
    ks = _check_ks(ks, scores, items)
    greater, equal = rank_counts(scores, users, items)
    return {k: float(np.mean(np.clip((k - greater) / equal, 0.0, 1.0))) for k in ks}


def factorized_top_k_accuracy(scores, users, items, ks: Sequence[int] = DEFAULT_KS) -> dict:
    """Top-k accuracy as TFRS's ``FactorizedTopK`` counts it: ties favour the test item."""
    ks = _check_ks(ks, scores, items)
    greater = ranks(scores, users, items)
    return {k: float(np.mean(greater < k)) for k in ks}


# ----------------------------------------------------------------- ratings


def _errors(predictions, ratings) -> np.ndarray:
    predictions, ratings = np.asarray(predictions, float), np.asarray(ratings, float)
    if predictions.shape != ratings.shape or predictions.ndim != 1:
        raise ValueError(f"predictions and ratings must be 1-D of one shape, got "
                         f"{predictions.shape} and {ratings.shape}")
    return predictions - ratings


def rmse(predictions, ratings) -> float:
    """Root mean squared error, in stars."""
    return float(np.sqrt(np.mean(_errors(predictions, ratings) ** 2)))


def mae(predictions, ratings) -> float:
    """Mean absolute error, in stars."""
    return float(np.mean(np.abs(_errors(predictions, ratings))))


def paired_difference(a, b) -> tuple[float, float, int]:
    """Mean and standard error of the per-user difference ``a - b``, over the users with
    both values (NaN in either: left out), and their number."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D per-user values of one shape, got {a.shape}, {b.shape}")
    d = (a - b)[~np.isnan(a - b)]
    if len(d) < 2:
        raise ValueError(f"{len(d)} user(s) with both values: no standard error")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))), len(d)
