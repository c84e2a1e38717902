"""Matrix factorization of a feedback matrix, ``A ≈ U Vᵀ``, by SGD and by WALS.

Chapter 2 derives both solvers; later chapters reuse them as baselines.

The objective
    ``A`` is an ``(n_users, n_items)`` feedback matrix. Its *observed* entries
    are its non-zero entries (for implicit feedback: the 1s, "watched"); every
    other entry is *unobserved* and is read as a weak 0. With user embeddings
    ``U`` (``n_users x d``) and item embeddings ``V`` (``n_items x d``)::

        F(U, V) =      Σ_{(i,j) observed}   (A_ij - u_i·v_j)²
                  + w0 Σ_{(i,j) unobserved} (u_i·v_j)²
                  + reg (‖U‖_F² + ‖V‖_F²)

    ``w0 = 0`` is observed-only matrix factorization, which *folds*: all-equal
    embeddings with ``u_i·v_j = 1`` fit every observed 1 perfectly and rank
    nothing. ``w0 > 0`` pulls the unobserved scores towards 0
    (Hu, Koren and Volinsky, 2008), ``reg`` keeps the embeddings small.

Both solvers minimise this same ``F`` and record it after every sweep or
epoch, so their loss curves can be drawn on one plot.

* :func:`wals` alternates exact minimisations: fix ``V`` and solve a small
  ``d x d`` linear system for every user, then fix ``U`` and do the same for
  every item.
* :func:`sgd` takes small gradient steps on mini-batches of observed entries,
  plus uniformly sampled cells standing in for the unobserved ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers import _checks
from helpers.timing import Stopwatch

__all__ = ["Factorization", "feedback_matrix", "objective", "sgd", "wals"]


@dataclass
class Factorization:
    """The result of :func:`wals` or :func:`sgd`.

    Attributes:
        U: ``(n_users, d)`` user embeddings.
        V: ``(n_items, d)`` item embeddings.
        losses: the objective :func:`objective` after each sweep (WALS) or
            epoch (SGD); ``len(losses)`` is the number of sweeps or epochs.
        seconds: wall time of training, including the loss evaluations.
        cpu_seconds: CPU time of the same, over all threads.
        initial_loss: the objective at the random starting point.
        method: ``"wals"`` or ``"sgd"``.
        params: the hyperparameters the solver was called with.
    """

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


# --------------------------------------------------------------------------- checks


def _check_matrix(A: Any) -> np.ndarray:
    """``A`` as a finite, non-empty 2-D float64 array; a clear error otherwise."""
    if isinstance(A, (list, tuple)) or isinstance(A, np.ndarray):
        A = np.asarray(A)
    else:
        raise TypeError(
            f"A must be a 2-D NumPy array (e.g. from feedback_matrix), "
            f"got {type(A).__name__}"
        )
    if A.dtype.kind not in "biuf":
        raise TypeError(f"A must hold numbers, got dtype {A.dtype}")
    if A.ndim != 2:
        raise ValueError(
            f"A must be a 2-D (n_users, n_items) matrix, got {A.ndim}-D shape {A.shape}"
        )
    if A.size == 0:
        raise ValueError(
            f"A is empty (shape {A.shape}): it needs at least one row and one column"
        )
    A = A.astype(np.float64)
    if not np.isfinite(A).all():
        raise ValueError(
            "A contains NaN or infinite values; mark unobserved entries with 0, not NaN"
        )
    if not A.any():
        raise ValueError(
            "A has no observed (non-zero) entries: there is nothing to fit"
        )
    return A


def _check_factors(A: np.ndarray, U: Any, V: Any) -> tuple[np.ndarray, np.ndarray]:
    U, V = np.asarray(U, dtype=np.float64), np.asarray(V, dtype=np.float64)
    if U.ndim != 2 or V.ndim != 2:
        raise ValueError(f"U and V must be 2-D, got shapes {U.shape} and {V.shape}")
    if U.shape[0] != A.shape[0] or V.shape[0] != A.shape[1] or U.shape[1] != V.shape[1]:
        raise ValueError(
            f"shapes do not fit A ≈ U Vᵀ: A is {A.shape}, U is {U.shape}, "
            f"V is {V.shape}; "
            "U needs one row per row of A, V one row per column, both the same width"
        )
    return U, V


# ------------------------------------------------------------------- the matrix


def feedback_matrix(
    users: Any, items: Any, n_users: int, n_items: int
) -> np.ndarray:
    """The implicit feedback matrix: 1 where a user interacted with an item, else 0.

    Args:
        users: integer user positions (row numbers), one per interaction, e.g.
            ``EncodedSplit.train_users``.
        items: integer item positions (column numbers), as many as ``users``.
        n_users, n_items: the shape of the matrix (all users and all items,
            including those without interactions).

    Returns:
        A ``float32`` array of shape ``(n_users, n_items)`` holding 0s and 1s.
        An interaction listed twice still gives a 1.

    Raises:
        ValueError: sizes below 1, arrays of different lengths or not 1-D, or
            positions outside ``0..n_users-1`` / ``0..n_items-1``.
        TypeError: positions that are not integers (encode them first with
            :func:`helpers.data.encode`).
    """
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    users, items = np.asarray(users), np.asarray(items)
    if users.ndim != 1 or items.ndim != 1 or users.shape != items.shape:
        raise ValueError(
            f"users and items must be 1-D arrays of equal length, got shapes "
            f"{users.shape} and {items.shape}"
        )
    for name, idx, n in (("users", users, n_users), ("items", items, n_items)):
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(
                f"{name} must be integer positions (use helpers.data.encode), "
                f"got dtype {idx.dtype}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = idx[(idx < 0) | (idx >= n)]
            raise ValueError(
                f"{len(bad)} {name} position(s) lie outside 0..{n - 1}, "
                f"e.g. {bad[:5].tolist()}; "
                f"is n_{name} the size of the whole vocabulary?"
            )
    A = np.zeros((n_users, n_items), dtype=np.float32)
    A[users, items] = 1.0
    return A


# ---------------------------------------------------------------- the objective


def _pointers(index: np.ndarray, n: int) -> np.ndarray:
    """Where each group starts in an array sorted by ``index`` (CSR row pointers)."""
    return np.concatenate([[0], np.cumsum(np.bincount(index, minlength=n))])


@dataclass(frozen=True)
class _Observed:
    """The non-zero entries of ``A``, grouped by row and (separately) by column."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    row_ptr: np.ndarray  # row r's entries: cols[row_ptr[r]:row_ptr[r+1]]
    col_order: np.ndarray  # the same entries sorted by column
    col_ptr: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, A: np.ndarray) -> "_Observed":
        rows, cols = np.nonzero(A)  # row-major, so already grouped by row
        n_rows, n_cols = A.shape
        col_order = np.argsort(cols, kind="stable")
        return cls(
            rows=rows,
            cols=cols,
            values=A[rows, cols],
            row_ptr=_pointers(rows, n_rows),
            col_order=col_order,
            col_ptr=_pointers(cols, n_cols),
            shape=(n_rows, n_cols),
        )


