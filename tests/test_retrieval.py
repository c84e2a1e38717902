"""Tests of helpers.retrieval: the towers, the loss, the recipe's training loop.

Everything runs on a made-up catalogue of a few users and movies, so the file
needs no data and takes a few seconds (most of it importing TensorFlow).
"""

from __future__ import annotations

import numpy as np
import pytest

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers.retrieval import (
    RetrievalModel,
    build_towers,
    embeddings,
    make_retrieval_model,
    train_recipe_model,
)

USERS = np.array([f"u{i}" for i in range(8)])
TITLES = np.array([f"Movie {chr(ord('A') + i)} (1995)" for i in range(10)])
# User i likes movie i, so a model can learn who likes what; movies I and J are
# liked by nobody. Each pair once, so a batch holds no duplicate positives.
PAIRS = list(zip(USERS, TITLES[:8]))


def _ratings() -> tf.data.Dataset:
    users, titles = zip(*PAIRS)
    return tf.data.Dataset.from_tensor_slices(
        {"user_id": list(users), "movie_title": list(titles)}
    )


def _movies() -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices({"movie_title": TITLES})


# --- the towers ------------------------------------------------------------


@pytest.mark.parametrize("embedding_dim", [32, 5])
def test_towers_map_a_batch_of_strings_to_vectors(embedding_dim):
    user_model, movie_model = build_towers(USERS, TITLES, embedding_dim)
    assert user_model(tf.constant(["u1", "u3"])).shape == (2, embedding_dim)
    assert movie_model(tf.constant(list(TITLES))).shape == (len(TITLES), embedding_dim)


def test_towers_have_one_extra_row_for_unknown_ids():
    user_model, movie_model = build_towers(USERS, TITLES)
    user_model(tf.constant(["u1"])), movie_model(tf.constant(["x"]))  # build the tables
    assert user_model.layers[1].get_weights()[0].shape == (len(USERS) + 1, 32)
    assert movie_model.layers[1].get_weights()[0].shape == (len(TITLES) + 1, 32)


def test_out_of_vocabulary_ids_share_the_extra_row_zero():
    user_model, _ = build_towers(USERS, TITLES)
    vectors = user_model(tf.constant(["nobody", "u2", "someone else"])).numpy()
    table = user_model.layers[1].get_weights()[0]
    np.testing.assert_array_equal(vectors[0], table[0])
    np.testing.assert_array_equal(vectors[2], table[0])
    # A known id gets its own row: its position in the vocabulary, plus one.
    np.testing.assert_array_equal(vectors[1], table[1 + list(USERS).index("u2")])
    assert not np.allclose(vectors[1], table[0])


@pytest.mark.parametrize("embedding_dim", [0, -3, 2.5, True, "32"])
def test_bad_embedding_dim_is_refused(embedding_dim):
    with pytest.raises(ValueError, match="embedding_dim must be a positive int"):
        build_towers(USERS, TITLES, embedding_dim)


@pytest.mark.parametrize(
    "user_ids, movie_titles, name",
    [
        ([], TITLES, "user_ids"),
        (USERS, [], "movie_titles"),
        (USERS, [TITLES], "movie_titles"),
    ],
)
def test_empty_or_2d_vocabulary_is_refused(user_ids, movie_titles, name):
    with pytest.raises(ValueError, match=f"{name} must be a non-empty 1-D vocabulary"):
        build_towers(user_ids, movie_titles)


# --- the model and its loss ------------------------------------------------


def test_candidates_must_be_a_dataset():
    with pytest.raises(TypeError, match=r"candidates must be a tf.data.Dataset"):
        make_retrieval_model(USERS, TITLES, list(TITLES))


