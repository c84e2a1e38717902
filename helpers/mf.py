"""Matrix factorization: ``A ≈ U Vᵀ`` of a feedback matrix (WALS, SGD), and biased MF of star ratings.

WALS and SGD minimise ``F = Σ_obs (A_ij - u_i·v_j)² + w0 Σ_unobs (u_i·v_j)² + reg (‖U‖² + ‖V‖²)``
(observed: the non-zero entries). ``w0 = 0`` folds (all scores 1); ``w0 > 0`` pulls unobserved
scores to 0 (Hu, Koren and Volinsky, 2008). One row solver serves WALS and biased MF.
"""

from dataclasses import dataclass, field

import numpy as np

from helpers import _checks
from helpers.timing import Stopwatch

RATING_RANGE = (1.0, 5.0)  # whole stars; predicted ratings are clipped to it


@dataclass
class Factorization:
    """``U`` (n_users x d) and ``V`` (n_items x d) from :func:`wals` or :func:`sgd`; ``losses[t]``
    is :func:`objective` after sweep or epoch ``t + 1``, ``initial_loss`` at the random start."""
    U: np.ndarray
    V: np.ndarray
    losses: list[float]
    seconds: float
    cpu_seconds: float
    initial_loss: float = float("nan")
    method: str = ""

    def scores(self) -> np.ndarray:
        """``U @ V.T``: the ``(n_users, n_items)`` predicted affinities."""
        return self.U @ self.V.T


def _matrix(A) -> np.ndarray:
    """``A`` as a finite, non-empty, not all-zero 2-D float64 array; a clear error otherwise."""
    if not isinstance(A, (list, tuple, np.ndarray)):
        raise TypeError(f"A must be a 2-D NumPy array (e.g. from feedback_matrix), got {type(A).__name__}")
    A = np.asarray(A)
    if A.dtype.kind not in "biuf":
        raise TypeError(f"A must hold numbers, got dtype {A.dtype}")
    if A.ndim != 2 or A.size == 0:
        raise ValueError(f"A must be a 2-D (n_users, n_items) matrix, not empty, got shape {A.shape}")
    A = A.astype(np.float64)
    if not np.isfinite(A).all():
        raise ValueError("A contains NaN or infinite values; mark unobserved entries with 0, not NaN")
    if not A.any():
        raise ValueError("A has no observed (non-zero) entries: there is nothing to fit")
    return A


def feedback_matrix(users, items, n_users: int, n_items: int) -> np.ndarray:
    """The implicit feedback matrix, ``(n_users, n_items)`` float32: 1 where a user (position)
    interacted with an item (position), else 0; a pair listed twice still gives 1."""
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    users, items = _checks.pairs(users, items, n_users, n_items)
    A = np.zeros((n_users, n_items), dtype=np.float32)
    A[users, items] = 1.0
    return A


def _entries(A: np.ndarray):
    """The observed (non-zero) entries of ``A``: rows, columns and values, row by row."""
    rows, cols = np.nonzero(A)
    return rows, cols, A[rows, cols]


def _objective(entries, U, V, w0: float, reg: float) -> float:
    """:func:`objective` in O(nnz·d + (n+m)·d²): unobserved = all (``Σ (UᵀU) ∘ (VᵀV)``) - observed."""
    rows, cols, values = entries
    predicted = np.einsum("ij,ij->i", U[rows], V[cols])
    unobserved = max(float(np.sum((U.T @ U) * (V.T @ V))) - float(np.sum(predicted**2)), 0.0)
    penalty = float(np.sum(U**2) + np.sum(V**2))
    return float(np.sum((values - predicted) ** 2)) + w0 * unobserved + reg * penalty


def objective(A, U, V, *, w0: float, reg: float) -> float:
    """The objective ``F(U, V)`` that :func:`wals` and :func:`sgd` minimise."""
    A = _matrix(A)
    U, V = np.asarray(U, dtype=np.float64), np.asarray(V, dtype=np.float64)
    if U.ndim != 2 or V.ndim != 2 or (len(U), len(V), U.shape[1]) != (*A.shape, V.shape[1]):
        raise ValueError(f"shapes do not fit A ≈ U Vᵀ: A is {A.shape}, U {U.shape}, V {V.shape}")
    w0 = _checks.number("w0", w0, low=0.0)
    reg = _checks.number("reg", reg, low=0.0)
    return _objective(_entries(A), U, V, w0, reg)


