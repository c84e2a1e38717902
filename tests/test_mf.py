"""Tests of helpers.mf: the feedback matrix, the objective, WALS and SGD, biases and biased MF."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.metrics import rmse
from helpers.mf import (BiasedMF, Factorization, biased_mf, feedback_matrix, fit_biases,
                        objective, sgd, wals)
from helpers.mf import _mf_objective


def low_rank(n_users=30, n_items=40, rank=3, seed=0):
    """A dense real matrix of exactly the given rank."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items))


def implicit(n_users=60, n_items=80, rank=3, density=0.15, seed=1):
    """A 0/1 matrix drawn from a low-rank affinity: the shape of real feedback."""
    rng = np.random.default_rng(seed)
    affinity = np.abs(rng.normal(size=(n_users, rank))) @ np.abs(
        rng.normal(size=(rank, n_items))
    )
    threshold = np.quantile(affinity, 1 - density)
    return (affinity > threshold).astype(np.float32)


def brute_force_objective(A, U, V, w0, reg):
    """The objective written cell by cell, to check the fast version against."""
    P = U @ V.T
    observed = A != 0
    return (
        np.sum(((A - P) ** 2)[observed])
        + w0 * np.sum((P**2)[~observed])
        + reg * (np.sum(U**2) + np.sum(V**2))
    )


# ---------------------------------------------------------------- feedback_matrix


def test_feedback_matrix_marks_the_pairs():
    A = feedback_matrix(np.array([0, 0, 2, 2]), np.array([1, 3, 0, 0]), 3, 4)
    assert A.dtype == np.float32 and A.shape == (3, 4)
    expected = np.zeros((3, 4))
    expected[0, 1] = expected[0, 3] = expected[2, 0] = 1  # (2, 0) listed twice: still 1
    np.testing.assert_array_equal(A, expected)


def test_feedback_matrix_of_no_pairs_is_zero():
    empty = np.array([], dtype=np.int64)
    A = feedback_matrix(empty, empty, 2, 3)
    np.testing.assert_array_equal(A, np.zeros((2, 3)))


@pytest.mark.parametrize(
    "users, items, n_users, n_items, error, match",
    [
        ([0, 3], [0, 1], 3, 4, ValueError, r"positions of users must lie in \[0, 3\)"),
        ([0, -1], [0, 1], 3, 4, ValueError, r"positions of users must lie in"),
        ([0, 1], [0, 4], 3, 4, ValueError, r"positions of items must lie in \[0, 4\)"),
        ([0, 1], [0], 3, 4, ValueError, "equal length"),
        ([[0, 1]], [[0, 1]], 3, 4, ValueError, "1-D"),
        ([0.0, 1.0], [0, 1], 3, 4, TypeError, "integer positions"),
        ([0], [0], 0, 4, ValueError, "n_users must be at least 1"),
        ([0], [0], 3, 2.5, TypeError, "n_items must be an int"),
    ],
)
def test_feedback_matrix_bad_input(users, items, n_users, n_items, error, match):
    with pytest.raises(error, match=match):
        feedback_matrix(np.array(users), np.array(items), n_users, n_items)


# ---------------------------------------------------------------------- objective


@pytest.mark.parametrize("w0, reg", [(0.0, 0.0), (0.3, 0.0), (0.1, 2.0), (1.0, 0.5)])
def test_objective_matches_the_cell_by_cell_sum(w0, reg):
    A = implicit()
    rng = np.random.default_rng(2)
    U, V = rng.normal(size=(60, 4)), rng.normal(size=(80, 4))
    assert objective(A, U, V, w0=w0, reg=reg) == pytest.approx(
        brute_force_objective(A, U, V, w0, reg), rel=1e-10
    )


def test_objective_folds_without_unobserved_weight():
    """All-equal embeddings with u·v = 1 fit every observed 1: zero loss when w0 = 0."""
    A = implicit()
    U, V = np.ones((60, 2)) / np.sqrt(2), np.ones((80, 2)) / np.sqrt(2)
    assert objective(A, U, V, w0=0.0, reg=0.0) == pytest.approx(0.0, abs=1e-9)
    assert objective(A, U, V, w0=0.1, reg=0.0) == pytest.approx(0.1 * (A == 0).sum())


