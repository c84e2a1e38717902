"""Tests of rating prediction: RMSE, MAE and NDCG of each user's order worked by
hand (helpers.metrics) and the TFRS rating model on toy data (helpers.ranking).
Biases and biased MF are tested in test_mf.py; split_rows in test_data.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import helpers  # noqa: F401
from helpers.metrics import exponential_gain, mae, matrix, mean_over_users, ndcg, rmse
from helpers.ranking import (
    RatingModel,
    cross_block_norms,
    pair_features,
    predict_ratings,
    rating_examples,
    validation_rmse,
)
from helpers.train import fit


def ndcg_at_k(predictions, ratings, users, k=10, *, gain="exponential", per_user=False):
    """NDCG@k of the order the predictions give each user's rated movies (as chapter 7)."""
    ratings = np.asarray(ratings, dtype=float)
    names, rows = np.unique(users, return_inverse=True)
    items = np.arange(len(ratings))  # every rating its own column
    shape = (len(names), len(ratings))
    scores = matrix(rows, items, shape, predictions, fill=-np.inf)
    gains = matrix(rows, items, shape, exponential_gain(ratings) if gain == "exponential" else ratings)
    values = ndcg(scores, gains, k)
    return values if per_user else mean_over_users(values)[0]

LOG3 = math.log2(3)


# ------------------------------------------------------------------ RMSE, MAE


def test_rmse_and_mae_by_hand():
    # errors 2, 0, -1: squares 4, 0, 1 -> mean 5/3; absolute 2, 0, 1 -> mean 1
    predictions, ratings = [3.0, 4.0, 2.0], [5.0, 4.0, 1.0]
    assert rmse(predictions, ratings) == pytest.approx(math.sqrt(5 / 3))
    assert mae(predictions, ratings) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [rmse, mae])
