"""Tests of helpers.data: loading, the classic split, vocabularies, encoding.

The loading tests need the prepared MovieLens copy (TFDS_DATA_DIR, or TFDS's
default folder); the offline-failure tests need nothing.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import helpers  # noqa: F401
from helpers import data
from helpers.data import (
    DataUnavailableError,
    classic_split,
    encode,
    encode_split,
    load_movielens,
    to_arrays,
    vocabularies,
)


def _prepared() -> bool:
    import tensorflow_datasets as tfds

    root = os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR
    return all(tfds.builder(n, data_dir=root).is_prepared() for n in (data.RATINGS, data.MOVIES))


needs_data = pytest.mark.skipif(
    not _prepared(), reason="MovieLens 100K is not prepared; set TFDS_DATA_DIR (see README)"
)


@pytest.fixture(scope="module")
def movielens():
    return load_movielens(verbose=False)


# --- offline behaviour -------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Make the download host unreachable, whatever this machine's network."""
    monkeypatch.setattr(data, "_host_reachable", lambda url, timeout: False)


def test_empty_data_dir_fails_fast_and_leaves_nothing(tmp_path, no_network):
    (tmp_path / "mine.txt").write_text("a reader's own file")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as err:
        load_movielens(data_dir=tmp_path)
    assert time.monotonic() - start < 30
    message = str(err.value)
    assert "TFDS_DATA_DIR" in message and str(tmp_path) in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_missing_data_dir_is_not_created(tmp_path, no_network):
    missing = tmp_path / "does" / "not" / "exist"
    with pytest.raises(DataUnavailableError):
        load_movielens(data_dir=missing)
    assert not (tmp_path / "does").exists()


def test_real_unreachable_host_fails_fast(tmp_path):
    """Without the monkeypatch: this machine (or a reader's offline one) really probes."""
    start = time.monotonic()
    try:
        ratings, movies = load_movielens(data_dir=tmp_path, timeout=5, verbose=False)
    except DataUnavailableError:
        assert time.monotonic() - start < 30
        assert list(tmp_path.iterdir()) == []
    else:  # a machine with internet downloaded it: then it must be the real data
        assert ratings.cardinality().numpy() == 100_000
        assert movies.cardinality().numpy() == 1_682


def test_a_resolver_that_never_answers_is_bounded(monkeypatch):
    """socket.create_connection's timeout does not cover the DNS lookup; the probe's does."""
    released = threading.Event()

    def hanging_getaddrinfo(*args, **kwargs):
        released.wait(60)  # a resolver that does not answer
        raise OSError("resolver gave up")

    monkeypatch.setattr(data.socket, "getaddrinfo", hanging_getaddrinfo)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    start = time.monotonic()
    try:
        assert data._host_reachable(data.SOURCE_URL, timeout=0.5) is False
        assert time.monotonic() - start < 2.0
    finally:
        released.set()


def test_probe_answers_for_a_listening_local_port():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert data._host_reachable(f"http://127.0.0.1:{port}/x", timeout=5) is True
    assert data._host_reachable(f"http://127.0.0.1:{port}/x", timeout=5) is False


def test_download_false_never_touches_network(tmp_path, monkeypatch):
    def boom(url, timeout):
        raise AssertionError("probed the network although download=False")

    monkeypatch.setattr(data, "_host_reachable", boom)
    with pytest.raises(DataUnavailableError, match="download=False"):
        load_movielens(data_dir=tmp_path, download=False)


def test_failed_download_removes_only_what_it_wrote(tmp_path, monkeypatch):
    """A download that dies half-way leaves the folder as it was."""
    import tensorflow_datasets as tfds

    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("keep me")
    monkeypatch.setattr(data, "_host_reachable", lambda url, timeout: True)

    def half_written(self, *args, **kwargs):
        partial = Path(self.data_dir).parent / "incomplete.abc123"
        partial.mkdir(parents=True)
        (partial / "data.tfrecord").write_bytes(b"\0" * 10)
        (tmp_path / "downloads").mkdir(exist_ok=True)
        (tmp_path / "downloads" / "ml-100k.zip.tmp").write_bytes(b"PK")
        raise ConnectionError("connection reset")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", half_written)
    with pytest.raises(DataUnavailableError, match="connection reset"):
        load_movielens(data_dir=tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "keep",
        "keep/notes.txt",
    ]


def test_failed_download_keeps_what_another_process_wrote_meanwhile(tmp_path, monkeypatch):
    """Only MovieLens's own new paths go: another data set prepared into the
    same folder at the same time, and its download, stay."""
    import tensorflow_datasets as tfds

    monkeypatch.setattr(data, "_host_reachable", lambda url, timeout: True)

    def half_written_beside_another(self, *args, **kwargs):
        (Path(self.data_dir).parent / "incomplete.abc123").mkdir(parents=True)
        (tmp_path / "downloads" / "extracted" / "ZIP.ml-100k.zip").mkdir(parents=True)
        (tmp_path / "mnist" / "3.0.1").mkdir(parents=True)  # another process's
        (tmp_path / "downloads" / "mnist.zip").write_bytes(b"PK")
        raise ConnectionError("connection reset")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        half_written_beside_another)
    with pytest.raises(DataUnavailableError, match="connection reset"):
        load_movielens(data_dir=tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "downloads", "downloads/mnist.zip", "mnist", "mnist/3.0.1",
    ]


