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


# ---------------------------------------------------------------------------
# Approximate indexes (ScaNN), recall against BruteForce, fresh-process loading.
# Small random catalogues (a few hundred vectors) keep every test in seconds.
# ---------------------------------------------------------------------------

import json
import subprocess
import sys
import textwrap

from helpers.metrics import neighbour_recall
from helpers.serving import (
    ScaNNIndex,
    grow_catalogue,
    index_bytes,
    index_vectors,
)

N_RANDOM, DIM = 600, 8


@pytest.fixture(scope="module")
def catalogue() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N_RANDOM, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def queries() -> tf.Tensor:
    rng = np.random.default_rng(1)
    return tf.constant(rng.normal(size=(40, DIM)).astype(np.float32))


@pytest.fixture(scope="module")
def brute(catalogue):
    return index_vectors(catalogue, k=10)


@pytest.fixture(scope="module")
def approx(catalogue):
    return index_vectors(catalogue, k=10, kind="scann", num_leaves=12,
                         num_leaves_to_search=2, num_reordering_candidates=N_RANDOM)


def numpy_top_k(catalogue, queries, k):
    return np.argsort(-(queries.numpy() @ catalogue.T), axis=1)[:, :k]


def test_brute_force_is_exact_and_one_leaf_of_scann_is_not(
        catalogue, queries, brute):
    _, found = brute(queries)
    expected = numpy_top_k(catalogue, queries, 10)
    assert neighbour_recall(found.numpy(), expected) == 1.0
    # One leaf of 12 searched, no re-scoring: neighbours are missed.
    narrow = index_vectors(catalogue, k=10, kind="scann", num_leaves=12,
                           num_leaves_to_search=1)
    assert neighbour_recall(narrow(queries)[1].numpy(), found.numpy()) < 0.8


def test_scann_searching_every_leaf_with_full_reordering_is_exact(
        catalogue, queries, approx):
    expected = numpy_top_k(catalogue, queries, 5)
    scores, found = approx(queries, k=5, leaves_to_search=12,
                           reordering_candidates=N_RANDOM)
    np.testing.assert_array_equal(found.numpy(), expected)
    np.testing.assert_allclose(
        scores.numpy(), np.take_along_axis(queries.numpy() @ catalogue.T,
                                           expected, axis=1), rtol=1e-5, atol=1e-5)
    # The same from an index *built* with those settings (its default settings).
    full = index_vectors(catalogue, k=5, kind="scann", num_leaves=12,
                         num_leaves_to_search=12, num_reordering_candidates=N_RANDOM)
    np.testing.assert_array_equal(full(queries)[1].numpy(), expected)


def test_scann_search_settings_change_the_answer(catalogue, queries, brute, approx):
    # Searching 1 of 12 leaves without re-scoring misses neighbours; searching
    # all of them with re-scoring finds all: the knobs reach the searcher.
    narrow = neighbour_recall(
        approx(queries, leaves_to_search=1, reordering_candidates=10)[1].numpy(),
        brute(queries)[1].numpy())
    wide = neighbour_recall(
        approx(queries, leaves_to_search=12, reordering_candidates=200)[1].numpy(),
        brute(queries)[1].numpy())
    assert narrow < 0.8 and wide == 1.0


def test_neighbour_recall_by_hand():
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, 1], [8, 0, 0, 0]])  # 3 of 4, then 1 of 4
    assert neighbour_recall(found, exact) == pytest.approx((0.75 + 0.25) / 2)
    titles = np.array([["A", "B"]])
    assert neighbour_recall(np.array([["B", "C"]]), titles) == 0.5
    with pytest.raises(ValueError, match="shape"):
        neighbour_recall(exact[:, :3], exact)
    with pytest.raises(ValueError, match="shape"):
        neighbour_recall(exact[0], exact[0])


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"num_leaves": 10, "num_leaves_to_search": 11}, ValueError, "larger than num_leaves"),
        ({"num_leaves": 0}, ValueError, "num_leaves must be at least 1"),
        ({"num_leaves": 10, "num_leaves_to_search": 2.0}, TypeError,
         "num_leaves_to_search must be an int"),
        ({"num_leaves": 10, "num_reordering_candidates": N_RANDOM + 1}, ValueError,
         "num_reordering_candidates=601 is larger than the number of candidates"),
        # ScaNN's own message is clear here:
        ({"num_leaves": N_RANDOM + 1, "num_leaves_to_search": 1},
         tf.errors.InvalidArgumentError, "less than the number of clusters"),
    ],
)
def test_bad_scann_settings_get_clear_errors(catalogue, settings, error, message):
    with pytest.raises(error, match=message):
        index_vectors(catalogue, k=10, kind="scann", **settings)


