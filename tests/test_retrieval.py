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


@pytest.mark.parametrize(
    "embedding_dim, error",
    [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError), ("32", TypeError)],
)
def test_bad_embedding_dim_is_refused(embedding_dim, error):
    with pytest.raises(error, match="embedding_dim must be"):
        build_towers(USERS, TITLES, embedding_dim)


def test_numpy_int_embedding_dim_is_accepted():
    user_model, _ = build_towers(USERS, TITLES, np.int64(3))
    assert user_model(tf.constant(["u1"])).shape == (1, 3)


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
        make_retrieval_model(USERS, TITLES, candidates=list(TITLES))


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
        candidates=_movies().map(lambda x: x["movie_title"]),
        metrics_during_training=metrics_during_training,
    )
    model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))
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


@pytest.mark.parametrize(
    "name, value, error",
    [("num_epochs", 0, ValueError), ("batch_size", -1, ValueError),
     ("batch_size", True, TypeError), ("num_epochs", 1.5, TypeError)],
)
def test_bad_training_settings_are_refused(name, value, error):
    with pytest.raises(error, match=f"{name.replace('num_', '')} must be"):
        train_recipe_model(_ratings(), _movies(), USERS, TITLES, **{name: value})


# --- embeddings -------------------------------------------------------------


def test_embeddings_are_rows_in_vocabulary_order():
    candidates = _movies().map(lambda x: x["movie_title"])
    model = make_retrieval_model(USERS, TITLES, candidates=candidates, embedding_dim=6)
    U, V = embeddings(model, USERS, TITLES)
    assert isinstance(U, np.ndarray) and isinstance(V, np.ndarray)
    assert U.shape == (8, 6) and V.shape == (10, 6)
    u2 = model.user_model(tf.constant(["u2"])).numpy()[0]
    np.testing.assert_array_equal(U[2], u2)
    movie_3 = model.movie_model(tf.constant([TITLES[3]])).numpy()[0]
    np.testing.assert_array_equal(V[3], movie_3)


from helpers.data import EncodedSplit  # noqa: E402
from helpers.retrieval import (  # noqa: E402
    FullSoftmaxModel,
    LogQRetrievalModel,
    batch_inclusion_probability,
    candidate_probability,
    training_pairs,
    validation_top_k,
)
from helpers.train import fit  # noqa: E402

# The hand-made split of tests/test_data.py: users 0 and 1 watch titles a, b, c;
# users 2 and 3 watch d, e, f.
from test_data import TITLES as SIX_TITLES  # noqa: E402
from test_data import USERS as SIX_USERS  # noqa: E402
from test_data import tiny_split  # noqa: E402


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
    return build_towers(SIX_USERS, SIX_TITLES, dim)


def test_logq_loss_subtracts_log_q_from_the_in_batch_logits():
    user_model, movie_model = towers()
    q = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    model = LogQRetrievalModel(user_model, movie_model, SIX_TITLES, q)
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
        LogQRetrievalModel(user_model, movie_model, SIX_TITLES, np.ones(3) / 3)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        LogQRetrievalModel(user_model, movie_model, SIX_TITLES, np.zeros(6))


def test_full_softmax_loss_is_cross_entropy_over_all_titles():
    user_model, movie_model = towers()
    features = {"user_id": tf.constant(["u0", "u3"]), "movie_title": tf.constant(["c", "f"])}
    u = user_model(features["user_id"]).numpy()
    V = movie_model(tf.constant(SIX_TITLES)).numpy()
    logits = u @ V.T
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    cross_entropy = -np.mean(log_softmax[[0, 1], [2, 5]])
    plain = FullSoftmaxModel(user_model, movie_model, SIX_TITLES)
    assert float(plain.compute_loss(features)) == pytest.approx(cross_entropy, rel=1e-4)
    penalized = FullSoftmaxModel(user_model, movie_model, SIX_TITLES, l2=0.5)
    penalty = 0.5 * ((u**2).sum(axis=1).mean() + (V**2).sum(axis=1).mean())
    assert float(penalized.compute_loss(features)) == pytest.approx(
        cross_entropy + penalty, rel=1e-4
    )


@pytest.mark.parametrize("l2, error", [(-1.0, ValueError), ("big", TypeError)])
def test_full_softmax_bad_l2(l2, error):
    user_model, movie_model = towers()
    with pytest.raises(error, match="l2"):
        FullSoftmaxModel(user_model, movie_model, SIX_TITLES, l2=l2)


# ------------------------------------------------------------------ training