def _objective(
    obs: _Observed, U: np.ndarray, V: np.ndarray, w0: float, reg: float
) -> float:
    """:func:`objective` without the checks, in O(nnz·d + (n+m)·d²).

    The unobserved part is never formed cell by cell: the sum of *all* squared
    scores is ``‖U Vᵀ‖² = Σ (UᵀU) ∘ (VᵀV)``; subtracting the observed cells
    leaves the unobserved ones.
    """
    predicted = np.einsum("ij,ij->i", U[obs.rows], V[obs.cols])
    observed_error = float(np.sum((obs.values - predicted) ** 2))
    all_squared = float(np.sum((U.T @ U) * (V.T @ V)))
    unobserved_squared = max(all_squared - float(np.sum(predicted**2)), 0.0)
    penalty = float(np.sum(U**2) + np.sum(V**2))
    return observed_error + w0 * unobserved_squared + reg * penalty


def objective(A: Any, U: Any, V: Any, *, w0: float, reg: float) -> float:
    """The weighted matrix-factorization objective both solvers minimise.

    .. math::

        F(U, V) = \\sum_{(i,j) \\in \\Omega} (A_{ij} - u_i \\cdot v_j)^2
                + w_0 \\sum_{(i,j) \\notin \\Omega} (u_i \\cdot v_j)^2
                + \\lambda (\\|U\\|_F^2 + \\|V\\|_F^2)

    where :math:`\\Omega` is the set of observed (non-zero) entries of ``A``
    and :math:`\\lambda` is ``reg``.

    Args:
        A: ``(n_users, n_items)`` feedback matrix; non-zero entries are observed.
        U: ``(n_users, d)`` user embeddings.
        V: ``(n_items, d)`` item embeddings.
        w0: weight of the unobserved entries (0: observed-only).
        reg: L2 regularization strength.

    Raises:
        ValueError: a bad ``A`` (see :func:`wals`), shapes that do not fit,
            or negative ``w0`` / ``reg``.
    """
    A = _check_matrix(A)
    U, V = _check_factors(A, U, V)
    w0 = _checks.number("w0", w0, low=0.0)
    reg = _checks.number("reg", reg, low=0.0)
    return _objective(_Observed.of(A), U, V, w0, reg)