def test_k_larger_than_the_catalogue(catalogue, approx):
    for kind in ("brute_force", "scann"):
        with pytest.raises(ValueError, match="larger than the number of candidates"):
            index_vectors(catalogue[:20], k=21, kind=kind, **(
                {"num_leaves": 4, "num_leaves_to_search": 2} if kind == "scann" else {}))
    with pytest.raises(ValueError, match="larger than the number of candidates"):
        approx(tf.constant(catalogue[:1]), k=N_RANDOM + 1, leaves_to_search=2)


def test_bad_search_settings_get_clear_errors(catalogue, queries, approx):
    with pytest.raises(ValueError, match="larger than num_leaves"):
        approx(queries, leaves_to_search=13)
    with pytest.raises(ValueError, match="smaller than k"):
        approx(queries, k=10, reordering_candidates=9)
    lean = index_vectors(catalogue, k=10, kind="scann", num_leaves=12)
    with pytest.raises(ValueError, match="built with num_reordering_candidates"):
        lean(queries, reordering_candidates=50)
    with pytest.raises(TypeError, match="leaves_to_search must be an int"):
        approx(queries, leaves_to_search=2.0)


def test_index_vectors_rejects_bad_input(catalogue):
    with pytest.raises(ValueError, match="kind must be one of"):
        index_vectors(catalogue, kind="annoy")
    # TFRS's own messages:
    with pytest.raises(ValueError, match="must be 2D"):
        index_vectors(catalogue[0])
    with pytest.raises(ValueError, match="identifiers tensors must have the same number"):
        index_vectors(catalogue, np.arange(N_RANDOM - 1))
    with pytest.raises(TypeError, match="only apply to kind='scann'"):
        index_vectors(catalogue, num_leaves=10)


def test_index_returns_identifiers(catalogue, queries):
    ids = np.array([f"item {i}" for i in range(N_RANDOM)])
    index = index_vectors(catalogue, ids, k=3, kind="scann", num_leaves=12,
                          num_leaves_to_search=12, num_reordering_candidates=100)
    expected = ids[numpy_top_k(catalogue, queries, 3)]
    assert (index(queries)[1].numpy().astype(str) == expected).all()


def test_index_bytes(catalogue, brute):
    # float32 vectors, plus the int32 positions TFRS stores as identifiers.
    assert index_bytes(brute) == N_RANDOM * DIM * 4 + N_RANDOM * 4
    lean = index_vectors(catalogue, k=10, kind="scann", num_leaves=12)
    keeps = index_vectors(catalogue, k=10, kind="scann", num_leaves=12,
                          num_reordering_candidates=50)
    # Re-scoring keeps the float32 vectors on top of the codes.
    assert index_bytes(keeps) - index_bytes(lean) >= N_RANDOM * DIM * 4


def test_grow_catalogue():
    real = np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    grown = grow_catalogue(real, 11, seed=3)
    assert grown.shape == (11, 3) and grown.dtype == np.float32
    np.testing.assert_array_equal(grown[:4], real)
    source = real[np.arange(4, 11) % 4]  # each copy scales one real vector
    ratio = grown[4:] / source
    assert ((ratio >= 0) & (ratio < 1)).all() and len(np.unique(ratio)) == ratio.size
    np.testing.assert_array_equal(grow_catalogue(real, 11, seed=3), grown)
    assert not np.array_equal(grow_catalogue(real, 11, seed=4), grown)
    with pytest.raises(ValueError, match="broadcast"):  # n below the real vectors
        grow_catalogue(real, 3)
    with pytest.raises(ValueError, match="unpack"):  # not a matrix
        grow_catalogue(real[0], 10)