def test_full_softmax_learns_the_two_tastes_and_is_seeded():
    split = tiny_split()
    runs = []
    for _ in range(2):
        user_model, movie_model = towers(dim=4, seed=1)
        model = FullSoftmaxModel(user_model, movie_model, SIX_TITLES)
        info = fit(model, training_pairs(split), optimizer=tf.keras.optimizers.Adam(0.05),
                   epochs=30, batch_size=16, seed=1)
        runs.append(info)
    loss = runs[0]["history"]["loss"]
    assert loss == runs[1]["history"]["loss"]
    assert loss[-1] < loss[0]
    assert runs[0]["epochs"] == runs[0]["best_epoch"] == 30
    assert runs[0]["validation"] == []
    U = user_model(tf.constant(SIX_USERS)).numpy()
    V = movie_model(tf.constant(SIX_TITLES)).numpy()
    scores = U @ V.T
    # Users 0, 1 prefer a, b, c; users 2, 3 prefer d, e, f.
    assert scores[:2, :3].min() > scores[:2, 3:].max()
    assert scores[2:, 3:].min() > scores[2:, :3].max()


def test_early_stopping_keeps_the_best_epoch():
    split = tiny_split()
    valid = EncodedSplit(SIX_USERS, SIX_TITLES, split.train_users, split.train_items,
                         np.array([0, 1, 2, 3]), np.array([0, 1, 4, 5]))
    user_model, movie_model = towers(dim=4, seed=2)
    model = FullSoftmaxModel(user_model, movie_model, SIX_TITLES)
    info = fit(model, training_pairs(split), optimizer=tf.keras.optimizers.Adam(0.05),
               epochs=50, batch_size=16, validation=validation_top_k(valid, k=3), patience=2)
    assert info["history"]["val_top_3"] == info["validation"]
    history = info["validation"]
    assert len(history) == info["epochs"] < 50  # it stopped early
    assert max(history) == 1.0  # every validation title ends in its user's top 3
    best = int(np.argmax(history))
    assert len(history) - 1 - best == 2  # two epochs without improvement, then stop
    assert info["best_epoch"] == best + 1


def test_early_stopping_restores_the_best_epochs_weights():
    """Epoch 1 stays best (min_delta 1.0), so after 3 epochs its weights are back."""
    split = tiny_split()
    valid = EncodedSplit(SIX_USERS, SIX_TITLES, split.train_users, split.train_items,
                         np.array([0, 3]), np.array([0, 5]))

    def trained(**kwargs):
        model = FullSoftmaxModel(*towers(dim=4, seed=2), SIX_TITLES)
        info = fit(model, training_pairs(split), optimizer=tf.keras.optimizers.Adam(0.05),
                   batch_size=16, **kwargs)
        return info, model.get_weights()

    info, restored = trained(epochs=20, validation=validation_top_k(valid, k=1), patience=2,
                             min_delta=1.0)
    assert info["epochs"] == 3 and info["best_epoch"] == 1
    _, one_epoch = trained(epochs=1)
    _, three_epochs = trained(epochs=3)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(restored, one_epoch))
    assert not all(np.allclose(a, b, atol=1e-3) for a, b in zip(restored, three_epochs))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"data": "x"}, TypeError, "tf.data.Dataset"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": np.int64(0)}, ValueError, "epochs"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"patience": 0}, ValueError, "patience"),
        ({"min_delta": -0.1}, ValueError, "min_delta"),
        ({"mode": "up"}, ValueError, "mode"),
    ],
)
def test_fit_bad_input(kwargs, error, match):
    user_model, movie_model = towers()
    args = {
        "model": FullSoftmaxModel(user_model, movie_model, SIX_TITLES),
        "data": training_pairs(tiny_split()),
        "optimizer": tf.keras.optimizers.Adam(0.01),
        "epochs": 1,
        "batch_size": 8,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        fit(**args)


def test_validation_callback_bad_input():
    with pytest.raises(TypeError, match="EncodedSplit"):
        validation_top_k("x")
    with pytest.raises(ValueError, match="k must be"):
        validation_top_k(tiny_split(), k=0)


def test_min_delta_ignores_small_gains():
    """With a min_delta no gain can reach, the first epoch stays the best."""
    split = tiny_split()
    valid = EncodedSplit(SIX_USERS, SIX_TITLES, split.train_users, split.train_items,
                         np.array([0, 3]), np.array([0, 5]))
    user_model, movie_model = towers(dim=4, seed=2)
    model = FullSoftmaxModel(user_model, movie_model, SIX_TITLES)
    info = fit(model, training_pairs(split), optimizer=tf.keras.optimizers.Adam(0.05),
               epochs=20, batch_size=16, validation=validation_top_k(valid, k=1),
               patience=2, min_delta=1.0)
    assert info["epochs"] == 3  # epoch 1 is best; two epochs without "improvement"
    assert info["best_epoch"] == 1


def test_fit_seeds_lazily_built_weights_whatever_ran_before():
    """The seed rule: towers built anywhere, trained by fit with one seed, end equal."""
    split, weights = tiny_split(), []
    for noise in (0, 5):
        tf.random.uniform((noise + 1,))  # unrelated random draws in between
        np.random.rand(noise + 1)
        model = FullSoftmaxModel(*build_towers(SIX_USERS, SIX_TITLES, 4), SIX_TITLES)
        fit(model, training_pairs(split), optimizer=tf.keras.optimizers.Adam(0.05), epochs=2,
            batch_size=4, seed=3)
        weights.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
