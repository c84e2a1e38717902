"""Tests of helpers.beyond: validation split, logQ and full-softmax losses, early stopping."""

from __future__ import annotations

import numpy as np
import pytest

import helpers  # noqa: F401  (before TensorFlow)
import tensorflow as tf

from helpers.beyond import (
    FullSoftmaxModel,
    LogQRetrievalModel,
    ValidationTopK,
    as_dataset,
    batch_inclusion_probability,
    candidate_probability,
    fit_retrieval,
    validation_split,
)
from helpers.data import EncodedSplit
from helpers.retrieval import build_towers

USERS = np.array(["u0", "u1", "u2", "u3"])
TITLES = np.array(["a", "b", "c", "d", "e", "f"])


def tiny_split(n_repeats=10):
    """Users 0 and 1 watch titles a, b, c; users 2 and 3 watch d, e, f."""
    users, items = [], []
    for _ in range(n_repeats):
        for u in range(4):
            for i in (range(3) if u < 2 else range(3, 6)):
                users.append(u)
                items.append(i)
    users, items = np.array(users), np.array(items)
    return EncodedSplit(USERS, TITLES, users, items, np.array([0, 3]), np.array([1, 4]))


# ------------------------------------------------------------------ validation_split


def test_validation_split_partitions_train_and_drops_test():
    split = tiny_split()
    valid = validation_split(split, fraction=0.25, seed=0)
    n = len(split.train_items)
    assert len(valid.test_items) == round(n * 0.25)
    assert len(valid.train_items) + len(valid.test_items) == n
    pairs = lambda u, i: sorted(zip(u.tolist(), i.tolist()))  # noqa: E731
    assert pairs(
        np.concatenate([valid.train_users, valid.test_users]),
        np.concatenate([valid.train_items, valid.test_items]),
    ) == pairs(split.train_users, split.train_items)
    assert valid.n_items == split.n_items and valid.n_users == split.n_users


def test_validation_split_is_seeded():
    split = tiny_split()
    a, b = validation_split(split, seed=3), validation_split(split, seed=3)
    np.testing.assert_array_equal(a.test_items, b.test_items)
    np.testing.assert_array_equal(a.test_users, b.test_users)
    c = validation_split(split, seed=4)
    assert not (
        np.array_equal(a.test_users, c.test_users) and np.array_equal(a.test_items, c.test_items)
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "not a split"}, TypeError, "EncodedSplit"),
        ({"fraction": 0.0}, ValueError, "strictly between"),
        ({"fraction": 1.0}, ValueError, "strictly between"),
        ({"fraction": "0.1"}, TypeError, "number"),
        ({"fraction": 0.001}, ValueError, "empty part"),
    ],
)
def test_validation_split_bad_input(kwargs, error, match):
    args = {"split": tiny_split(), **kwargs}
    with pytest.raises(error, match=match):
        validation_split(**args)


def test_as_dataset_gives_the_recipes_features():
    ds = as_dataset(np.array([0, 3]), np.array([5, 1]), USERS, TITLES)
    rows = list(ds.as_numpy_iterator())
    assert rows == [{"user_id": b"u0", "movie_title": b"f"}, {"user_id": b"u3", "movie_title": b"b"}]
    with pytest.raises(ValueError, match="equal length"):
        as_dataset(np.array([0]), np.array([1, 2]), USERS, TITLES)


# ------------------------------------------------------------------ probabilities


def test_candidate_probability_is_the_share_with_a_floor():
    q = candidate_probability(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(q, [0.75, 0.25, 0.25])  # item 2 unseen: the smallest share


def test_batch_inclusion_probability_by_hand():
    items = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(batch_inclusion_probability(items, 3, 1), [0.75, 0.25, 0.25])
    np.testing.assert_allclose(
        batch_inclusion_probability(items, 2, 2), [1 - 0.25**2, 1 - 0.75**2]
    )
    # It saturates: every item common enough is "in the batch" almost surely.
    big = batch_inclusion_probability(items, 2, 1000)
    assert big[0] == pytest.approx(1.0) and big[1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: candidate_probability(np.array([], dtype=int), 3), ValueError, "empty"),
        (lambda: candidate_probability(np.array([0, 3]), 3), ValueError, r"\[0, 3\)"),
        (lambda: candidate_probability(np.array([0.5]), 3), TypeError, "integer"),
        (lambda: candidate_probability(np.array([0]), 0), ValueError, "n_items"),
        (lambda: batch_inclusion_probability(np.array([0]), 3, 0), ValueError, "batch_size"),
    ],
)
def test_probability_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------ losses


def towers(dim=4, seed=0):
    tf.keras.utils.set_random_seed(seed)
    return build_towers(USERS, TITLES, dim)


def test_logq_loss_subtracts_log_q_from_the_in_batch_logits():
    user_model, movie_model = towers()
    q = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    model = LogQRetrievalModel(user_model, movie_model, TITLES, q)
    features = {"user_id": tf.constant(["u0", "u2", "u1"]),
                "movie_title": tf.constant(["a", "d", "a"])}
    loss = float(model.compute_loss(features, training=True))
    u = user_model(features["user_id"]).numpy()
    v = movie_model(features["movie_title"]).numpy()
    logits = u @ v.T - np.log(q[[0, 3, 0]])[None, :]
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.trace(log_softmax)  # TFRS sums over the batch
    assert loss == pytest.approx(expected, rel=1e-4)


