"""One scale for every model in the book: top-k accuracy on held-out pairs.

For each test pair (user, movie), score *every* movie in the catalogue for that
user and ask whether the test movie is among the ``k`` highest. The fraction of
test pairs for which it is, is the top-k accuracy. NumPy models (chapter 2) and
TFRS models (chapters 3 onwards) are measured by the same function, so their
numbers compare.

Ties
    Scores tie more often than one would think: a popularity ranking gives
    every movie with the same number of views the same score, and a model
    that collapsed gives every movie the same score. The book's scale breaks
    ties at random and reports the *expected* accuracy: a test movie that ties
    with ``equal - 1`` others just below ``greater`` better-scored movies takes
    each of the places ``greater + 1 .. greater + equal`` with the same
    probability, so it is in the top ``k`` with probability
    ``clip((k - greater) / equal, 0, 1)``. Constant scores then give exactly
    ``k / n_items``, the accuracy of a random list.

    TFRS's ``FactorizedTopK`` (``tf.math.in_top_k``) counts ties in the test
    movie's favour instead: only strictly higher scores push it down, so
    constant scores would score 1.0 at every ``k``. :func:`factorized_top_k_accuracy`
    keeps that convention, for the one place where a chapter reproduces the
    TFRS metric; nowhere else.

Movies the user already rated in train are **not** excluded by
:func:`top_k_accuracy` (TFRS's convention); :func:`recall_at_k` can exclude them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from helpers import _checks

__all__ = [
    "DEFAULT_KS",
    "rank_counts",
    "ranks",
    "top_k_accuracy",
    "factorized_top_k_accuracy",
    "recall_at_k",
]

#: The cut-offs every chapter reports.
DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 50, 100)


def _check_ks(ks: Sequence[int], n_items: int) -> list[int]:
    """The cut-offs as a list of ints, each from 1 to ``n_items``."""
    ks = list(ks)
    if not ks:
        raise ValueError("ks must name at least one cut-off, e.g. (1, 5, 10, 50, 100)")
    ks = [_checks.integer("k", k) for k in ks]
    for k in ks:
        if not 1 <= k <= n_items:
            raise ValueError(f"each k must lie in 1..{n_items} (the number of items), got {k}")
    return ks


def _check_scores(scores: np.ndarray, users: np.ndarray, items: np.ndarray):
    """Scores as a 2-D array, with validated integer positions into it.

    1-D scores (one list shared by every user) stay 1-D here; ``users`` are
    still checked (they must be integer positions), but any user index is
    valid for a shared list.
    """
    scores = np.asarray(scores)
    if scores.ndim not in (1, 2) or scores.shape[-1] == 0:
        raise ValueError(
            f"scores must be (n_users, n_items) or (n_items,) with n_items > 0, "
            f"got shape {scores.shape}"
        )
    if not np.issubdtype(scores.dtype, np.number):
        raise TypeError(f"scores must be numbers, got dtype {scores.dtype}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: the model diverged or was not trained")
    n_items = scores.shape[-1]
    # A shared list has no user rows: any user position >= 0 is valid for it.
    n_users = scores.shape[0] if scores.ndim == 2 else np.iinfo(np.int64).max
    users, items = _checks.pairs(users, items, n_users, n_items)
    return scores, users, items


def rank_counts(
    scores: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    *,
    chunk_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """For each test pair: how many items score higher, and how many score the same.

    Args:
        scores: ``(n_users, n_items)`` affinity scores, or ``(n_items,)`` when
            every user gets the same scores (a popularity ranking).
        users: integer user positions, one per test pair.
        items: integer item positions, one per test pair.
        chunk_size: test pairs scored at once (bounds memory).

    Returns:
        ``(greater, equal)``, two ``int64`` arrays; ``equal`` counts the test
        item itself, so it is at least 1.

    Raises:
        ValueError: shapes that do not fit, positions out of range, or NaN scores.
        TypeError: non-integer positions, or scores that are not numbers.
    """
    scores, users, items = _check_scores(scores, users, items)
    chunk_size = _checks.positive_int("chunk_size", chunk_size)
    greater = np.empty(len(items), dtype=np.int64)
    equal = np.empty(len(items), dtype=np.int64)
    for start in range(0, len(items), chunk_size):
        part = slice(start, start + chunk_size)
        if scores.ndim == 2:
            rows, own = scores[users[part]], scores[users[part], items[part]]
        else:  # one list shared by every user
            rows, own = scores[np.newaxis, :], scores[items[part]]
        greater[part] = (rows > own[:, np.newaxis]).sum(axis=1)
        equal[part] = (rows == own[:, np.newaxis]).sum(axis=1)
    return greater, equal


def ranks(
    scores: np.ndarray, users: np.ndarray, items: np.ndarray, *, chunk_size: int = 4096
) -> np.ndarray:
    """0-based rank of each test item when ties are counted in its favour.

    The number of items that score *strictly* higher: the rank
    ``tf.math.in_top_k`` (and so ``FactorizedTopK``) uses. See
    :func:`rank_counts` for the arguments.
    """
    return rank_counts(scores, users, items, chunk_size=chunk_size)[0]


def _in_top_k(greater: np.ndarray, equal: np.ndarray, k: int) -> np.ndarray:
    """Probability that each test item lands in the top ``k`` under a random tie-break."""
    return np.clip((k - greater) / equal, 0.0, 1.0)


def top_k_accuracy(
    scores: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[int, float]:
    """Expected fraction of test pairs whose item is in its user's top ``k``.

    Ties are broken at random (see the module's docstring): a test item that
    ties with others at the edge of the list counts for the share of the tied
    places that fall inside it.

    Args:
        scores: ``(n_users, n_items)`` scores, or ``(n_items,)`` shared by all users.
        users: integer user positions of the test pairs.
        items: integer item positions of the test pairs.
        ks: the cut-offs; each an int from 1 to ``n_items``.

    Returns:
        ``{k: accuracy}`` in the order of ``ks``.

    Raises:
        ValueError: no test pairs, or a ``k`` outside ``1..n_items`` (and see
            :func:`rank_counts`).
    """
    ks = _check_ks_for(scores, items, ks)
    greater, equal = rank_counts(scores, users, items)
    return {k: float(np.mean(_in_top_k(greater, equal, k))) for k in ks}


def factorized_top_k_accuracy(
    scores: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[int, float]:
    """Top-k accuracy counted as TFRS's ``FactorizedTopK`` counts it: ties favour the test item.

    Only for reproducing the TFRS metric (chapter 3). It flatters: a model
    whose scores are all equal gets 1.0 at every ``k``. Everywhere else the
    book uses :func:`top_k_accuracy`. Same arguments and errors.
    """
    ks = _check_ks_for(scores, items, ks)
    greater = ranks(scores, users, items)
    return {k: float(np.mean(greater < k)) for k in ks}


def _check_ks_for(scores: np.ndarray, items: np.ndarray, ks: Sequence[int]) -> list[int]:
    """The cut-offs checked against the number of items; at least one test pair."""
    scores = np.asarray(scores)
    if scores.ndim not in (1, 2):
        raise ValueError(
            f"scores must be (n_users, n_items) or (n_items,), got shape {scores.shape}"
        )
    ks = _check_ks(ks, scores.shape[-1])
    if len(np.asarray(items)) == 0:
        raise ValueError("no test pairs to evaluate")
    return ks


def recall_at_k(
    scores: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    seen_users: np.ndarray | None = None,
    seen_items: np.ndarray | None = None,
) -> dict[int, float]:
    """Recall@k averaged over users, optionally never recommending seen movies.

    For each user with test movies ``T_u``, take the ``k`` best-scored movies
    (given ``seen_users``/``seen_items``: among the movies the user has *not*
    seen) and count how many of ``T_u`` are among them; recall@k of the user
    is that count divided by ``|T_u|``, and the result is the mean over users.
    Ties are broken at random, as in :func:`top_k_accuracy`.

    It differs from :func:`top_k_accuracy` in ways that can reorder models:

    * every *user* weighs the same, where top-k accuracy weighs every test
      *pair* the same (so heavy users count more there);
    * ``T_u`` is a set: a pair listed twice in the test data counts once;
    * with seen pairs, the list never wastes places on movies the user
      already rated in train. A test pair that is also a seen pair (possible
      when a title has two movie ids) is then left out, since it could never
      be recommended.

    Args:
        scores: ``(n_users, n_items)`` scores, or ``(n_items,)`` shared by all users.
        users, items: integer positions of the test pairs (as :func:`top_k_accuracy`).
        ks: the cut-offs; each an int from 1 to ``n_items``.
        seen_users, seen_items: integer positions of the pairs to exclude from
            every list (the training pairs); both or neither.

    Returns:
        ``{k: recall}`` in the order of ``ks``.

    Raises:
        TypeError: non-integer positions, or bad ``ks``.
        ValueError: shapes that do not fit, positions out of range, only one of
            ``seen_users``/``seen_items``, or no test pair left to evaluate.
    """
    if (seen_users is None) != (seen_items is None):
        raise ValueError("pass both seen_users and seen_items (the training pairs), or neither")
    scores = np.asarray(scores)
    ks = _check_ks_for(scores, items, ks)
    if scores.ndim == 1:  # one list for everybody: give each user its own row
        n_users = 1 + max(_largest("users", users), _largest("seen_users", seen_users))
        scores = np.broadcast_to(scores, (n_users, scores.shape[0]))
    users, items = _checks.pairs(users, items, *scores.shape)
    test = np.unique(np.stack([users, items], axis=1), axis=0)  # each pair once
    test_users, test_items = test[:, 0], test[:, 1]
    if seen_users is not None:
        seen_users, seen_items = _checks.pairs(
            seen_users, seen_items, *scores.shape, names=("seen_users", "seen_items")
        )
        seen = np.zeros(scores.shape, dtype=bool)
        seen[seen_users, seen_items] = True
        keep = ~seen[test_users, test_items]
        test_users, test_items = test_users[keep], test_items[keep]
        scores = np.where(seen, -np.inf, scores)
    if len(test_items) == 0:
        raise ValueError("no test pairs to evaluate (all test movies were seen in train)")
    greater, equal = rank_counts(scores, test_users, test_items)
    present, user_index = np.unique(test_users, return_inverse=True)
    relevant = np.bincount(user_index, minlength=len(present))
    out = {}
    for k in ks:
        hits = np.bincount(
            user_index, weights=_in_top_k(greater, equal, k), minlength=len(present)
        )
        out[k] = float(np.mean(hits / relevant))
    return out


def _largest(name: str, users: np.ndarray | None) -> int:
    """The largest user position in ``users`` (-1 for none), checked to be integers."""
    if users is None:
        return -1
    users = _checks.positions(name, users, np.iinfo(np.int64).max, what="users")
    return int(users.max(initial=-1))