def _initial_factors(
    shape: tuple[int, int], embedding_dim: int, init_std: float, seed: int
) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    U = rng.normal(0.0, init_std, size=(shape[0], embedding_dim))
    V = rng.normal(0.0, init_std, size=(shape[1], embedding_dim))
    return rng, U, V


# ----------------------------------------------------------------------- WALS


def _solve_half_step(
    ptr: np.ndarray,
    other: np.ndarray,
    values: np.ndarray,
    Y: np.ndarray,
    gram: np.ndarray,
    w0: float,
    reg: float,
) -> np.ndarray:
    """One WALS half-step: with ``Y`` fixed, the exact minimiser of each row.

    Row ``r`` observed the entries ``other[ptr[r]:ptr[r+1]]`` (rows of
    ``Y``) with values ``values[ptr[r]:ptr[r+1]]``. Setting the gradient of
    ``F`` with respect to its embedding ``x_r`` to zero gives the normal
    equations

        (w0·YᵀY + (1-w0)·Σ_{j∈Ω_r} y_j y_jᵀ + reg·I) x_r = Σ_{j∈Ω_r} A_rj y_j

    ``gram`` is ``YᵀY``, computed once per half-step by the caller and shared
    by all rows. Per row only the correction over its own observed entries is
    computed (a ``|Ω_r| x d`` product, ``nnz·d²`` in total), then all rows are
    solved in one batched call.
    """
    n_rows, d = len(ptr) - 1, Y.shape[1]
    correction = np.empty((n_rows, d, d))
    rhs = np.empty((n_rows, d))
    for r in range(n_rows):  # each step is one small BLAS product
        start, stop = ptr[r], ptr[r + 1]
        Y_r = Y[other[start:stop]]
        correction[r] = Y_r.T @ Y_r
        rhs[r] = values[start:stop] @ Y_r
    lhs = w0 * gram + (1.0 - w0) * correction + reg * np.eye(d)
    try:
        return np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # reg = w0 = 0 and a row with too few 1s
        return (np.linalg.pinv(lhs) @ rhs[:, :, None])[:, :, 0]


