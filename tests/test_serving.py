"""Tests of helpers.serving: index building, recommend, exclusions, fallback, save/load.

Everything runs on a tiny hand-made model (three users, five titles, one of
them listed twice) whose embeddings are set by hand, so every expected answer
can be worked out with a pencil. No MovieLens needed.
"""

from __future__ import annotations

import numpy as np
import pytest

import helpers  # noqa: F401
import tensorflow as tf
from helpers.retrieval import build_towers
from helpers.serving import (
    Recommendations,
    build_index,
    load_index,
    popular_titles,
    rated_titles,
    recommend,
    save_index,
    unique_titles,
)

USERS = np.array(["1", "2", "3"])
TITLES = np.array(["A", "B", "C", "D", "E"])
# Row 0 of each table is the out-of-vocabulary row (StringLookup maps unknown
# strings to 0); rows 1.. follow the sorted vocabulary.
USER_VECTORS = np.array(
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]],
    dtype=np.float32,
)
TITLE_VECTORS = np.array(
    [
        [0.0, 0.0, 0.0],  # OOV
        [5.0, 0.0, 0.1],  # A
        [4.0, 1.0, 0.2],  # B
        [3.0, 2.0, 0.3],  # C
        [0.0, 6.0, 0.4],  # D
        [1.0, 1.0, 0.5],  # E
    ],
    dtype=np.float32,
)
# Scores A..E: user "1" -> 5, 4, 3, 0, 1; user "2" -> 0, 1, 2, 6, 1;
# user "3" -> 5, 5, 5, 6, 2; unknown user -> 0.1, 0.2, 0.3, 0.4, 0.5.


class TinyModel:
    """Two towers with hand-set weights, as a trained RetrievalModel would have."""

    def __init__(self) -> None:
        self.user_model, self.movie_model = build_towers(USERS, TITLES, embedding_dim=3)
        self.user_model(tf.constant(["1"]))
        self.movie_model(tf.constant(["A"]))
        self.user_model.layers[1].set_weights([USER_VECTORS])
        self.movie_model.layers[1].set_weights([TITLE_VECTORS])


@pytest.fixture(scope="module")
def model() -> TinyModel:
    return TinyModel()


@pytest.fixture(scope="module")
def index(model):
    return build_index(model, TITLES, k=3)


def test_unique_titles_sorted_and_deduplicated():
    assert unique_titles(["B", "A", "B", "C"]).tolist() == ["A", "B", "C"]


@pytest.mark.parametrize("bad", ["ABC", [b"A", b"B"], []])
def test_unique_titles_rejects_bad_input(bad):
    with pytest.raises((TypeError, ValueError)):
        unique_titles(bad)


def test_index_scores_are_dot_products(index):
    scores, titles = index(tf.constant(["1"]))
    assert [t.decode() for t in titles.numpy()[0]] == ["A", "B", "C"]
    np.testing.assert_allclose(scores.numpy()[0], [5.0, 4.0, 3.0], atol=1e-6)


def test_duplicates_indexed_once_unless_asked(model):
    with_duplicates = np.array(["A", "B", "A", "C", "D", "E"])
    index = build_index(model, with_duplicates, k=3, unique=False)
    _, titles = index(tf.constant(["1"]))
    assert [t.decode() for t in titles.numpy()[0]] == ["A", "A", "B"]
    index = build_index(model, with_duplicates, k=3)
    _, titles = index(tf.constant(["1"]))
    assert [t.decode() for t in titles.numpy()[0]] == ["A", "B", "C"]


def test_build_index_rejects_bad_input(model):
    with pytest.raises(TypeError, match="user_model"):
        build_index(object(), TITLES)
    with pytest.raises(ValueError, match="larger than the number of candidates"):
        build_index(model, TITLES, k=6)
    with pytest.raises(ValueError, match="empty"):
        build_index(model, [])


def test_recommend_top_k(index):
    recs = recommend(index, "2", k=2)
    assert isinstance(recs, Recommendations)
    assert recs.titles == ("D", "C") and recs.source == "index"
    np.testing.assert_allclose(recs.scores, [6.0, 2.0], atol=1e-6)


def test_recommend_k_beyond_index_default_on_live_index(index):
    # The live index was built with k=3 but can be asked for all five.
    recs = recommend(index, "1", k=5)
    assert recs.titles == ("A", "B", "C", "E", "D")