def _start(shape, embedding_dim: int, init_std: float, seed: int):
    rng = np.random.default_rng(seed)
    U = rng.normal(0.0, init_std, size=(shape[0], embedding_dim))
    return rng, U, rng.normal(0.0, init_std, size=(shape[1], embedding_dim))


def _pointers(index: np.ndarray, n: int):
    """A stable order grouping ``index``, and where each of the ``n`` groups starts (CSR)."""
    order = np.argsort(index, kind="stable")
    return order, np.concatenate([[0], np.cumsum(np.bincount(index, minlength=n))])


def _solve_half_step(order, ptr, other, values, Y, w0: float, reg: float) -> np.ndarray:
    """With ``Y`` fixed, every row's exact minimiser ``x_r``, in one batched solve:

        (w0·YᵀY + (1-w0)·Σ_{j∈Ω_r} y_j y_jᵀ + reg·I) x_r = Σ_{j∈Ω_r} a_rj y_j

    Row r's entries: ``order[ptr[r]:ptr[r+1]]``, rows ``other`` of ``Y``, ``values``.
    """
    n_rows, d = len(ptr) - 1, Y.shape[1]
    lhs, rhs = np.empty((n_rows, d, d)), np.empty((n_rows, d))
    for r in range(n_rows):  # each step is one small BLAS product
        entries = order[ptr[r] : ptr[r + 1]]
        Y_r = Y[other[entries]]
        lhs[r] = Y_r.T @ Y_r
        rhs[r] = values[entries] @ Y_r
    lhs = w0 * (Y.T @ Y) + (1.0 - w0) * lhs + reg * np.eye(d)  # YᵀY: once for all rows
    try:
        return np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # reg = w0 = 0 and a row with too few entries
        return (np.linalg.pinv(lhs) @ rhs[:, :, None])[:, :, 0]


def _wals(A, U, V, w0: float, reg: float, num_iterations: int):
    """``num_iterations`` sweeps from ``(U, V)``: users with ``V`` fixed, then items
    with ``U`` fixed. Returns ``U``, ``V``, the objective per sweep (never rising)."""
    entries = rows, cols, values = _entries(A)
    by_row, by_col = _pointers(rows, A.shape[0]), _pointers(cols, A.shape[1])
    losses = []
    for _ in range(num_iterations):
        U = _solve_half_step(*by_row, cols, values, V, w0, reg)
        V = _solve_half_step(*by_col, rows, values, U, w0, reg)
        losses.append(_objective(entries, U, V, w0, reg))
    return U, V, losses


def wals(A, embedding_dim: int, *, w0: float, reg: float, num_iterations: int = 10,
         seed: int = 42, init_std: float = 0.1) -> Factorization:
    """Weighted alternating least squares for ``A ≈ U Vᵀ`` (:func:`_wals`), from a normal
    random start of standard deviation ``init_std``."""
    A = _matrix(A)
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    w0 = _checks.number("w0", w0, low=0.0)
    reg = _checks.number("reg", reg, low=0.0)
    num_iterations = _checks.positive_int("num_iterations", num_iterations)
    seed = _checks.non_negative_int("seed", seed)
    init_std = _checks.number("init_std", init_std, low=0.0, low_open=True)
    clock = Stopwatch()
    _, U, V = _start(A.shape, embedding_dim, init_std, seed)
    initial_loss = _objective(_entries(A), U, V, w0, reg)
    U, V, losses = _wals(A, U, V, w0, reg, num_iterations)
    clock.stop()
    return Factorization(U, V, losses, clock.seconds, clock.cpu_seconds, initial_loss, "wals")


def _sgd_step(U, V, cells, targets, weights, learning_rate: float, decay: float):
    """One in-place SGD step on the given cells (equations: :func:`sgd`)."""
    users, items = cells
    U_b, V_b = U[users], V[items]
    error = np.einsum("ij,ij->i", U_b, V_b) - targets
    step = 2.0 * learning_rate * (weights * error)[:, None]
    U *= decay
    V *= decay
    np.add.at(U, users, -step * V_b)  # add.at: a user may occur twice
    np.add.at(V, items, -step * U_b)