def test_data_dir_must_be_a_path():
    with pytest.raises(TypeError, match="data_dir must be a path"):
        load_movielens(data_dir=42)


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataUnavailableError, match="is a file"):
        load_movielens(data_dir=f)


@pytest.mark.parametrize(
    "timeout, error", [(0, ValueError), (-1, ValueError), ("10", TypeError), (True, TypeError)]
)
def test_bad_timeout(timeout, error):
    with pytest.raises(error, match="timeout"):
        load_movielens(timeout=timeout)


def test_tfds_data_dir_env_is_honoured(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match=str(tmp_path)):
        load_movielens()


# --- the genuine data --------------------------------------------------------


@needs_data
def test_genuine_movielens(movielens, capsys):
    ratings, movies = movielens
    assert len(ratings) == 100_000 and len(movies) == 1_682
    first = [(x["movie_title"].numpy(), x["user_id"].numpy()) for x in ratings.take(2)]
    assert first == [
        (b"One Flew Over the Cuckoo's Nest (1975)", b"138"),
        (b"Strictly Ballroom (1992)", b"92"),
    ]
    assert [x["movie_title"].numpy() for x in movies.take(2)] == [
        b"You So Crazy (1994)",
        b"Love Is All There Is (1996)",
    ]


@needs_data
def test_records_are_those_tfds_load_gives_in_its_order(movielens):
    import tensorflow_datasets as tfds

    for ours, name in zip(movielens, (data.RATINGS, data.MOVIES)):
        theirs = tfds.load(name, split="train")
        assert set(ours.element_spec) == set(theirs.element_spec)
        a, b = (next(d.ragged_batch(200_000).as_numpy_iterator()) for d in (ours, theirs))
        for feature, expected in b.items():
            got = a[feature]
            if feature == "movie_genres":  # a list of a different length per record
                assert [list(g) for g in got] == [list(g) for g in expected]
            else:
                assert got.dtype == expected.dtype, feature
                np.testing.assert_array_equal(got, expected, err_msg=feature)


@needs_data
def test_sanity_line(capsys):
    load_movielens()
    assert capsys.readouterr().out.strip() == (
        "MovieLens 100K: 100,000 ratings by 943 users; 1,682 movies (1,664 distinct titles)"
    )


@needs_data
def test_classic_split_sizes_disjoint_and_deterministic(movielens):
    ratings, _ = movielens
    train, test = classic_split(ratings)
    tr = to_arrays(train, ["user_id", "movie_id"])
    te = to_arrays(test, ["user_id", "movie_id"])
    assert len(tr["user_id"]) == 80_000 and len(te["user_id"]) == 20_000
    # A rating is identified by (user, movie id); titles are not unique.
    key = lambda a: set(zip(a["user_id"], a["movie_id"]))  # noqa: E731
    assert len(key(tr)) == 80_000 and len(key(te)) == 20_000
    assert not key(tr) & key(te)
    again = to_arrays(classic_split(ratings)[1], ["user_id", "movie_id"])
    np.testing.assert_array_equal(again["movie_id"], te["movie_id"])
    np.testing.assert_array_equal(again["user_id"], te["user_id"])


def _guide_split(ratings):
    """The TFRS basic-retrieval guide's split, as the guide writes it."""
    import tensorflow as tf

    tf.random.set_seed(42)
    shuffled = ratings.shuffle(100_000, seed=42, reshuffle_each_iteration=False)
    return shuffled.take(80_000), shuffled.skip(80_000).take(20_000)


@needs_data
def test_classic_split_is_the_guides_split_record_by_record(movielens):
    ratings, _ = movielens
    for ours, theirs in zip(classic_split(ratings), _guide_split(ratings)):
        a, b = (next(d.ragged_batch(200_000).as_numpy_iterator()) for d in (ours, theirs))
        assert a.keys() == b.keys()
        for feature, expected in b.items():
            if feature == "movie_genres":
                assert [list(g) for g in a[feature]] == [list(g) for g in expected]
            else:
                np.testing.assert_array_equal(a[feature], expected, err_msg=feature)


def test_classic_split_of_a_smaller_dataset_is_the_guides_too():
    import tensorflow as tf

    ratings = tf.data.Dataset.from_tensor_slices({"r": tf.range(90_123) * 7})
    for ours, theirs in zip(classic_split(ratings), _guide_split(ratings)):
        np.testing.assert_array_equal(to_arrays(ours, ["r"])["r"], to_arrays(theirs, ["r"])["r"])


def test_classic_split_wrong_type():
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        classic_split([1, 2, 3])