def test_objective_refuses_factors_of_the_wrong_shape():
    A = implicit()
    with pytest.raises(ValueError, match="do not fit"):
        objective(A, np.ones((60, 2)), np.ones((79, 2)), w0=0.1, reg=0.0)
    with pytest.raises(ValueError, match="do not fit"):
        objective(A, np.ones((60, 2)), np.ones((80, 3)), w0=0.1, reg=0.0)


# -------------------------------------------------------------------- bad input

SOLVERS = {
    "wals": lambda A, **kw: wals(
        A, kw.pop("embedding_dim", 2), **{"w0": 0.1, "reg": 0.1, **kw}
    ),
    "sgd": lambda A, **kw: sgd(
        A,
        kw.pop("embedding_dim", 2),
        **{"learning_rate": 0.01, "num_epochs": 2, "w0": 0.1, "reg": 0.1, **kw},
    ),
}
GOOD = np.eye(4, 5)


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize(
    "A, kwargs, error, match",
    [
        (np.ones(5), {}, ValueError, "must be a 2-D"),
        (np.ones((2, 3, 4)), {}, ValueError, "must be a 2-D"),
        (np.ones((0, 5)), {}, ValueError, "not empty"),
        (np.ones((4, 0)), {}, ValueError, "not empty"),
        (np.zeros((4, 5)), {}, ValueError, "no observed"),
        (np.where(GOOD == 1, np.nan, 0.0), {}, ValueError, "NaN or infinite"),
        (np.where(GOOD == 1, np.inf, 0.0), {}, ValueError, "NaN or infinite"),
        (np.array([["a", "b"]]), {}, TypeError, "must hold numbers"),
        ("not a matrix", {}, TypeError, "must be a 2-D NumPy array"),
        (GOOD, {"w0": -0.1}, ValueError, r"w0 must lie in \[0, inf\]"),
        (GOOD, {"reg": -1.0}, ValueError, r"reg must lie in \[0, inf\]"),
        (GOOD, {"reg": float("nan")}, ValueError, "reg must be finite"),
        (GOOD, {"embedding_dim": 0}, ValueError, "embedding_dim must be at least 1"),
        (GOOD, {"embedding_dim": 2.0}, TypeError, "embedding_dim must be an int"),
        (GOOD, {"seed": -1}, ValueError, "seed must be at least 0"),
        (GOOD, {"seed": 1.5}, TypeError, "seed must be an int"),
        (GOOD, {"reg": "0.1"}, TypeError, "reg must be a number"),
        (GOOD, {"reg": np.float32(0.1), "embedding_dim": np.int64(2)}, None, None),
    ],
)
def test_solvers_refuse_bad_input(solver, A, kwargs, error, match):
    if error is None:  # NumPy numbers are accepted wherever Python ones are
        SOLVERS[solver](A, **kwargs)
        return
    with pytest.raises(error, match=match):
        SOLVERS[solver](A, **kwargs)


def test_wals_needs_at_least_one_sweep():
    with pytest.raises(ValueError, match="num_iterations must be at least 1"):
        wals(GOOD, 2, w0=0.1, reg=0.1, num_iterations=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_epochs": 0}, "num_epochs must be at least 1"),
        ({"learning_rate": 0.0}, r"learning_rate must lie in \(0, inf\]"),
        ({"learning_rate": -0.1}, r"learning_rate must lie in \(0, inf\]"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"negatives": 0}, "negatives must be at least 1"),
        ({"reg": 1000.0, "learning_rate": 1.0}, "too large"),
    ],
)
def test_sgd_refuses_bad_settings(kwargs, match):
    settings = {"learning_rate": 0.01, "num_epochs": 2, "w0": 0.1, "reg": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        sgd(GOOD, 2, **settings)


def test_sgd_says_when_it_diverges():
    with pytest.raises(ValueError, match="diverged.*lower learning_rate"):
        sgd(low_rank() * 10, 3, learning_rate=5.0, num_epochs=5, init_std=1.0)


# ------------------------------------------------------------------ behaviour


def test_factorization_result():
    A = implicit()
    result = wals(A, 3, w0=0.1, reg=0.1, num_iterations=4)
    assert isinstance(result, Factorization)
    assert result.U.shape == (60, 3) and result.V.shape == (80, 3)
    assert len(result.losses) == 4 and result.seconds > 0 and result.cpu_seconds > 0
    np.testing.assert_allclose(result.scores(), result.U @ result.V.T)
    assert result.losses[-1] == pytest.approx(
        objective(A, result.U, result.V, w0=0.1, reg=0.1), rel=1e-10
    )
    assert result.method == "wals"


def test_wals_recovers_a_fully_observed_low_rank_matrix():
    """Every entry observed, no regularization: A itself is the minimum (loss 0)."""
    A = low_rank(rank=3)
    result = wals(A, 3, w0=0.5, reg=0.0, num_iterations=30)
    relative_error = np.linalg.norm(result.scores() - A) / np.linalg.norm(A)
    assert relative_error < 1e-6


def test_wals_with_unit_weights_reaches_the_best_rank_d_approximation():
    """w0 = 1, reg = 0 is least squares on every cell: the truncated SVD is optimal."""
    A = implicit()
    d = 3
    singular_values = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    best = np.sum(singular_values[d:] ** 2)  # Eckart-Young: the smallest possible loss
    result = wals(A, d, w0=1.0, reg=0.0, num_iterations=100)
    assert result.losses[-1] == pytest.approx(best, rel=1e-4)


def test_wals_never_increases_the_loss():
    A = implicit()
    result = wals(A, 4, w0=0.05, reg=0.5, num_iterations=15)
    losses = np.array([result.initial_loss, *result.losses])
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])
    assert losses[-1] < 0.5 * losses[0]