def sgd(A, embedding_dim: int, *, learning_rate: float, num_epochs: int, reg: float = 0.0,
        w0: float = 0.0, seed: int = 42, batch_size: int = 1024, negatives: int = 1,
        init_std: float = 0.1) -> Factorization:
    """Mini-batch SGD on the same ``F`` as :func:`wals`; ``learning_rate`` η is per entry.
    Each epoch visits the N observed entries once, in random batches of B. With ``w0 > 0`` each
    batch adds ``negatives·B`` uniform cells (observed ones dropped), target 0, weight
    ``w0·n_users·n_items/(N·negatives)``: an unbiased estimate of the w0 term. With ``e = u·v - a``:
    ``u_i -= 2η Σ c e v_j``, ``v_j -= 2η Σ c e u_i``, and ``U, V *= 1 - 2η·reg·B/N`` (L2).
    """
    A = _matrix(A)
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    learning_rate = _checks.number("learning_rate", learning_rate, low=0.0, low_open=True)
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    reg = _checks.number("reg", reg, low=0.0)
    w0 = _checks.number("w0", w0, low=0.0)
    seed = _checks.non_negative_int("seed", seed)
    batch_size = _checks.positive_int("batch_size", batch_size)
    negatives = _checks.positive_int("negatives", negatives)
    init_std = _checks.number("init_std", init_std, low=0.0, low_open=True)
    entries = rows, cols, values = _entries(A)
    n = len(rows)
    if 2.0 * learning_rate * reg * min(batch_size, n) / n >= 1.0:
        raise ValueError(f"learning_rate·reg·batch_size is too large: each step would shrink the "
                         f"embeddings past 0 ({learning_rate=}, {reg=}, {batch_size=}, {n} entries)")
    clock = Stopwatch()
    rng, U, V = _start(A.shape, embedding_dim, init_std, seed)
    initial_loss = _objective(entries, U, V, w0, reg)
    observed, negative_weight = A != 0, w0 * A.shape[0] * A.shape[1] / (n * negatives)
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is raised below
        for _ in range(num_epochs):
            order = rng.permutation(n)
            for begin in range(0, n, batch_size):
                batch = order[begin : begin + batch_size]
                cells, targets, weights = (rows[batch], cols[batch]), values[batch], np.ones(len(batch))
                if w0 > 0:  # uniform cells, minus the observed ones: target 0, negative_weight
                    drawn = [rng.integers(0, size, negatives * len(batch)) for size in A.shape]
                    keep = ~observed[drawn[0], drawn[1]]
                    cells = tuple(np.concatenate([c, d[keep]]) for c, d in zip(cells, drawn))
                    targets = np.concatenate([targets, np.zeros(keep.sum())])
                    weights = np.concatenate([weights, np.full(keep.sum(), negative_weight)])
                decay = 1.0 - 2.0 * learning_rate * reg * len(batch) / n
                _sgd_step(U, V, cells, targets, weights, learning_rate, decay)
            losses.append(_objective(entries, U, V, w0, reg))
            if not np.isfinite(losses[-1]):
                raise ValueError(f"SGD diverged in epoch {len(losses)} (loss {losses[-1]}); "
                                 f"lower learning_rate (now {learning_rate})")
    clock.stop()
    return Factorization(U, V, losses, clock.seconds, clock.cpu_seconds, initial_loss, "sgd")


def _rating_triples(users, items, ratings, n_users, n_items):
    """Checked positions of the rated pairs and their ratings (aligned, some, finite)."""
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    users, items = _checks.pairs(users, items, n_users, n_items)
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.shape != users.shape:
        raise ValueError(f"ratings must be aligned with users, got shapes {ratings.shape} and {users.shape}")
    if users.size == 0 or not np.isfinite(ratings).all():
        raise ValueError("no ratings to fit, or a rating that is not a finite number")
    return users, items, ratings, n_users, n_items


def _clip(values: np.ndarray, clip: bool) -> np.ndarray:
    return np.clip(values, *RATING_RANGE) if clip else values


@dataclass(frozen=True)
class Biases:
    """``r̂(u, i) = mean + user[u] + item[i]``: the baseline predictor."""
    mean: float
    user: np.ndarray
    item: np.ndarray

    def predict(self, users, items, *, clip: bool = True) -> np.ndarray:
        """Predicted ratings of the pairs, clipped to 1-5 unless ``clip=False``."""
        u, i = _checks.pairs(users, items, len(self.user), len(self.item))
        return _clip(self.mean + self.user[u] + self.item[i], clip)