def wals(
    A: Any,
    embedding_dim: int,
    *,
    w0: float,
    reg: float,
    num_iterations: int = 10,
    seed: int = 42,
    init_std: float = 0.1,
) -> Factorization:
    """Weighted alternating least squares (WALS) for ``A ≈ U Vᵀ``.

    Minimises :func:`objective`: weight 1 on the observed (non-zero) entries
    of ``A``, weight ``w0`` on the unobserved ones, L2 penalty ``reg``. With
    ``V`` fixed the objective is a separate least-squares problem for each
    user, solved exactly by its normal equations

        (w0·VᵀV + (1-w0)·Σ_{j∈Ω_i} v_j v_jᵀ + reg·I) u_i = Σ_{j∈Ω_i} A_ij v_j

    and symmetrically for each item with ``U`` fixed. One *sweep* solves for
    all of ``U``, then all of ``V``; no sweep can increase the objective.
    ``VᵀV`` (and ``UᵀU``) is computed once per half-step and shared by all
    rows, which is what makes the unobserved entries affordable: their
    ``n_users x n_items`` weights never appear cell by cell.

    Args:
        A: ``(n_users, n_items)`` feedback matrix, e.g. from
            :func:`feedback_matrix`.
        embedding_dim: ``d``, the width of each embedding.
        w0: weight of each unobserved entry (``0`` is observed-only MF, which
            folds; implicit feedback typically wants a small positive value).
        reg: L2 regularization strength ``λ``.
        num_iterations: number of sweeps.
        seed: seed of the random starting point.
        init_std: standard deviation of the normal random starting point.

    Returns:
        A :class:`Factorization`; ``losses[t]`` is the objective after
        sweep ``t+1``.

    Raises:
        ValueError: ``A`` not 2-D, empty, all zero or non-finite; negative
            ``w0`` or ``reg``; ``embedding_dim`` or ``num_iterations``
            below 1.
        TypeError: non-numeric ``A`` or non-integer counts.
    """
    A = _check_matrix(A)
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    w0 = _checks.number("w0", w0, low=0.0)
    reg = _checks.number("reg", reg, low=0.0)
    num_iterations = _checks.positive_int("num_iterations", num_iterations)
    init_std = _checks.number("init_std", init_std, low=0.0, low_open=True)
    seed = _checks.non_negative_int("seed", seed)

    clock = Stopwatch()
    obs = _Observed.of(A)
    _, U, V = _initial_factors(A.shape, embedding_dim, init_std, seed)
    initial_loss = _objective(obs, U, V, w0, reg)
    by_col_rows = obs.rows[obs.col_order]
    by_col_values = obs.values[obs.col_order]
    losses = []
    for _ in range(num_iterations):
        U = _solve_half_step(
            obs.row_ptr, obs.cols, obs.values, V, V.T @ V, w0, reg
        )
        V = _solve_half_step(
            obs.col_ptr, by_col_rows, by_col_values, U, U.T @ U, w0, reg
        )
        losses.append(_objective(obs, U, V, w0, reg))
    clock.stop()
    return Factorization(
        U=U,
        V=V,
        losses=losses,
        seconds=clock.seconds,
        cpu_seconds=clock.cpu_seconds,
        initial_loss=initial_loss,
        method="wals",
    )


# ------------------------------------------------------------------------ SGD