def test_wals_half_step_is_the_exact_minimiser():
    """After a sweep V was solved last: the gradient of F with respect to V is zero."""
    A = implicit()
    w0, reg = 0.2, 0.3
    result = wals(A, 3, w0=w0, reg=reg, num_iterations=2)
    U, V = result.U, result.V
    C = np.where(A != 0, 1.0, w0)  # the weight of each cell
    gradient_V = -2 * (C * (A - U @ V.T)).T @ U + 2 * reg * V
    assert np.max(np.abs(gradient_V)) < 1e-8 * np.max(np.abs(2 * reg * V))


def test_observed_only_mf_folds():
    """w0 = 0 fits every observed 1 but scores the unobserved cells high as well."""
    A = implicit()
    result = wals(A, 3, w0=0.0, reg=0.0, num_iterations=20)
    assert result.losses[-1] < 1e-3
    unobserved_scores = result.scores()[A == 0]
    assert np.median(unobserved_scores) > 0.5  # should be 0: the model cannot rank


def test_sgd_reduces_the_loss_and_approaches_wals():
    """Same objective: SGD ends within 5% of what WALS reaches (w0 > 0, reg > 0)."""
    A = implicit()
    settings = dict(w0=0.1, reg=1.0)
    by_wals = wals(A, 3, num_iterations=30, **settings)
    by_sgd = sgd(A, 3, learning_rate=0.02, num_epochs=60, batch_size=64, **settings)
    assert by_sgd.losses[-1] < 0.5 * by_sgd.initial_loss
    assert by_sgd.losses[-1] == pytest.approx(by_wals.losses[-1], rel=0.05)


def test_sgd_fits_a_fully_observed_low_rank_matrix():
    A = low_rank(rank=2)
    result = sgd(A, 2, learning_rate=0.01, num_epochs=200, batch_size=32)
    relative_error = np.linalg.norm(result.scores() - A) / np.linalg.norm(A)
    assert relative_error < 0.05
    assert result.losses[-1] < 1e-2 * result.initial_loss


def test_solvers_are_reproducible_with_a_seed():
    A = implicit()
    for solver in (
        lambda seed: wals(A, 3, w0=0.1, reg=0.1, num_iterations=3, seed=seed),
        lambda seed: sgd(A, 3, learning_rate=0.02, num_epochs=3, w0=0.1, seed=seed),
    ):
        first, again, other = solver(1), solver(1), solver(2)
        np.testing.assert_array_equal(first.U, again.U)
        np.testing.assert_array_equal(first.V, again.V)
        assert not np.array_equal(first.U, other.U)


def test_inputs_are_not_modified():
    A = implicit()
    before = A.copy()
    wals(A, 2, w0=0.1, reg=0.1, num_iterations=2)
    sgd(A, 2, learning_rate=0.02, num_epochs=2, w0=0.1)
    np.testing.assert_array_equal(A, before)


