"""Tests of helpers.features on tiny hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

import helpers  # noqa: F401  (before TensorFlow)
import tensorflow as tf

from helpers.data import EncodedSplit
from helpers.features import (
    CategoricalEncoder,
    ContinuousEncoder,
    FeatureEncoder,
    FeatureTower,
    MultiHotEncoder,
    TextEncoder,
    activity_time,
    build_feature_towers,
    movie_table,
    pair_values,
    parse_year,
    strip_year,
    user_table,
)

from helpers.retrieval import FullSoftmaxModel, training_pairs
from helpers.train import fit

TITLES = np.array(["Alien (1979)", "Aliens (1986)", "Heat (1995)", "unknown"])


def movies_dataset():
    return tf.data.Dataset.from_tensor_slices(
        {
            "movie_title": TITLES,
            "movie_genres": tf.ragged.constant([[0, 2], [0], [1], []], dtype=tf.int64),
        }
    )


def ratings_dataset():
    return tf.data.Dataset.from_tensor_slices(
        {
            "user_id": np.array(["u1", "u2", "u1"]),
            "user_gender": np.array([True, False, True]),
            "raw_user_age": np.array([30.0, 41.0, 30.0], dtype=np.float32),
            "user_occupation_label": np.array([3, 7, 3], dtype=np.int64),
            "user_zip_code": np.array(["90210", "10001", "90210"]),
            "timestamp": np.array([10, 20, 30], dtype=np.int64),
        }
    )


# ------------------------------------------------------------------ tables


def test_parse_year_and_strip_year():
    titles = ["Heat (1995)", "unknown", "Land Before Time III (1995) (V)", "1-900 (1994)"]
    years = parse_year(titles)
    assert years[0] == 1995 and years[2] == 1995 and years[3] == 1994
    assert np.isnan(years[1])
    assert strip_year(titles).tolist() == ["Heat", "unknown", "Land Before Time III (V)", "1-900"]


def test_parse_year_rejects_non_strings():
    with pytest.raises(TypeError, match="strings"):
        parse_year(np.array([1995, 1996]))


def test_movie_table_reads_ragged_genres_as_multi_hot():
    table = movie_table(movies_dataset(), np.sort(TITLES))
    order = {t: i for i, t in enumerate(table["movie_title"])}
    genres = table["movie_genres"]
    assert genres.shape == (4, 3)
    np.testing.assert_array_equal(genres[order["Alien (1979)"]], [1, 0, 1])
    np.testing.assert_array_equal(genres[order["unknown"]], [0, 0, 0])
    assert table["title_text"][order["Heat (1995)"]] == "Heat"
    assert np.isnan(table["release_year"][order["unknown"]])


def test_movie_table_names_a_missing_title():
    with pytest.raises(ValueError, match="Nope"):
        movie_table(movies_dataset(), np.array(["Nope (2000)"]))


def test_user_table_one_row_per_user():
    table = user_table(ratings_dataset(), np.array(["u1", "u2"]))
    assert table["user_gender"].tolist() == [1, 0]
    assert table["raw_user_age"].tolist() == [30.0, 41.0]
    assert table["user_occupation_label"].tolist() == [3, 7]
    assert table["user_zip_region"].tolist() == ["90", "10"]
    with pytest.raises(ValueError, match="no rating"):
        user_table(ratings_dataset(), np.array(["u9"]))


def test_activity_time_is_the_median_and_nan_without_ratings():
    out = activity_time(np.array([0, 0, 0, 2]), np.array([1, 5, 100, 7]), n_users=3)
    assert out[0] == 5 and out[2] == 7 and np.isnan(out[1])


def test_pair_values_looks_up_pairs_and_rejects_unknown_ones():
    values = pair_values(
        np.array([1, 0]), np.array([2, 1]), np.array([0, 1, 1]), np.array([1, 2, 0]),
        np.array([10, 20, 30]),
    )
    assert values.tolist() == [20, 10]
    with pytest.raises(KeyError):
        pair_values(np.array([5]), np.array([5]), np.array([0]), np.array([0]), np.array([1]))


# ------------------------------------------------------------------ encoders


def test_unknown_category_maps_to_the_oov_row():
    for values, unseen in ((np.array(["a", "b"]), "zzz"), (np.array([3, 7]), 99)):
        encoder = CategoricalEncoder(4).adapt(values)
        out = encoder(tf.constant([unseen, values[0]])).numpy()
        table = encoder.embedding.embeddings.numpy()
        np.testing.assert_allclose(out[0], table[0])  # row 0: out of vocabulary
        assert not np.allclose(out[1], table[0])


def test_empty_genre_list_pools_to_zeros():
    encoder = MultiHotEncoder(3).adapt(np.zeros((1, 4), np.float32))
    out = encoder(tf.constant([[0, 0, 0, 0], [1, 0, 1, 0]], tf.float32)).numpy()
    np.testing.assert_array_equal(out[0], 0.0)
    table = encoder.table.numpy()
    np.testing.assert_allclose(out[1], (table[0] + table[2]) / 2, rtol=1e-6)


def test_title_without_year_gets_the_unknown_year_bucket():
    encoder = ContinuousEncoder(2, num_bins=3).adapt(parse_year(TITLES))
    out = encoder(tf.constant(parse_year(["unknown", "Heat (1995)"]))).numpy()
    buckets = encoder.embedding.embeddings.numpy()
    assert out[0, 0] == 0.0  # standardized value of a missing number
    np.testing.assert_allclose(out[0, 1:], buckets[0])  # bucket 0: unknown
    assert not np.allclose(out[1, 1:], buckets[0])
    years = np.array([1979.0, 1986.0, 1995.0])
    np.testing.assert_allclose(out[1, 0], (1995 - years.mean()) / years.std(), rtol=1e-5)


def test_continuous_encoder_needs_a_known_value():
    with pytest.raises(ValueError, match="NaN"):
        ContinuousEncoder(2).adapt(np.array([np.nan]))


def test_text_encoder_pools_words_and_empty_text_to_zeros():
    encoder = TextEncoder(3).adapt(np.array(["Alien", "Heat"]))
    out = encoder(tf.constant(["", "ALIEN!", "alien heat"])).numpy()
    np.testing.assert_array_equal(out[0], 0.0)
    vocabulary = encoder.vectorize.get_vocabulary()
    table = encoder.embedding.embeddings.numpy()
    alien, heat = table[vocabulary.index("alien")], table[vocabulary.index("heat")]
    np.testing.assert_allclose(out[1], alien, rtol=1e-6)
    np.testing.assert_allclose(out[2], (alien + heat) / 2, rtol=1e-6)


def test_missing_feature_key_raises_naming_it():
    encoder = FeatureEncoder({"user_id": "categorical", "raw_user_age": "continuous"}, 4)
    encoder.adapt({"user_id": np.array(["a"]), "raw_user_age": np.array([30.0])})
    with pytest.raises(KeyError, match="missing feature.*raw_user_age"):
        encoder({"user_id": tf.constant(["a"])})


def test_feature_encoder_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        FeatureEncoder({"x": "image"}, 4)


# ------------------------------------------------------------------ towers


def movie_features():
    return movie_table(movies_dataset(), np.sort(TITLES))


def test_tower_unknown_id_reads_the_unknown_row():
    tower = FeatureTower(
        movie_features(),
        "movie_title",
        {"movie_title": "categorical", "movie_genres": "multi_hot", "release_year": "continuous"},
        train_keys=np.array(["Alien (1979)", "Heat (1995)"]),
        embedding_dim=4,
        feature_dims={"movie_title": 4},
    )
    features = tower.lookup(tf.constant(["Not A Movie (2001)", "Aliens (1986)"]))
    np.testing.assert_array_equal(features["movie_genres"].numpy()[0], 0.0)
    assert np.isnan(features["release_year"].numpy()[0])
    # "Aliens" is in the table but not in training: its genres and year are known.
    assert features["release_year"].numpy()[1] == 1986
    vectors = tower(tf.constant(["Aliens (1986)", "Heat (1995)"])).numpy()
    assert vectors.shape == (2, 4) and np.isfinite(vectors).all()


def test_tower_accepts_a_feature_dictionary():
    tower = FeatureTower(
        movie_features(), "movie_title", {"movie_genres": "multi_hot"},
        train_keys=TITLES, embedding_dim=3,
    )
    by_id = tower(tf.constant(["Aliens (1986)"])).numpy()
    by_features = tower({"movie_genres": tf.constant([[1.0, 0.0, 0.0]])}).numpy()
    np.testing.assert_allclose(by_id, by_features, rtol=1e-6)


def test_tower_rejects_features_not_in_the_table():
    with pytest.raises(KeyError, match="user_age"):
        FeatureTower(movie_features(), "movie_title", {"user_age": "continuous"}, TITLES)


def test_residual_id_tower_equals_the_id_embedding_plus_features():
    tower = FeatureTower(
        movie_features(), "movie_title",
        {"movie_title": "categorical", "movie_genres": "multi_hot"},
        train_keys=TITLES, embedding_dim=4, feature_dims={"movie_title": 4}, residual=True,
    )
    ids = tf.constant(["Heat (1995)"])
    features = tower.lookup(ids)
    encoder = tower.encoder
    expected = encoder.encoders["movie_title"](ids) + encoder.output_layer(
        encoder.encoders["movie_genres"](features["movie_genres"])
    )
    np.testing.assert_allclose(tower(ids).numpy(), expected.numpy(), rtol=1e-5)


def test_build_feature_towers_rejects_unknown_groups():
    users = user_table(ratings_dataset(), np.array(["u1", "u2"]))
    with pytest.raises(ValueError, match="groups"):
        build_feature_towers(users, movie_features(), ["u1"], TITLES, user_groups=("zip",))


def test_feature_towers_train_with_the_full_softmax():
    users = user_table(ratings_dataset(), np.array(["u1", "u2"]))
    users["activity_time"] = np.array([10.0, np.nan])
    movies = movie_features()
    tf.keras.utils.set_random_seed(0)
    user_model, movie_model = build_feature_towers(
        users, movies, ["u1", "u2"], movies["movie_title"],
        user_groups=("id", "demographics", "time"),
        movie_groups=("id", "genres", "text", "year"),
        embedding_dim=4, id_dim=4, default_dim=2, hidden=(8,),
    )
    model = FullSoftmaxModel(user_model, movie_model, movies["movie_title"])
    split = EncodedSplit(
        np.array(["u1", "u2"]), movies["movie_title"],
        np.array([0, 0, 1, 1] * 8), np.array([0, 1, 2, 3] * 8),
        np.array([0]), np.array([1]),
    )
    run = fit(model, training_pairs(split), optimizer=tf.keras.optimizers.Adam(0.05),
              epochs=5, batch_size=8)
    assert run["history"]["loss"][-1] < run["history"]["loss"][0]