def fit_biases(users, items, ratings, n_users: int, n_items: int, *, reg_user: float = 5.0,
               reg_item: float = 5.0, num_iterations: int = 1) -> Biases:
    """Damped biases (Koren): ``item[i] = Σ_u (r - mean) / (reg_item + n_i)``, then
    ``user[u] = Σ_i (r - mean - item[i]) / (reg_user + n_u)``; more iterations alternate the two,
    minimising ``Σ (r - mean - b_u - b_i)² + reg_user Σ b_u² + reg_item Σ b_i²`` in the limit."""
    users, items, ratings, n_users, n_items = _rating_triples(users, items, ratings, n_users, n_items)
    reg_user = _checks.number("reg_user", reg_user, low=0.0)
    reg_item = _checks.number("reg_item", reg_item, low=0.0)
    num_iterations = _checks.positive_int("num_iterations", num_iterations)
    mean = float(ratings.mean())
    n_u, n_i = np.bincount(users, minlength=n_users), np.bincount(items, minlength=n_items)
    user, item = np.zeros(n_users), np.zeros(n_items)
    with np.errstate(invalid="ignore", divide="ignore"):  # an unrated id with reg 0: 0/0 -> 0
        for _ in range(num_iterations):
            item = np.nan_to_num(np.bincount(items, ratings - mean - user[users], n_items) / (reg_item + n_i))
            user = np.nan_to_num(np.bincount(users, ratings - mean - item[items], n_users) / (reg_user + n_u))
    return Biases(mean, user, item)


@dataclass(frozen=True)
class BiasedMF:
    """``r̂(u, i) = mean + b_u + b_i + p_u · q_i``; ``losses[t]``: :func:`_mf_objective` after sweep t+1."""
    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    losses: list[float] = field(default_factory=list)

    def predict(self, users, items, *, clip: bool = True) -> np.ndarray:
        """Predicted ratings of the pairs, clipped to 1-5 unless ``clip=False``."""
        return _clip(self._raw(*_checks.pairs(users, items, len(self.P), len(self.Q))), clip)

    def _raw(self, users, items) -> np.ndarray:
        dots = np.einsum("ij,ij->i", self.P[users], self.Q[items])
        return self.mean + self.user_bias[users] + self.item_bias[items] + dots


def _mf_objective(model: BiasedMF, users, items, ratings, reg: float) -> float:
    """``Σ (r - r̂)² + reg (‖P‖² + ‖Q‖² + ‖b_user‖² + ‖b_item‖²)``, unclipped r̂."""
    penalty = sum(float(np.sum(a**2)) for a in (model.P, model.Q, model.user_bias, model.item_bias))
    return float(np.sum((ratings - model._raw(users, items)) ** 2) + reg * penalty)


def _biased_mf(users, items, ratings, P, Q, reg: float, num_iterations: int):
    """ALS on the observed ratings from ``(P, Q)``: with ``Q`` fixed, each user's
    ``(p_u, b_u)`` is an exact ridge regression on the user's ratings (features: ``q_i``
    and 1); then every item's with ``P`` fixed. Returns a :class:`BiasedMF`."""
    n_users, n_items = len(P), len(Q)
    user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
    mean = float(ratings.mean())
    by_user, by_item = _pointers(users, n_users), _pointers(items, n_items)
    losses = []
    for _ in range(num_iterations):
        Q1 = np.hstack([Q, np.ones((n_items, 1))])  # a bias: the weight of a constant 1
        residual = ratings - mean - item_bias[items]
        X = _solve_half_step(*by_user, items, residual, Q1, 0.0, reg)
        P, user_bias = X[:, :-1], X[:, -1]
        P1 = np.hstack([P, np.ones((n_users, 1))])
        residual = ratings - mean - user_bias[users]
        X = _solve_half_step(*by_item, users, residual, P1, 0.0, reg)
        Q, item_bias = X[:, :-1], X[:, -1]
        model = BiasedMF(mean, user_bias, item_bias, P, Q)
        losses.append(_mf_objective(model, users, items, ratings, reg))
    return BiasedMF(mean, user_bias, item_bias, P, Q, losses)


def biased_mf(users, items, ratings, n_users: int, n_items: int, *, embedding_dim: int,
              reg: float, num_iterations: int = 15, seed: int = 42,
              init_std: float = 0.1) -> BiasedMF:
    """Biased matrix factorization (Koren, Bell and Volinsky; the Netflix prize's "SVD"),
    minimising :func:`_mf_objective` by :func:`_biased_mf`; no sweep increases it."""
    users, items, ratings, n_users, n_items = _rating_triples(users, items, ratings, n_users, n_items)
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    reg = _checks.number("reg", reg, low=0.0)
    num_iterations = _checks.positive_int("num_iterations", num_iterations)
    seed = _checks.non_negative_int("seed", seed)
    init_std = _checks.number("init_std", init_std, low=0.0)
    _, P, Q = _start((n_users, n_items), embedding_dim, init_std, seed)
    return _biased_mf(users, items, ratings, P, Q, reg, num_iterations)
