"""MovieLens 100K: loading, the classic split, vocabularies and integer positions.

The only module that touches TFDS: it downloads ``ml-100k.zip`` (5 MB) once into
``~/tensorflow_datasets`` (or ``TFDS_DATA_DIR``, ``data_dir=``); offline, point
``TFDS_DATA_DIR`` at a copy prepared elsewhere (see the README).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from helpers import _checks

RATINGS, MOVIES = "movielens/100k-ratings", "movielens/100k-movies"
SOURCE_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"


class DataUnavailableError(RuntimeError):
    """MovieLens is neither prepared in the data folder nor downloadable."""


def _data_dir(data_dir) -> Path:
    """The argument, else ``TFDS_DATA_DIR``, else TFDS's default folder."""
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path (str or os.PathLike) or None, got {data_dir!r}")
    if data_dir is None:
        import tensorflow_datasets as tfds

        data_dir = os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR
    path = Path(data_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise DataUnavailableError(f"The TFDS data directory {path} is a file, not a folder. "
                                   "Set TFDS_DATA_DIR (or pass data_dir=) to a folder.")
    return path


def _host_reachable(url: str, timeout: float) -> bool:
    """Whether a TCP connection to the URL's host opens within ``timeout`` seconds in all
    (DNS in a daemon thread, abandoned when late); ``True`` behind a proxy: TFDS tries."""
    if any(os.environ.get(v) for v in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")):
        return True
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    deadline, found = time.monotonic() + timeout, []

    def resolve():
        with contextlib.suppress(OSError):
            found.extend(socket.getaddrinfo(parsed.hostname, port, type=socket.SOCK_STREAM))

    lookup = threading.Thread(target=resolve, daemon=True)
    lookup.start()
    lookup.join(timeout)
    for family, kind, proto, _, address in [] if lookup.is_alive() else found:
        with contextlib.suppress(OSError), socket.socket(family, kind, proto) as connection:
            connection.settimeout(max(deadline - time.monotonic(), 1e-3))
            connection.connect(address)
            return True
    return False


def _snapshot(root: Path) -> set[Path]:
    return {root, *root.rglob("*")} if root.exists() else set()  # every path below root


def _ours(relative: Path) -> bool:
    """A path of MovieLens's: its data sets' folder, or a download of ``ml-100k.zip``."""
    top, rest = relative.parts[:1], relative.parts[1:]
    return top == ("movielens",) or (top == ("downloads",) and any(
        "ml-100k" in p or "movielens" in p.lower() for p in rest))


def _remove_new_paths(root: Path, before: set[Path]) -> None:
    """Delete the new paths of MovieLens's below ``root``, then the new folders they
    leave empty; a reader's files and another process's downloads stay."""
    new, emptied = _snapshot(root) - before, set()
    for path in sorted(new, key=lambda p: len(p.parts)):
        if (path.exists() or path.is_symlink()) and _ours(path.relative_to(root)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            emptied |= set(path.parents) & new
    for path in sorted(emptied, key=lambda p: -len(p.parts)):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _unavailable(data_dir: Path, reason: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"MovieLens 100K is not prepared in the TFDS data directory {data_dir}, "
        f"and it cannot be downloaded here: {reason}.\nTo fix this, either\n"
        f"  * run the chapter on a machine with internet access: TFDS downloads "
        f"ml-100k.zip (5 MB) from {SOURCE_URL} once and caches it; or\n"
        "  * prepare it on a machine with internet access, with\n"
        "      python -c \"import helpers.data as d; d.load_movielens('DIR')\"\n"
        "    copy DIR (it holds movielens/100k-ratings and movielens/100k-movies) here, "
        "and set the environment variable TFDS_DATA_DIR=DIR (or pass data_dir=DIR).")


def _read_split(builder):
    """``builder.as_dataset(split="train")``: the same records, in the same order,
    parsed in one ``tf.io.parse_example`` call (0.4 s instead of TFDS's 5 s)."""
    import tensorflow as tf

    info = builder.info.features.get_serialized_info()
    spec = {name: tf.io.RaggedFeature(tf.int64) if t.shape == (None,)
            else tf.io.FixedLenFeature([], tf.int64 if t.tf_dtype == tf.bool else t.tf_dtype)
            for name, t in info.items()}
    files = [str(path) for path in builder.info.splits["train"].filepaths]
    records = tf.data.TFRecordDataset(files).batch(1 << 30).get_single_element()
    columns = tf.io.parse_example(records, spec)
    return tf.data.Dataset.from_tensor_slices(
        {name: tf.cast(v, tf.bool) if info[name].tf_dtype == tf.bool else v
         for name, v in columns.items()})


def load_movielens(data_dir=None, *, download: bool = True, timeout: float = 10.0,
                   verbose: bool = True):
    """``(ratings, movies)``: the records of ``tfds.load("movielens/100k-ratings")``
    and ``tfds.load("movielens/100k-movies")`` (split ``"train"``), in their order.

    100,000 ratings by 943 users; 1,682 movies, 1,664 distinct titles. Without the data or a
    download it raises :class:`DataUnavailableError` in about ``timeout`` seconds, naming the
    fix; a failed download's files are removed.
    """
    timeout = _checks.number("timeout", timeout, low=0.0, low_open=True)
    root = _data_dir(data_dir)
    import tensorflow_datasets as tfds
    from absl import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)  # TFDS's "Variant folder ... has no dataset_info.json"
    try:
        builders = [tfds.builder(name, data_dir=str(root)) for name in (RATINGS, MOVIES)]
        missing = [b for b in builders if not b.is_prepared()]
        if missing and not download:
            raise _unavailable(root, "download=False was passed")
        if missing and not _host_reachable(SOURCE_URL, timeout):
            raise _unavailable(root, f"{urlparse(SOURCE_URL).hostname} cannot be reached (no network?)")
        before = _snapshot(root)
        try:
            for builder in missing:
                builder.download_and_prepare()
        except BaseException as exc:  # KeyboardInterrupt too: clean up, re-raise
            _remove_new_paths(root, before)
            if isinstance(exc, Exception):
                raise _unavailable(root, f"the download failed ({exc})") from exc
            raise
        ratings, movies = (_read_split(b) for b in builders)
    finally:
        logging.set_verbosity(verbosity)
    if verbose:
        users = to_arrays(ratings, ["user_id"])["user_id"]
        titles = to_arrays(movies, ["movie_title"])["movie_title"]
        print(f"MovieLens 100K: {len(users):,} ratings by {len(np.unique(users)):,} users; "
              f"{len(titles):,} movies ({len(np.unique(titles)):,} distinct titles)")
    return ratings, movies


def classic_split(ratings):
    """``(train, test)``: the TFRS guides' split, 80,000 and 20,000 ratings.

    ``tf.random.set_seed(42)``, ``shuffle(100_000, seed=42, reshuffle_each_iteration=False)``,
    ``take(80_000)``, ``skip(80_000).take(20_000)``, drawn on the positions, columns gathered.
    """
    import tensorflow as tf

    if not isinstance(ratings, tf.data.Dataset):
        raise TypeError("ratings must be a tf.data.Dataset (from load_movielens), "
                        f"got {type(ratings).__name__}")
    tf.random.set_seed(42)
    columns = ratings.batch(1 << 30).get_single_element()
    first = tf.nest.flatten(columns)[0]
    n = int(first.nrows() if isinstance(first, tf.RaggedTensor) else tf.shape(first)[0])
    order = tf.data.Dataset.range(n).shuffle(100_000, seed=42, reshuffle_each_iteration=False)
    order = order.batch(n).get_single_element()
    return tuple(tf.data.Dataset.from_tensor_slices(
        tf.nest.map_structure(lambda c: tf.gather(c, part), columns))
        for part in (order[:80_000], order[80_000:100_000]))


def to_arrays(dataset, features=("user_id", "movie_title")) -> dict[str, np.ndarray]:
    """The named features of a dataset as NumPy arrays (strings as ``str``)."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset, got {type(dataset).__name__}")
    features = [features] if isinstance(features, str) else list(features)
    unknown = [f for f in features if f not in dataset.element_spec]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; this dataset has {list(dataset.element_spec)}")
    # One batch of everything: 0.3 s, where 20,000-row batches took 1.3 s.
    try:
        columns = dataset.map(lambda x: {f: x[f] for f in features}).batch(1 << 30)
        out = {f: c.numpy() for f, c in columns.get_single_element().items()}
    except tf.errors.InvalidArgumentError:  # "Dataset was empty"
        return {f: np.array([], dtype=object) for f in features}
    return {f: np.array([v.decode("utf-8") for v in values], dtype=str)
            if values.dtype.kind in "OS" else values for f, values in out.items()}


def vocabularies(ratings, movies) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique user ids (943) and movie titles (1,664: 18 titles name two movie
    ids, and the book, like the TFRS guides, identifies a movie by its title)."""
    return (np.unique(to_arrays(ratings, ["user_id"])["user_id"]),
            np.unique(to_arrays(movies, ["movie_title"])["movie_title"]))


def encode(values, vocabulary: np.ndarray) -> np.ndarray:
    """The positions of ids or titles in a sorted vocabulary (``int64``)."""
    vocabulary = np.asarray(vocabulary)
    values = values if isinstance(values, np.ndarray) else np.asarray(list(values))
    if vocabulary.ndim != 1 or len(vocabulary) == 0:
        raise ValueError("vocabulary must be a non-empty 1-D array")
    if np.any(vocabulary[1:] <= vocabulary[:-1]):
        raise ValueError("vocabulary must be sorted and unique (use np.unique)")
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    positions = np.clip(np.searchsorted(vocabulary, values), 0, len(vocabulary) - 1)
    unknown = vocabulary[positions] != values
    if unknown.any():
        examples = list(dict.fromkeys(values[unknown].tolist()))[:5]
        raise ValueError(f"{int(unknown.sum())} value(s) are not in the vocabulary, e.g. "
                         f"{examples}. Build the vocabulary from the same data "
                         "(helpers.data.vocabularies).")
    return positions.astype(np.int64)


@dataclass(frozen=True)
class EncodedSplit:
    """A split as integer positions: position ``i`` of a user or title is its row or
    column in every score matrix of the book."""

    user_ids: np.ndarray
    movie_titles: np.ndarray
    train_users: np.ndarray
    train_items: np.ndarray
    test_users: np.ndarray
    test_items: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.movie_titles)


def encode_split(train, test, user_ids, movie_titles) -> EncodedSplit:
    """Both splits' ``user_id`` and ``movie_title`` as positions in the vocabularies."""
    (tr_u, tr_i), (te_u, te_i) = (
        (encode(c["user_id"], user_ids), encode(c["movie_title"], movie_titles))
        for c in (to_arrays(ds) for ds in (train, test)))
    return EncodedSplit(np.asarray(user_ids), np.asarray(movie_titles), tr_u, tr_i, te_u, te_i)


def _validation_split(split: EncodedSplit, fraction: float, seed: int) -> EncodedSplit:
    """A random ``fraction`` of the training pairs become the new test pairs."""
    order = np.random.default_rng(seed).permutation(len(split.train_items))
    n_held = round(len(order) * fraction)
    held, kept = np.sort(order[:n_held]), np.sort(order[n_held:])
    return EncodedSplit(split.user_ids, split.movie_titles,
                        split.train_users[kept], split.train_items[kept],
                        split.train_users[held], split.train_items[held])


def validation_split(split: EncodedSplit, fraction: float = 0.1, seed: int = 42) -> EncodedSplit:
    """Hold out a random ``fraction`` of the *training* pairs as the new ``test_*``:
    tune on the result; the real test pairs are not in it (touch them once, at the end)."""
    if not isinstance(split, EncodedSplit):
        raise TypeError("split must be an EncodedSplit (helpers.data.encode_split), "
                        f"got {type(split).__name__}")
    fraction = _checks.fraction("fraction", fraction)
    seed = _checks.non_negative_int("seed", seed)
    n = len(split.train_items)
    if round(n * fraction) in (0, n):
        raise ValueError(f"fraction={fraction} of {n} training pairs leaves an empty part; "
                         "use more data or a fraction nearer 0.1")
    return _validation_split(split, fraction, seed)


def split_rows(n: int = 100_000, *, fraction: float = 0.1, seed: int = 42):
    """``(train, test, fit, validation)``: row numbers of the ratings (in :func:`to_arrays`'s
    order) of :func:`classic_split` and of what :func:`validation_split` keeps and holds out."""
    import tensorflow as tf

    n = _checks.positive_int("n", n)
    rows = tf.data.Dataset.range(n).map(lambda i: {"row": i})
    train, test = (to_arrays(part, ["row"])["row"] for part in classic_split(rows))
    if len(train) + len(test) != n:
        raise ValueError(f"the classic split needs 100,000 rows (80,000 + 20,000), got n={n}")
    positions = np.arange(len(train))  # positions as "users": which ones are held out
    held = validation_split(EncodedSplit(np.arange(1), np.arange(1), positions, positions,
                                         positions[:0], positions[:0]), fraction, seed)
    return train, test, train[held.train_users], train[held.test_users]


def as_dataset(users, items, user_ids, movie_titles):
    """Positions back as a dataset of the recipe's ``{"user_id", "movie_title"}`` strings."""
    import tensorflow as tf

    users, items = _checks.pairs(users, items, len(user_ids), len(movie_titles))
    return tf.data.Dataset.from_tensor_slices(
        {"user_id": np.asarray(user_ids)[users], "movie_title": np.asarray(movie_titles)[items]})