def _with_sampled_cells(
    rng: np.random.Generator,
    observed: np.ndarray,
    n_sampled: int,
    weight: float,
    cells: tuple[np.ndarray, np.ndarray],
    targets: np.ndarray,
    weights: np.ndarray,
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """Append ``n_sampled`` uniform cells (minus the observed ones) with target 0."""
    users = rng.integers(0, observed.shape[0], n_sampled)
    items = rng.integers(0, observed.shape[1], n_sampled)
    keep = ~observed[users, items]
    n_kept = int(keep.sum())
    return (
        (
            np.concatenate([cells[0], users[keep]]),
            np.concatenate([cells[1], items[keep]]),
        ),
        np.concatenate([targets, np.zeros(n_kept)]),
        np.concatenate([weights, np.full(n_kept, weight)]),
    )


def _sgd_step(
    U: np.ndarray,
    V: np.ndarray,
    cells: tuple[np.ndarray, np.ndarray],
    targets: np.ndarray,
    weights: np.ndarray,
    learning_rate: float,
    decay: float,
) -> None:
    """One in-place SGD step on the given cells (equations: :func:`sgd`)."""
    users, items = cells
    U_b, V_b = U[users], V[items]
    error = np.einsum("ij,ij->i", U_b, V_b) - targets
    step = 2.0 * learning_rate * (weights * error)[:, None]
    U *= decay
    V *= decay
    np.add.at(U, users, -step * V_b)  # add.at: a user may occur twice
    np.add.at(V, items, -step * U_b)


def sgd(
    A: Any,
    embedding_dim: int,
    *,
    learning_rate: float,
    num_epochs: int,
    reg: float = 0.0,
    w0: float = 0.0,
    seed: int = 42,
    batch_size: int = 1024,
    negatives: int = 1,
    init_std: float = 0.1,
) -> Factorization:
    """Mini-batch stochastic gradient descent for ``A ≈ U Vᵀ``.

    Minimises the same :func:`objective` ``F`` as :func:`wals`. Each epoch
    visits every observed entry once, in a random order, in mini-batches of
    ``batch_size``; ``learning_rate`` is the step size *per entry*, as in the
    classic SGD for matrix factorization (Koren, Bell and Volinsky, 2009), so
    the mini-batch only batches the arithmetic and a good ``learning_rate``
    hardly depends on ``batch_size``.

    Unobserved entries (only when ``w0 > 0``): with each mini-batch of ``B``
    observed entries, ``negatives·B`` cells are drawn uniformly from the whole
    matrix; drawn cells that happen to be observed are dropped, the others get
    target 0 and weight ``c = w0·(n_users·n_items)/(N·negatives)``, where ``N``
    is the number of observed entries. That weight makes each epoch's sampled
    cells an unbiased estimate of the ``w0`` term of ``F``, so SGD and WALS
    chase the same minimum. With ``e = u_i·v_j - A_ij`` (``A_ij = 0`` for a
    sampled cell) and weight ``c_ij`` (1 for an observed entry), one step is

        u_i ← u_i - 2η·Σ c_ij·e_ij·v_j    (over the batch's cells of user i)
        v_j ← v_j - 2η·Σ c_ij·e_ij·u_i    (over the batch's cells of item j)
        U ← U·(1 - 2ηλB/N),  V ← V·(1 - 2ηλB/N)    (the L2 term's share)

    which is a gradient step of size ``η·B/N`` on an unbiased estimate of ``F``.

    Args:
        A: ``(n_users, n_items)`` feedback matrix, e.g. from :func:`feedback_matrix`.
        embedding_dim: ``d``, the width of each embedding.
        learning_rate: step size ``η``.
        num_epochs: passes over the observed entries.
        reg: L2 regularization strength ``λ``.
        w0: weight of each unobserved entry (0: they are ignored).
        seed: seed of the starting point, the order and the sampled cells.
        batch_size: observed entries per step.
        negatives: sampled cells per observed entry (when ``w0 > 0``).
        init_std: standard deviation of the normal random starting point.

    Returns:
        A :class:`Factorization`; ``losses[t]`` is the exact objective after
        epoch ``t+1`` (not the noisy mini-batch estimate).

    Raises:
        ValueError: ``A`` not 2-D, empty, all zero or non-finite; negative
            ``w0`` or ``reg``; a non-positive ``learning_rate``;
            ``embedding_dim``, ``num_epochs``, ``batch_size`` or ``negatives``
            below 1; a diverged run (non-finite loss: lower ``learning_rate``).
        TypeError: non-numeric ``A`` or non-integer counts.
    """
    A = _check_matrix(A)
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    learning_rate = _checks.number("learning_rate", learning_rate, low=0.0, low_open=True)
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    reg = _checks.number("reg", reg, low=0.0)
    w0 = _checks.number("w0", w0, low=0.0)
    batch_size = _checks.positive_int("batch_size", batch_size)
    negatives = _checks.positive_int("negatives", negatives)
    init_std = _checks.number("init_std", init_std, low=0.0, low_open=True)
    seed = _checks.non_negative_int("seed", seed)

    clock = Stopwatch()
    obs = _Observed.of(A)
    observed = A != 0
    n_users, n_items = A.shape
    n_observed = len(obs.rows)
    rng, U, V = _initial_factors(A.shape, embedding_dim, init_std, seed)
    initial_loss = _objective(obs, U, V, w0, reg)
    negative_weight = w0 * n_users * n_items / (n_observed * negatives)
    if 2.0 * learning_rate * reg * min(batch_size, n_observed) / n_observed >= 1.0:
        raise ValueError(
            f"learning_rate·reg·batch_size is too large: each step would shrink the "
            f"embeddings past 0 (learning_rate={learning_rate}, reg={reg}, "
            f"batch_size={batch_size}, {n_observed} observed entries); "
            "lower one of them"
        )
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is raised below
        for _ in range(num_epochs):
            order = rng.permutation(n_observed)
            for begin in range(0, n_observed, batch_size):
                batch = order[begin : begin + batch_size]
                cells = (obs.rows[batch], obs.cols[batch])
                targets, weights = obs.values[batch], np.ones(len(batch))
                if w0 > 0:
                    cells, targets, weights = _with_sampled_cells(
                        rng, observed, negatives * len(batch), negative_weight,
                        cells, targets, weights,
                    )
                decay = 1.0 - 2.0 * learning_rate * reg * len(batch) / n_observed
                _sgd_step(U, V, cells, targets, weights, learning_rate, decay)
            losses.append(_objective(obs, U, V, w0, reg))
            if not np.isfinite(losses[-1]):
                raise ValueError(
                    f"SGD diverged in epoch {len(losses)} (loss {losses[-1]}); "
                    f"lower learning_rate (now {learning_rate})"
                )
    clock.stop()
    return Factorization(
        U=U,
        V=V,
        losses=losses,
        seconds=clock.seconds,
        cpu_seconds=clock.cpu_seconds,
        initial_loss=initial_loss,
        method="sgd",
    )