def test_logq_refuses_bad_probabilities():
    user_model, movie_model = towers()
    with pytest.raises(ValueError, match="one entry per title"):
        LogQRetrievalModel(user_model, movie_model, TITLES, np.ones(3) / 3)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        LogQRetrievalModel(user_model, movie_model, TITLES, np.zeros(6))


def test_full_softmax_loss_is_cross_entropy_over_all_titles():
    user_model, movie_model = towers()
    features = {"user_id": tf.constant(["u0", "u3"]), "movie_title": tf.constant(["c", "f"])}
    u = user_model(features["user_id"]).numpy()
    V = movie_model(tf.constant(TITLES)).numpy()
    logits = u @ V.T
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    cross_entropy = -np.mean(log_softmax[[0, 1], [2, 5]])
    plain = FullSoftmaxModel(user_model, movie_model, TITLES)
    assert float(plain.compute_loss(features)) == pytest.approx(cross_entropy, rel=1e-4)
    penalized = FullSoftmaxModel(user_model, movie_model, TITLES, l2=0.5)
    penalty = 0.5 * ((u**2).sum(axis=1).mean() + (V**2).sum(axis=1).mean())
    assert float(penalized.compute_loss(features)) == pytest.approx(
        cross_entropy + penalty, rel=1e-4
    )


@pytest.mark.parametrize("l2, match", [(-1.0, ">= 0"), ("big", ">= 0")])
def test_full_softmax_bad_l2(l2, match):
    user_model, movie_model = towers()
    with pytest.raises(ValueError, match=match):
        FullSoftmaxModel(user_model, movie_model, TITLES, l2=l2)


# ------------------------------------------------------------------ training


def test_full_softmax_learns_the_two_tastes_and_is_seeded():
    split = tiny_split()
    runs = []
    for _ in range(2):
        user_model, movie_model = towers(dim=4, seed=1)
        model = FullSoftmaxModel(user_model, movie_model, TITLES)
        info = fit_retrieval(model, split, optimizer=tf.keras.optimizers.Adam(0.05),
                             num_epochs=30, batch_size=16, seed=1)
        runs.append(info)
    assert runs[0]["loss"] == runs[1]["loss"]
    assert runs[0]["loss"][-1] < runs[0]["loss"][0]
    assert runs[0]["epochs"] == runs[0]["best_epoch"] == 30
    assert runs[0]["validation"] == []
    U = user_model(tf.constant(USERS)).numpy()
    V = movie_model(tf.constant(TITLES)).numpy()
    scores = U @ V.T
    # Users 0, 1 prefer a, b, c; users 2, 3 prefer d, e, f.
    assert scores[:2, :3].min() > scores[:2, 3:].max()
    assert scores[2:, 3:].min() > scores[2:, :3].max()


def test_early_stopping_keeps_the_best_epoch():
    split = tiny_split()
    valid = EncodedSplit(USERS, TITLES, split.train_users, split.train_items,
                         np.array([0, 1, 2, 3]), np.array([0, 1, 4, 5]))
    user_model, movie_model = towers(dim=4, seed=2)
    model = FullSoftmaxModel(user_model, movie_model, TITLES)
    info = fit_retrieval(model, split, optimizer=tf.keras.optimizers.Adam(0.05),
                         num_epochs=50, batch_size=16, validation=valid, k=3, patience=2)
    history = info["validation"]
    assert len(history) == info["epochs"] < 50  # it stopped early
    assert max(history) == 1.0  # every validation title ends in its user's top 3
    best = int(np.argmax(history))
    assert len(history) - 1 - best == 2  # two epochs without improvement, then stop
    assert info["best_epoch"] == best + 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "x"}, TypeError, "EncodedSplit"),
        ({"num_epochs": 0}, ValueError, "num_epochs"),
        ({"batch_size": 2.5}, ValueError, "batch_size"),
    ],
)
def test_fit_retrieval_bad_input(kwargs, error, match):
    user_model, movie_model = towers()
    args = {
        "model": FullSoftmaxModel(user_model, movie_model, TITLES),
        "split": tiny_split(),
        "optimizer": tf.keras.optimizers.Adam(0.01),
        "num_epochs": 1,
        "batch_size": 8,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        fit_retrieval(**args)


def test_validation_callback_bad_input():
    with pytest.raises(TypeError, match="EncodedSplit"):
        ValidationTopK("x")
    with pytest.raises(ValueError, match="patience"):
        ValidationTopK(tiny_split(), patience=0)


def test_min_delta_ignores_small_gains():
    """With a min_delta no gain can reach, the first epoch stays the best."""
    split = tiny_split()
    valid = EncodedSplit(USERS, TITLES, split.train_users, split.train_items,
                         np.array([0, 3]), np.array([0, 5]))
    user_model, movie_model = towers(dim=4, seed=2)
    model = FullSoftmaxModel(user_model, movie_model, TITLES)
    info = fit_retrieval(model, split, optimizer=tf.keras.optimizers.Adam(0.05),
                         num_epochs=20, batch_size=16, validation=valid, k=1,
                         patience=2, min_delta=1.0)
    assert info["epochs"] == 3  # epoch 1 is best; two epochs without "improvement"
    assert info["best_epoch"] == 1
    with pytest.raises(ValueError, match="min_delta"):
        ValidationTopK(valid, min_delta=-0.1)