@needs_data
def test_vocabularies(movielens):
    user_ids, titles = vocabularies(*movielens)
    assert len(user_ids) == 943 and len(titles) == 1_664
    assert list(user_ids) == sorted(user_ids) and list(titles) == sorted(titles)
    assert "Toy Story (1995)" in titles and "9" in user_ids


@needs_data
def test_encode_split(movielens):
    ratings, movies = movielens
    train, test = classic_split(ratings)
    user_ids, titles = vocabularies(ratings, movies)
    split = encode_split(train, test, user_ids, titles)
    assert (split.n_users, split.n_items) == (943, 1_664)
    assert len(split.train_users) == 80_000 and len(split.test_items) == 20_000
    first = to_arrays(test.take(1))
    assert titles[split.test_items[0]] == first["movie_title"][0]
    assert user_ids[split.test_users[0]] == first["user_id"][0]


@needs_data
def test_to_arrays_unknown_feature(movielens):
    with pytest.raises(KeyError, match="rating_stars"):
        to_arrays(movielens[0], ["rating_stars"])


def test_to_arrays_of_filtered_and_empty_datasets():
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices({"user_id": ["1", "2", "3"], "n": [1, 2, 3]})
    kept = to_arrays(ds.filter(lambda x: x["n"] != 2), ["user_id", "n"])
    np.testing.assert_array_equal(kept["user_id"], ["1", "3"])
    np.testing.assert_array_equal(kept["n"], [1, 3])
    empty = to_arrays(ds.filter(lambda x: x["n"] > 3), ["user_id", "n"])
    assert [len(v) for v in empty.values()] == [0, 0]


def test_to_arrays_wrong_type():
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        to_arrays({"user_id": ["1"]})


# --- encode --------------------------------------------------------------------


def test_encode_positions():
    vocab = np.array(["a", "b", "c"])
    np.testing.assert_array_equal(encode(["c", "a", "c"], vocab), [2, 0, 2])
    assert encode([], vocab).shape == (0,)


def test_encode_unknown_value_is_named():
    with pytest.raises(ValueError, match=r"1 value\(s\) are not in the vocabulary.*'zz'"):
        encode(["a", "zz"], np.array(["a", "b"]))


def test_encode_needs_sorted_unique_vocabulary():
    with pytest.raises(ValueError, match="sorted and unique"):
        encode(["a"], np.array(["b", "a"]))
    with pytest.raises(ValueError, match="non-empty"):
        encode(["a"], np.array([]))


# ------------------------------------------------------------------ validation split

from helpers.data import EncodedSplit, as_dataset, validation_split  # noqa: E402

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
        ({"fraction": 0.0}, ValueError, r"lie in \(0, 1\)"),
        ({"fraction": 1.0}, ValueError, r"lie in \(0, 1\)"),
        ({"fraction": np.float32(0.25)}, None, None),
        ({"fraction": "0.1"}, TypeError, "number"),
        ({"fraction": 0.001}, ValueError, "empty part"),
    ],
)
def test_validation_split_bad_input(kwargs, error, match):
    args = {"split": tiny_split(), **kwargs}
    if error is None:  # NumPy numbers are as good as Python ones
        assert len(validation_split(**args).test_items) == 30
        return
    with pytest.raises(error, match=match):
        validation_split(**args)


def test_as_dataset_gives_the_recipes_features():
    ds = as_dataset(np.array([0, 3]), np.array([5, 1]), USERS, TITLES)
    rows = list(ds.as_numpy_iterator())
    assert rows == [{"user_id": b"u0", "movie_title": b"f"}, {"user_id": b"u3", "movie_title": b"b"}]
    with pytest.raises(ValueError, match="equal length"):
        as_dataset(np.array([0]), np.array([1, 2]), USERS, TITLES)
    with pytest.raises(ValueError, match="items"):
        as_dataset(np.array([0]), np.array([6]), USERS, TITLES)


@needs_data
def test_split_rows_are_the_classic_split_and_its_validation_split():
    ratings, movies = data.load_movielens(verbose=False)
    columns = data.to_arrays(ratings, ["user_id", "movie_title"])
    train, test, fit, validation = data.split_rows()
    assert len(train) == 80_000 and len(test) == 20_000
    assert len(np.union1d(train, test)) == 100_000
    assert len(fit) == 72_000 and len(validation) == 8_000
    # the same pairs as the real split, in the same order
    classic_train, classic_test = data.classic_split(ratings)
    user_ids, titles = data.vocabularies(ratings, movies)
    split = data.encode_split(classic_train, classic_test, user_ids, titles)
    users = data.encode(columns["user_id"], user_ids)
    items = data.encode(columns["movie_title"], titles)
    np.testing.assert_array_equal(users[test], split.test_users)
    np.testing.assert_array_equal(items[train], split.train_items)
    held = data.validation_split(split, fraction=0.1, seed=42)
    np.testing.assert_array_equal(users[validation], held.test_users)
    np.testing.assert_array_equal(items[fit], held.train_items)
    assert len(np.intersect1d(validation, test)) == 0