@pytest.mark.parametrize("k", [0, -1, 6])
def test_recommend_rejects_bad_k(index, k):
    with pytest.raises(ValueError, match="k"):
        recommend(index, "1", k=k)


@pytest.mark.parametrize("k", [2.0, "3", True])
def test_recommend_rejects_non_int_k(index, k):
    with pytest.raises(TypeError, match="k must be an int"):
        recommend(index, "1", k=k)


@pytest.mark.parametrize("user_id", [9, b"9", None, 9.0])
def test_recommend_rejects_non_string_user(index, user_id):
    with pytest.raises(TypeError, match="user_id must be a str"):
        recommend(index, user_id)


def test_exclusions_are_filtered_and_k_kept(index):
    seen = rated_titles(["1", "1", "2"], ["A", "C", "D"])
    assert seen == {"1": frozenset({"A", "C"}), "2": frozenset({"D"})}
    recs = recommend(index, "1", k=3, exclude=seen["1"])
    assert recs.titles == ("B", "E", "D")
    assert not set(recs.titles) & seen["1"]


def test_exclude_must_not_be_a_single_title(index):
    with pytest.raises(TypeError, match="single string"):
        recommend(index, "1", exclude="A")


def test_too_many_exclusions(index):
    with pytest.raises(ValueError, match="left after the exclusions"):
        recommend(index, "1", k=3, exclude=["A", "B", "C"])


def test_unknown_user_gets_oov_list_without_fallback(index):
    a = recommend(index, "no-such-user", k=3)
    b = recommend(index, "another-stranger", k=3)
    assert a.titles == b.titles == ("E", "D", "C")


def test_popularity_fallback_for_unknown_user(index):
    popular = popular_titles(["C", "A", "C", "B", "A", "C", "E"])
    assert list(popular.items()) == [("C", 3), ("A", 2), ("B", 1), ("E", 1)]
    recs = recommend(index, "99", k=2, known_users=USERS, fallback=popular)
    assert recs.source == "popularity"
    assert recs.titles == ("C", "A") and recs.scores == (3.0, 2.0)
    # Known users still get the model's answer.
    known = recommend(index, "1", k=2, known_users=USERS, fallback=popular)
    assert known.source == "index"
    with pytest.raises(ValueError, match="fallback"):
        recommend(index, "99", k=2, known_users=USERS)
    with pytest.raises(ValueError, match="larger than the number of candidates"):
        recommend(index, "99", k=5, known_users=USERS, fallback=popular)


def test_rated_titles_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per interaction"):
        rated_titles(["1", "2"], ["A"])


def test_popular_titles_rejects_empty():
    with pytest.raises(ValueError, match="empty"):
        popular_titles([])


def test_save_and_reload_round_trip(model, tmp_path):
    index = build_index(model, TITLES, k=4)
    path = save_index(index, tmp_path / "index", example_user="1")
    loaded = load_index(path)
    queries = tf.constant(["1", "2", "3", "stranger"])
    before_scores, before_titles = index(queries)
    after_scores, after_titles = loaded(queries)
    assert after_titles.shape == (4, 4)
    np.testing.assert_array_equal(after_titles.numpy(), before_titles.numpy())
    np.testing.assert_allclose(after_scores.numpy(), before_scores.numpy(), atol=1e-6)
    # recommend works on the reloaded index, within the k it was saved with.
    assert recommend(loaded, "2", k=2).titles == recommend(index, "2", k=2).titles
    assert recommend(loaded, "1", k=2, exclude=["A"]).titles == ("B", "C")
    with pytest.raises(ValueError, match="larger k"):
        recommend(loaded, "1", k=3, exclude=["A", "B"])
    with pytest.raises(ValueError, match="larger than the number of candidates"):
        recommend(loaded, "1", k=6)


def test_load_index_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no SavedModel"):
        load_index(tmp_path / "nothing-here")


def test_save_index_rejects_bad_input(model, tmp_path):
    with pytest.raises(TypeError, match="tfrs.layers.factorized_top_k"):
        save_index(model, tmp_path / "x", example_user="1")
    with pytest.raises(TypeError, match="example_user"):
        save_index(build_index(model, TITLES, k=3), tmp_path / "x", example_user=1)