MANY_TITLES = np.array([f"T{i:02d}" for i in range(40)])


class ManyTitlesModel:
    """Seeded random towers over 40 titles: ScaNN's quantizer needs >= 16."""

    def __init__(self) -> None:
        tf.keras.utils.set_random_seed(7)
        self.user_model, self.movie_model = build_towers(
            USERS, MANY_TITLES, embedding_dim=4)


@pytest.fixture(scope="module")
def many() -> ManyTitlesModel:
    return ManyTitlesModel()


@pytest.fixture(scope="module")
def many_scann(many):
    return build_index(many, MANY_TITLES, k=5, kind="scann", num_leaves=4,
                       num_leaves_to_search=4, num_reordering_candidates=40)


def test_build_index_of_either_kind_from_the_same_towers(many, many_scann):
    exact = build_index(many, MANY_TITLES, k=5)
    assert isinstance(many_scann, ScaNNIndex)
    queries = tf.constant(["1", "2", "3", "stranger"])
    np.testing.assert_array_equal(many_scann(queries)[1].numpy(),
                                  exact(queries)[1].numpy())
    top = recommend(exact, "1", k=4).titles
    assert recommend(many_scann, "1", k=3, exclude=[top[0]]).titles == top[1:]
    with pytest.raises(ValueError, match="larger than num_leaves"):
        build_index(many, MANY_TITLES, kind="scann", num_leaves=2,
                    num_leaves_to_search=3)
    with pytest.raises(TypeError, match="only apply to kind='scann'"):
        build_index(many, MANY_TITLES, num_leaves=2)


def test_scann_needs_sixteen_candidates(model):
    # ScaNN's quantizer learns 16 codewords per block; its own message says so.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"clusters per block \(16\)"):
        build_index(model, TITLES, k=3, kind="scann", num_leaves=2,
                    num_leaves_to_search=2)


FRESH_LOAD = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    try:
        tf.saved_model.load(sys.argv[1])
        plain = "loaded"
    except Exception as error:
        plain = str(error)
    from helpers.serving import load_index
    loaded = load_index(sys.argv[1])
    scores, titles = loaded(tf.constant(["1", "2", "3", "stranger"]))
    print(json.dumps({"plain": plain, "titles": titles.numpy().astype(str).tolist(),
                      "scores": scores.numpy().tolist()}))
""")


def run_fresh(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=600)


def test_scann_index_reloads_in_a_fresh_process(many_scann, tmp_path):
    index = many_scann
    path = save_index(index, tmp_path / "scann", example_user="1")
    result = run_fresh(FRESH_LOAD, str(path))
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    # Plain TensorFlow, without `import scann`, cannot load it ...
    assert "Op type not registered 'Scann>TensorsToScann'" in answer["plain"]
    # ... load_index can, and the reloaded index gives the same titles.
    before_scores, before_titles = index(tf.constant(["1", "2", "3", "stranger"]))
    assert answer["titles"] == before_titles.numpy().astype(str).tolist()
    np.testing.assert_allclose(answer["scores"], before_scores.numpy(), atol=1e-5)


def test_load_index_explains_a_missing_scann(many_scann, tmp_path):
    path = save_index(many_scann, tmp_path / "scann", example_user="1")
    script = textwrap.dedent("""
        import sys
        sys.modules["scann"] = None  # as if ScaNN were not installed
        from helpers.serving import load_index
        try:
            load_index(sys.argv[1])
        except RuntimeError as error:
            print("RuntimeError:", error)
    """)
    result = run_fresh(script, str(path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "holds a ScaNN index" in result.stdout
    assert "pip install scann==1.4.2" in result.stdout