# ---------------------------------------------- SGD chases WALS's minimum, not a neighbour
# The loss comparison above cannot tell a factor of two in the sampled cells'
# weight or in the L2 decay: the objective is flat near its minimum. The
# statistics below move with w0 and reg, so SGD's must sit nearer WALS's at the
# same settings than at half or double them. (Mutations that these tests catch:
# negative weight doubled or halved, ``negatives`` dropped from its divisor, the
# L2 decay halved or doubled.)

def _chase_matrix():
    rng = np.random.default_rng(0)
    affinity = rng.random((40, 3)) @ rng.random((3, 50))
    return (affinity > np.quantile(affinity, 0.8)).astype(float)


def _unobserved_mean_and_norm(result, A):
    scores = result.scores()
    return scores[A == 0].mean(), (result.U**2).sum() + (result.V**2).sum()


@pytest.fixture(scope="module")
def wals_neighbours():
    A = _chase_matrix()
    settings = {"at": (0.1, 1.0), "half w0": (0.05, 1.0), "double w0": (0.2, 1.0),
                "half reg": (0.1, 0.5), "double reg": (0.1, 2.0)}
    return A, {
        name: _unobserved_mean_and_norm(wals(A, 3, w0=w0, reg=reg, num_iterations=30), A)
        for name, (w0, reg) in settings.items()
    }


@pytest.mark.parametrize("negatives", [1, 3])
def test_sgd_unobserved_scores_and_norm_match_wals_at_the_same_settings(
    wals_neighbours, negatives
):
    A, target = wals_neighbours
    result = sgd(A, 3, learning_rate=0.01, num_epochs=300, w0=0.1, reg=1.0,
                 batch_size=32, negatives=negatives)
    mean, norm = _unobserved_mean_and_norm(result, A)
    at_mean, at_norm = target["at"]
    for neighbour in ("half w0", "double w0"):
        assert abs(mean - at_mean) < abs(mean - target[neighbour][0]), (
            f"SGD's mean unobserved score {mean:.4f} is nearer WALS at {neighbour} "
            f"({target[neighbour][0]:.4f}) than at the same w0 ({at_mean:.4f})"
        )
    for neighbour in ("half reg", "double reg"):
        assert abs(norm - at_norm) < abs(norm - target[neighbour][1]), (
            f"SGD's squared norm {norm:.2f} is nearer WALS at {neighbour} "
            f"({target[neighbour][1]:.2f}) than at the same reg ({at_norm:.2f})"
        )



# ------------------------------------------------------------------ biases


def test_damped_biases_by_hand():
    # ratings (user, item, r): (0,0,5), (0,1,3), (1,0,4); mean 4
    # item 0: (1 + 0) / (1 + 2) = 1/3; item 1: -1 / (1 + 1) = -1/2
    # user 0: ((5-4-1/3) + (3-4+1/2)) / (0 + 2) = 1/12; user 1: (0 - 1/3) / 1
    b = fit_biases([0, 0, 1], [0, 1, 0], [5, 3, 4], 2, 3, reg_user=0, reg_item=1)
    assert b.mean == pytest.approx(4.0)
    np.testing.assert_allclose(b.item, [1 / 3, -1 / 2, 0.0])
    np.testing.assert_allclose(b.user, [1 / 12, -1 / 3])
    np.testing.assert_allclose(b.predict([1], [1]), [4 - 1 / 3 - 1 / 2])


def test_biases_recover_an_additive_matrix():
    mean, user, item = 3.0, np.array([0.5, -0.5, 0.0]), np.array([1.0, -1.0, 0.25, -0.25])
    users, items = (a.ravel() for a in np.meshgrid(np.arange(3), np.arange(4), indexing="ij"))
    ratings = mean + user[users] + item[items]
    b = fit_biases(users, items, ratings, 3, 4, reg_user=0, reg_item=0, num_iterations=50)
    np.testing.assert_allclose(b.predict(users, items, clip=False), ratings, atol=1e-9)


def test_predictions_are_clipped_to_the_star_range():
    b = fit_biases([0, 1], [0, 1], [5.0, 1.0], 2, 2, reg_user=0, reg_item=0, num_iterations=5)
    b = type(b)(b.mean, b.user + 10, b.item)
    assert b.predict([0], [0]).max() == 5.0
    assert b.predict([0], [0], clip=False).max() > 5.0


