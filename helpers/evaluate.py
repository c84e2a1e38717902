"""One scale for every model in the book: top-k accuracy on held-out pairs.

For each test pair (user, movie), score *every* movie in the catalogue for that
user and ask whether the test movie is among the ``k`` highest. The fraction of
test pairs for which it is, is the top-k accuracy. This is what TFRS's
``tfrs.metrics.FactorizedTopK`` reports as ``factorized_top_k/top_k_categorical_accuracy``,
so NumPy models (chapter 2) and TFRS models (chapters 3-5) can be compared
number for number.

Two conventions, the same as TFRS's:

* movies the user already rated in train are **not** excluded;
* ties count in the test movie's favour: its rank is the number of movies
  with a strictly higher score (as ``tf.math.in_top_k`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["DEFAULT_KS", "ranks", "top_k_accuracy", "recall_at_k"]

#: The cut-offs every chapter reports.
DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 50, 100)


def _check_pairs(scores: np.ndarray, users: np.ndarray, items: np.ndarray) -> None:
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(
            f"users and items must be 1-D and of equal length, got shapes "
            f"{users.shape} and {items.shape}"
        )
    for name, idx in (("users", users), ("items", items)):
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(
                f"{name} must be integer positions (use helpers.data.encode), "
                f"got dtype {idx.dtype}"
            )
    n_users, n_items = scores.shape
    if users.size and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(f"user positions must lie in [0, {n_users}), got {users.min()}..{users.max()}")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"item positions must lie in [0, {n_items}), got {items.min()}..{items.max()}")


def _check_ks(ks: Sequence[int], n_items: int) -> list[int]:
    """The cut-offs as a list; each must be an int from 1 to ``n_items``."""
    ks = list(ks)
    if not ks:
        raise ValueError("ks must name at least one cut-off, e.g. (1, 5, 10, 50, 100)")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"each k must be an int, got {k!r}")
        if not 1 <= k <= n_items:
            raise ValueError(f"each k must lie in 1..{n_items} (the number of items), got {k}")
    return ks


def ranks(
    scores: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    *,
    chunk_size: int = 4096,
) -> np.ndarray:
    """0-based rank of each test item among all items, for its user.

    Args:
        scores: ``(n_users, n_items)`` affinity scores, or ``(n_items,)`` when
            every user gets the same scores (a popularity ranking).
        users: integer user positions, one per test pair.
        items: integer item positions, one per test pair.
        chunk_size: test pairs scored at once (bounds memory).

    Returns:
        ``int64`` array: how many items score strictly higher than the test item.

    Raises:
        ValueError: shapes that do not fit, positions out of range, or NaN scores.
        TypeError: non-integer positions.
    """
    scores = np.asarray(scores)
    if scores.ndim == 1:
        scores = scores[np.newaxis, :]
        users = np.zeros_like(np.asarray(items))
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(
            f"scores must be (n_users, n_items) or (n_items,) with n_items > 0, "
            f"got shape {scores.shape}"
        )
    users, items = np.asarray(users), np.asarray(items)
    _check_pairs(scores, users, items)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: the model diverged or was not trained")
    out = np.empty(len(users), dtype=np.int64)
    for start in range(0, len(users), chunk_size):
        u = users[start : start + chunk_size]
        i = items[start : start + chunk_size]
        rows = scores[u]
        positive = rows[np.arange(len(u)), i]
        out[start : start + chunk_size] = (rows > positive[:, None]).sum(axis=1)
    return out


def top_k_accuracy(
    scores: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[int, float]:
    """Fraction of test pairs whose item is in its user's top ``k``, for each ``k``.

    Args:
        scores: ``(n_users, n_items)`` scores, or ``(n_items,)`` shared by all users.
        users: integer user positions of the test pairs.
        items: integer item positions of the test pairs.
        ks: the cut-offs; each an int from 1 to ``n_items``.

    Returns:
        ``{k: accuracy}`` in the order of ``ks``.

    Raises:
        ValueError: no test pairs, or a ``k`` outside ``1..n_items`` (and see :func:`ranks`).
    """
    scores = np.asarray(scores)
    n_items = scores.shape[-1] if scores.ndim else 0
    ks = _check_ks(ks, n_items)
    if len(np.asarray(items)) == 0:
        raise ValueError("no test pairs to evaluate")
    r = ranks(scores, users, items)
    return {int(k): float(np.mean(r < k)) for k in ks}


# --------------------------------------------------------------------------- recall@k
# Added for chapter 5: the metric most papers and libraries report instead.

_SPLIT_FIELDS = ("train_users", "train_items", "test_users", "test_items")


def recall_at_k(
    scores: np.ndarray,
    split: object,
    ks: Sequence[int] = DEFAULT_KS,
    exclude_seen: bool = True,
) -> dict[int, float]:
    """Recall@k averaged over users, optionally never recommending seen movies.

    For each user with test movies ``T_u``, take the ``k`` best-scored movies
    (with ``exclude_seen``: among the movies the user has *not* rated in
    train) and count how many of ``T_u`` are among them; recall@k of the user
    is that count divided by ``|T_u|``, and the result is the mean over users.

    It differs from :func:`top_k_accuracy` in two ways that can reorder models:

    * every *user* weighs the same, where top-k accuracy weighs every test
      *pair* the same (so heavy users count more there);
    * with ``exclude_seen``, the list never wastes places on movies the user
      already rated in train. A test pair whose movie the user also has in
      train (possible when a title has two movie ids) is then left out, since
      it could never be recommended.

    Ties count in the test movie's favour, as in :func:`ranks`.

    Args:
        scores: ``(n_users, n_items)`` scores, or ``(n_items,)`` shared by all users.
        split: an :class:`helpers.data.EncodedSplit` (train pairs say what is
            seen, test pairs what is relevant).
        ks: the cut-offs; each an int from 1 to ``n_items``.
        exclude_seen: drop each user's training movies from their list.

    Returns:
        ``{k: recall}`` in the order of ``ks``.

    Raises:
        TypeError: ``split`` lacks the ``train_*``/``test_*`` arrays, or bad ``ks``.
        ValueError: scores whose shape does not fit the split, a ``k`` outside
            ``1..n_items``, or no test pair left to evaluate.
    """
    missing = [f for f in _SPLIT_FIELDS if not hasattr(split, f)]
    if missing:
        raise TypeError(
            f"split must be an EncodedSplit (helpers.data.encode_split); "
            f"{type(split).__name__} has no {', '.join(missing)}"
        )
    scores = np.asarray(scores, dtype=np.float64)
    train_users, train_items = np.asarray(split.train_users), np.asarray(split.train_items)
    test_users, test_items = np.asarray(split.test_users), np.asarray(split.test_items)
    n_users = int(max(train_users.max(initial=-1), test_users.max(initial=-1)) + 1)
    if hasattr(split, "n_users"):
        n_users = max(n_users, int(split.n_users))
    if scores.ndim == 1:
        scores = np.broadcast_to(scores, (n_users, scores.shape[0]))
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(
            f"scores must be (n_users, n_items) or (n_items,), got shape {scores.shape}"
        )
    n_items = scores.shape[1]
    ks = _check_ks(ks, n_items)
    _check_pairs(scores, train_users, train_items)
    _check_pairs(scores, test_users, test_items)
    if exclude_seen:
        seen = np.zeros(scores.shape, dtype=bool)
        seen[train_users, train_items] = True
        keep = ~seen[test_users, test_items]
        test_users, test_items = test_users[keep], test_items[keep]
        scores = np.where(seen, -np.inf, scores)
    if len(test_items) == 0:
        raise ValueError("no test pairs to evaluate (all test movies were seen in train)")
    r = ranks(scores, test_users, test_items)
    users_present, user_index = np.unique(test_users, return_inverse=True)
    relevant = np.bincount(user_index, minlength=len(users_present))
    out = {}
    for k in ks:
        hits = np.bincount(user_index, weights=(r < k), minlength=len(users_present))
        out[int(k)] = float(np.mean(hits / relevant))
    return out