def test_compute_loss_is_softmax_cross_entropy_over_the_batch():
    """The loss of a batch: sum over users of -log softmax(u_i . v_j)[i]."""
    user_model, movie_model = build_towers(USERS, TITLES, 4)
    model = RetrievalModel(user_model, movie_model, tfrs.tasks.Retrieval())
    batch = {"user_id": tf.constant(["u1", "u2", "u3"]),
             "movie_title": tf.constant(list(TITLES[[1, 2, 9]]))}
    # Vectors of order 1 (the initial ones are tiny), so the logits differ.
    rng = np.random.default_rng(0)
    for tower, n in ((user_model, len(USERS)), (movie_model, len(TITLES))):
        tower(tf.constant(["anything"]))  # build the table
        tower.layers[1].set_weights([rng.normal(size=(n + 1, 4))])
    u = user_model(batch["user_id"]).numpy()
    v = movie_model(batch["movie_title"]).numpy()
    logits = u @ v.T
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.trace(log_softmax)
    assert abs(expected - 3 * np.log(3)) > 0.5  # not the loss of equal scores
    loss = float(model.compute_loss(batch, training=True))
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("metrics_during_training", [False, True])
def test_metrics_are_computed_in_training_only_when_asked(metrics_during_training):
    model = make_retrieval_model(
        USERS,
        TITLES,
        _movies().map(lambda x: x["movie_title"]),
        metrics_during_training=metrics_during_training,
    )
    history = model.fit(_ratings().batch(64), epochs=1, verbose=0).history
    top_50 = history["factorized_top_k/top_50_categorical_accuracy"][0]
    # Only 10 candidates: when computed, every positive is in the top 50.
    assert top_50 == (1.0 if metrics_during_training else 0.0)
    # Evaluation always computes them.
    evaluated = model.evaluate(_ratings().batch(64), return_dict=True, verbose=0)
    assert evaluated["factorized_top_k/top_50_categorical_accuracy"] == 1.0


# --- training ---------------------------------------------------------------


def test_tiny_fit_reduces_the_loss_and_learns_who_likes_what():
    model = train_recipe_model(
        _ratings(), _movies(), USERS, TITLES,
        embedding_dim=8, learning_rate=0.5, num_epochs=30, batch_size=8,
    )
    loss = model.history.history["loss"]
    assert len(loss) == 30
    # From about 8 log 8 = 16.6 (random vectors) to well under half of it.
    assert loss[0] > 10 and loss[-1] < 0.5 * loss[0]
    U, V = embeddings(model, USERS, TITLES)
    # Each user's own movie now scores highest among the eight that were liked.
    assert list((U @ V.T)[:, :8].argmax(axis=1)) == list(range(8))


def test_training_is_reproducible_with_the_same_seed():
    args = (_ratings(), _movies(), USERS, TITLES)
    kwargs = dict(embedding_dim=4, num_epochs=2, batch_size=32)
    first = embeddings(train_recipe_model(*args, **kwargs), USERS, TITLES)
    second = embeddings(train_recipe_model(*args, **kwargs), USERS, TITLES)
    np.testing.assert_allclose(first[0], second[0])
    np.testing.assert_allclose(first[1], second[1])


@pytest.mark.parametrize("name, value", [("num_epochs", 0), ("batch_size", -1),
                                         ("batch_size", True), ("num_epochs", 1.5)])
def test_bad_training_settings_are_refused(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive int"):
        train_recipe_model(_ratings(), _movies(), USERS, TITLES, **{name: value})


# --- embeddings -------------------------------------------------------------


def test_embeddings_are_rows_in_vocabulary_order():
    candidates = _movies().map(lambda x: x["movie_title"])
    model = make_retrieval_model(USERS, TITLES, candidates, embedding_dim=6)
    U, V = embeddings(model, USERS, TITLES)
    assert isinstance(U, np.ndarray) and isinstance(V, np.ndarray)
    assert U.shape == (8, 6) and V.shape == (10, 6)
    u2 = model.user_model(tf.constant(["u2"])).numpy()[0]
    np.testing.assert_array_equal(U[2], u2)
    movie_3 = model.movie_model(tf.constant([TITLES[3]])).numpy()[0]
    np.testing.assert_array_equal(V[3], movie_3)