def test_metrics_reject_wrong_shapes(metric):
    with pytest.raises(ValueError, match="one shape"):
        metric([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="one shape"):
        metric(np.ones((2, 1)), np.ones(2))


# ------------------------------------------------------------------ NDCG


def test_ndcg_perfect_and_reversed_order_by_hand():
    ratings = [5.0, 3.0, 1.0]  # gains 31, 7, 1
    users = [0, 0, 0]
    assert ndcg_at_k([3.0, 2.0, 1.0], ratings, users) == pytest.approx(1.0)
    # reversed: DCG = 1/1 + 7/log2(3) + 31/2; ideal = 31 + 7/log2(3) + 1/2
    dcg = 1 + 7 / LOG3 + 31 / 2
    ideal = 31 + 7 / LOG3 + 1 / 2
    assert ndcg_at_k([1.0, 2.0, 3.0], ratings, users) == pytest.approx(dcg / ideal)
    assert dcg / ideal == pytest.approx(0.58237, abs=1e-5)


def test_ndcg_of_a_user_with_nothing_to_gain_is_nan_and_left_out_of_the_mean():
    # user 7's ratings are all 0 (gain 0): nothing relevant, nothing to measure
    ratings, users = [5.0, 3.0, 1.0, 0.0, 0.0], [0, 0, 0, 7, 7]
    reversed_order = [1.0, 2.0, 3.0, 1.0, 2.0]
    per_user = ndcg_at_k(reversed_order, ratings, users, per_user=True)
    assert math.isnan(per_user[1])
    assert ndcg_at_k(reversed_order, ratings, users) == pytest.approx(per_user[0])
    assert mean_over_users(per_user)[1] == 1  # one user averaged
    with pytest.raises(ValueError, match="nothing to average"):
        mean_over_users(per_user[1:])


def test_ndcg_linear_gain_and_cutoff_by_hand():
    ratings, users = [5.0, 3.0, 1.0], [0, 0, 0]
    # k = 1: only the first position counts: 1 / 31 (exponential), 1 / 5 (linear)
    assert ndcg_at_k([1.0, 2.0, 3.0], ratings, users, k=1) == pytest.approx(1 / 31)
    assert ndcg_at_k([1.0, 2.0, 3.0], ratings, users, k=1, gain="linear") == pytest.approx(1 / 5)


def test_ndcg_ties_count_the_expected_gain_of_a_random_order():
    # two movies tied: each position earns the mean gain (31 + 1) / 2 = 16
    dcg = 16 + 16 / LOG3
    ideal = 31 + 1 / LOG3
    assert ndcg_at_k([2.0, 2.0], [5.0, 1.0], [7, 7]) == pytest.approx(dcg / ideal)
    assert dcg / ideal == pytest.approx(0.82498, abs=1e-5)


def test_ndcg_of_constant_predictions_is_the_mean_over_all_orders():
    rng = np.random.default_rng(0)
    ratings = rng.integers(1, 6, size=5).astype(float)
    gains = 2.0**ratings - 1
    discounts = 1 / np.log2(np.arange(3) + 2)
    ideal = np.sort(gains)[::-1][:3] @ discounts
    orders = list(itertools.permutations(range(5)))
    expected = np.mean([gains[list(o)][:3] @ discounts / ideal for o in orders])
    got = ndcg_at_k(np.full(5, 3.5), ratings, np.zeros(5, int), k=3)
    assert got == pytest.approx(expected)


def test_ndcg_a_user_with_one_rating_scores_one_and_users_are_averaged():
    # user "a": one test rating, NDCG 1 whatever the prediction;
    # user "b": reversed order of two, (1 + 31/log2 3) / (31 + 1/log2 3)
    predictions = [1.0, 1.0, 5.0]
    ratings = [2.0, 5.0, 1.0]
    users = ["a", "b", "b"]
    b = (1 + 31 / LOG3) / (31 + 1 / LOG3)
    per = ndcg_at_k(predictions, ratings, users, per_user=True)
    np.testing.assert_allclose(per, [1.0, b])
    assert ndcg_at_k(predictions, ratings, users) == pytest.approx((1 + b) / 2)


def test_pair_features_look_rows_up_in_the_right_table():
    users = {"user_id": np.array(["u0", "u1"]), "age": np.array([20.0, 30.0])}
    movies = {"movie_title": np.array(["a", "b", "c"]), "genres": np.eye(3, dtype=np.float32)}
    out = pair_features(
        [1, 0], [2, 2], users, movies, names=["age", "genres", "t"], extra={"t": np.array([7, 8])}
    )
    np.testing.assert_array_equal(out["age"], [30.0, 20.0])
    np.testing.assert_array_equal(out["genres"], [[0, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(out["t"], [7, 8])
    with pytest.raises(KeyError, match="unknown feature"):
        pair_features([0], [0], users, movies, names=["zip"])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        pair_features([0], [3], users, movies, names=["age"])
    with pytest.raises(ValueError, match="rows"):
        pair_features([0], [0], users, movies, names=["t"], extra={"t": np.array([1, 2])})


# ------------------------------------------------------------------ TFRS model


def _toy_features(n: int = 512, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 8, n)
    items = rng.integers(0, 6, n)
    ratings = np.clip(3 + (users % 3) - (items % 2) + rng.normal(0, 0.1, n), 1, 5)
    return {
        "user_id": np.array([f"u{u}" for u in users]),
        "movie_title": np.array([f"m{i}" for i in items]),
        "user_rating": ratings.astype(np.float32),
    }


def _encoders(features, dim=4):
    from helpers.features import CategoricalEncoder

    return {n: CategoricalEncoder(dim, name=n).adapt(features[n]) for n in ("user_id", "movie_title")}


def test_rating_model_learns_a_toy_rule_and_early_stopping_keeps_the_best():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    train, valid = _toy_features(512, 0), _toy_features(128, 1)
    model = RatingModel(_encoders(train), layer_sizes=(16,), cross=True, mean=3.0)
    before = rmse(predict_ratings(model, valid), valid["user_rating"])
    out = fit(model, rating_examples(model, train), optimizer=tf.keras.optimizers.Adam(0.05),
              epochs=15, batch_size=64, validation=validation_rmse(valid), mode="min",
              patience=3)
    after = rmse(predict_ratings(model, valid), valid["user_rating"])
    assert after < 0.5 < before
    assert after == pytest.approx(min(out["validation"]), abs=1e-5)
    assert out["validation"][out["best_epoch"] - 1] == min(out["validation"])
    assert out["epochs"] == len(out["validation"]) and out["seconds"] > 0 < out["cpu_seconds"]
    norms = cross_block_norms(model, train)
    assert norms.shape == (2, 2) and np.all(norms > 0)


def test_rating_model_starts_at_the_mean_and_fails_clearly():
    train = _toy_features(32)
    model = RatingModel(_encoders(train), layer_sizes=(), mean=3.25)
    # the output layer's kernel is random, its bias is the mean: a constant
    # kernel of zeros would give exactly 3.25
    model.output_layer.build((None, 8))
    model.output_layer.set_weights([np.zeros((8, 1)), np.array([3.25])])
    np.testing.assert_allclose(predict_ratings(model, train), 3.25, atol=1e-6)
    with pytest.raises(KeyError, match="movie_title"):
        predict_ratings(model, {"user_id": train["user_id"]})
    with pytest.raises(ValueError, match="no cross layer"):
        cross_block_norms(model, train)
    with pytest.raises(ValueError, match="at least one"):
        RatingModel({})