def test_unknown_ids_and_wrong_shapes_fail_clearly():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        fit_biases([0, 2], [0, 1], [4, 4], 2, 2)
    with pytest.raises(TypeError, match="integer"):
        fit_biases([0.0, 1.0], [0, 1], [4, 4], 2, 2)
    with pytest.raises(ValueError, match="aligned"):
        fit_biases([0, 1], [0, 1], [4], 2, 2)
    b = fit_biases([0, 1], [0, 1], [4, 3], 2, 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        b.predict([5], [0])
    with pytest.raises(ValueError):
        biased_mf([0, 1], [0, 1], [4, 3], 2, 2, embedding_dim=2, reg=-1.0)


def test_ratings_must_be_there_and_finite():
    with pytest.raises(ValueError, match="no ratings"):
        fit_biases([], [], [], 2, 2)
    with pytest.raises(ValueError, match="finite"):
        biased_mf([0, 1], [0, 1], [4, np.nan], 2, 2, embedding_dim=2, reg=1.0)
    m = biased_mf([0, 1], [0, 1], [4, 3], 2, 2, embedding_dim=2, reg=1.0, num_iterations=1)
    with pytest.raises(ValueError, match=r"positions of items must lie in \[0, 2\)"):
        m.predict([0], [2])


# ------------------------------------------------------------------ biased MF


def _full_matrix(rank: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_users, n_items = 6, 5
    P, Q = rng.normal(size=(n_users, rank)), rng.normal(size=(n_items, rank))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.3, n_items)
    users, items = (a.ravel() for a in np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij"))
    ratings = 3.0 + bu[users] + bi[items] + np.einsum("ij,ij->i", P[users], Q[items])
    return users, items, ratings, n_users, n_items


def test_biased_mf_fits_a_full_low_rank_matrix():
    users, items, ratings, n_users, n_items = _full_matrix()
    m = biased_mf(users, items, ratings, n_users, n_items, embedding_dim=1, reg=1e-6, num_iterations=200)
    assert rmse(m.predict(users, items, clip=False), ratings) < 1e-3


def test_biased_mf_objective_never_increases_and_is_reproducible():
    users, items, ratings, n_users, n_items = _full_matrix(rank=2, seed=1)
    m = biased_mf(users, items, ratings, n_users, n_items, embedding_dim=2, reg=0.5, num_iterations=10)
    assert np.all(np.diff(m.losses) <= 1e-9)
    assert m.losses[-1] == pytest.approx(_mf_objective(m, users, items, ratings, 0.5))
    again = biased_mf(users, items, ratings, n_users, n_items, embedding_dim=2, reg=0.5, num_iterations=10)
    np.testing.assert_array_equal(m.P, again.P)
    assert isinstance(m, BiasedMF)


def test_biased_mf_unrated_user_gets_the_item_baseline():
    # user 2 has no rating: with reg > 0 its factors and bias are 0
    m = biased_mf([0, 1, 0], [0, 1, 1], [5.0, 3.0, 4.0], 3, 2, embedding_dim=2, reg=1.0)
    assert np.all(m.P[2] == 0) and m.user_bias[2] == 0
    assert m.predict([2], [0])[0] == pytest.approx(m.mean + m.item_bias[0])


def test_biased_mf_half_step_is_the_exact_minimiser():
    """After a sweep the items were solved last: the gradient in Q and the item biases is zero."""
    users, items, ratings, n_users, n_items = _full_matrix(rank=2, seed=2)
    keep = np.arange(len(users)) % 3 != 0  # not every pair rated
    users, items, ratings = users[keep], items[keep], ratings[keep] + 0.5 * np.sin(np.arange(keep.sum()))
    reg = 0.7
    m = biased_mf(users, items, ratings, n_users, n_items, embedding_dim=2, reg=reg, num_iterations=3)
    error = ratings - m.predict(users, items, clip=False)
    gradient_Q = -2 * np.stack([np.bincount(items, error * m.P[users, k], n_items) for k in range(2)], 1)
    gradient_b = -2 * np.bincount(items, error, n_items)
    np.testing.assert_allclose(gradient_Q + 2 * reg * m.Q, 0, atol=1e-10)
    np.testing.assert_allclose(gradient_b + 2 * reg * m.item_bias, 0, atol=1e-10)
