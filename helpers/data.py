"""MovieLens 100K: the only module of the book that touches TensorFlow Datasets.

Every chapter loads its data through :func:`load_movielens`, splits it with
:func:`classic_split` and builds its id vocabularies with :func:`vocabularies`,
so that every number in the book is measured on the same examples.

Where the data come from
    On a machine with internet access TFDS downloads ``ml-100k.zip`` from
    GroupLens once (5 MB) and caches the prepared data set in its data
    directory (``~/tensorflow_datasets`` unless ``TFDS_DATA_DIR`` or
    ``data_dir=`` says otherwise). Offline, point ``TFDS_DATA_DIR`` at a copy
    prepared on another machine; see the README.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union
from urllib.parse import urlparse

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from helpers import _checks

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "DataUnavailableError",
    "RATINGS",
    "MOVIES",
    "load_movielens",
    "classic_split",
    "vocabularies",
    "to_arrays",
    "encode",
    "EncodedSplit",
    "encode_split",
    "validation_split",
    "as_dataset",
]

RATINGS = "movielens/100k-ratings"
MOVIES = "movielens/100k-movies"
#: Where TFDS downloads MovieLens 100K from.
SOURCE_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"

PathLike = Union[str, os.PathLike]


class DataUnavailableError(RuntimeError):
    """MovieLens is neither prepared in the data directory nor downloadable."""


def _resolve_data_dir(data_dir: PathLike | None) -> Path:
    """The data directory TFDS will use: argument, then TFDS_DATA_DIR, then TFDS's default."""
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(
            f"data_dir must be a path (str or os.PathLike) or None, "
            f"got {type(data_dir).__name__}: {data_dir!r}"
        )
    if data_dir is None:
        data_dir = os.environ.get("TFDS_DATA_DIR") or None
    if data_dir is None:
        import tensorflow_datasets as tfds

        data_dir = tfds.core.constants.DATA_DIR
    path = Path(data_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise DataUnavailableError(
            f"The TFDS data directory {path} is a file, not a folder. Set "
            "TFDS_DATA_DIR (or pass data_dir=) to a folder."
        )
    return path


def _host_reachable(url: str, timeout: float) -> bool:
    """Whether a TCP connection to the URL's host opens within ``timeout`` seconds in all.

    The bound covers the DNS lookup too: ``socket.create_connection``'s
    timeout does not, and a resolver that never answers would otherwise hang
    here for as long as the system's resolver settings allow. The lookup runs
    in a daemon thread that is abandoned if it is not done in time.

    With an HTTP(S) proxy configured the host itself may be unreachable while
    downloads work, so the probe is skipped and TFDS is left to try.
    """
    if any(os.environ.get(v) for v in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")):
        return True
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    found: list = []

    def resolve() -> None:
        with contextlib.suppress(OSError):
            found.extend(socket.getaddrinfo(parsed.hostname, port, type=socket.SOCK_STREAM))

    lookup = threading.Thread(target=resolve, daemon=True)
    lookup.start()
    lookup.join(timeout)
    if lookup.is_alive():
        return False  # the resolver did not answer in time
    for family, kind, proto, _, address in found:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            with socket.socket(family, kind, proto) as connection:
                connection.settimeout(remaining)
                connection.connect(address)
                return True
        except OSError:
            continue
    return False


def _snapshot(root: Path) -> set[Path]:
    """Every path below ``root`` (empty when it does not exist)."""
    if not root.exists():
        return set()
    return {root, *root.rglob("*")}


def _ours(relative: Path) -> bool:
    """Whether a path below the data folder is MovieLens's: its datasets'
    folder, or a download or extraction of ``ml-100k.zip``."""
    parts = relative.parts
    if parts[:1] == ("movielens",):
        return True
    return parts[:1] == ("downloads",) and any(
        "ml-100k" in p or "movielens" in p.lower() for p in parts[1:]
    )


def _remove_new_paths(root: Path, before: set[Path]) -> None:
    """Delete what MovieLens's failed download added below ``root``.

    Only new paths that are MovieLens's own are removed (then the new folders
    that held them, once empty), so a reader's files, other data
    sets and another process's download into the same folder are never touched.
    """
    new = _snapshot(root) - before
    emptied = set()
    for path in sorted(new, key=lambda p: len(p.parts)):
        if not (path.exists() or path.is_symlink()) or not _ours(path.relative_to(root)):
            continue  # already removed with a new parent, or not ours
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        emptied |= set(path.parents) & new
    for path in sorted(emptied, key=lambda p: -len(p.parts)):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _unavailable_message(data_dir: Path, reason: str) -> str:
    return (
        f"MovieLens 100K is not prepared in the TFDS data directory {data_dir}, "
        f"and it cannot be downloaded here: {reason}.\n"
        "To fix this, either\n"
        "  * run the chapter on a machine with internet access: TFDS downloads "
        f"ml-100k.zip (5 MB) from {SOURCE_URL} once and caches it; or\n"
        "  * prepare it on a machine with internet access, with\n"
        "      python -c \"import helpers.data as d; d.load_movielens('DIR')\"\n"
        "    copy DIR (it holds movielens/100k-ratings and movielens/100k-movies) "
        "here, and set the environment variable TFDS_DATA_DIR=DIR (or pass "
        "data_dir=DIR)."
    )


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
    """Hide TFDS's absl warnings (e.g. 'Variant folder ... has no dataset_info.json')."""
    from absl import logging as absl_logging

    old = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(old)


def _read_split(builder) -> "tf.data.Dataset":
    """``builder.as_dataset(split="train")``, parsed in one vectorised call.

    TFDS parses one record at a time (about 50 microseconds each here, 5 s
    for the ratings); ``tf.io.parse_example`` on all records at once takes
    0.4 s. Same records, same order, same values and dtypes.
    """
    import tensorflow as tf

    info = builder.info.features.get_serialized_info()
    spec = {
        name: tf.io.RaggedFeature(tf.int64) if t.shape == (None,)
        else tf.io.FixedLenFeature([], tf.int64 if t.tf_dtype == tf.bool else t.tf_dtype)
        for name, t in info.items()
    }
    files = [str(path) for path in builder.info.splits["train"].filepaths]
    records = tf.data.TFRecordDataset(files).batch(1 << 30).get_single_element()
    columns = tf.io.parse_example(records, spec)
    columns = {
        name: tf.cast(v, tf.bool) if info[name].tf_dtype == tf.bool else v
        for name, v in columns.items()
    }
    return tf.data.Dataset.from_tensor_slices(columns)


def load_movielens(
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    timeout: float = 10.0,
    verbose: bool = True,
) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
    """Load MovieLens 100K as ``(ratings, movies)``.

    These are the records of ``tfds.load("movielens/100k-ratings",
    split="train")`` and ``tfds.load("movielens/100k-movies", split="train")``,
    in the same order and with the same values, read ten times faster: 100,000 ratings
    (by 943 users) and 1,682 movies (1,664 distinct titles: 18 titles belong
    to two movie ids each).

    Args:
        data_dir: the TFDS data directory. ``None`` means the ``TFDS_DATA_DIR``
            environment variable, or TFDS's default ``~/tensorflow_datasets``.
        download: download and prepare the data when they are not prepared yet.
        timeout: seconds to wait when checking that the download host answers.
        verbose: print the sanity line ``100,000 ratings by 943 users ...``.

    Returns:
        ``(ratings, movies)``, two ``tf.data.Dataset`` of feature dictionaries.

    Raises:
        DataUnavailableError: the data are not prepared in ``data_dir`` and
            cannot be downloaded (no network, or ``download=False``). Raised
            within about ``timeout`` seconds; anything a failed download wrote
            into ``data_dir`` is removed again, and nothing else is touched.
        TypeError: ``data_dir`` is not a path, or ``timeout`` not a number.
        ValueError: ``timeout`` is not positive.
    """
    timeout = _checks.number("timeout", timeout, low=0.0, low_open=True)
    root = _resolve_data_dir(data_dir)

    import tensorflow_datasets as tfds

    with _quiet_absl():
        builders = [tfds.builder(name, data_dir=str(root)) for name in (RATINGS, MOVIES)]
        missing = [b for b in builders if not b.is_prepared()]
        if missing:
            if not download:
                raise DataUnavailableError(
                    _unavailable_message(root, "download=False was passed")
                )
            if not _host_reachable(SOURCE_URL, timeout):
                host = urlparse(SOURCE_URL).hostname
                raise DataUnavailableError(
                    _unavailable_message(root, f"{host} cannot be reached (no network?)")
                )
            before = _snapshot(root)
            try:
                for builder in missing:
                    builder.download_and_prepare()
            except BaseException as exc:  # includes KeyboardInterrupt: clean up, re-raise
                _remove_new_paths(root, before)
                if isinstance(exc, Exception):
                    raise DataUnavailableError(
                        _unavailable_message(root, f"the download failed ({exc})")
                    ) from exc
                raise
        ratings, movies = (_read_split(b) for b in builders)

    if verbose:
        users = to_arrays(ratings, ["user_id"])["user_id"]
        titles = to_arrays(movies, ["movie_title"])["movie_title"]
        print(
            f"MovieLens 100K: {len(users):,} ratings by {len(np.unique(users)):,} users; "
            f"{len(titles):,} movies ({len(np.unique(titles)):,} distinct titles)"
        )
    return ratings, movies


def classic_split(
    ratings: "tf.data.Dataset",
) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
    """The TFRS tutorials' 80/20 split of the 100,000 ratings: ``(train, test)``.

    Exactly as the TFRS basic-retrieval guide does it::

        tf.random.set_seed(42)
        shuffled = ratings.shuffle(100_000, seed=42, reshuffle_each_iteration=False)
        train = shuffled.take(80_000)
        test = shuffled.skip(80_000).take(20_000)

    Every chapter measures on this split, so their numbers compare.

    Like the guide, it sets TensorFlow's global seed to 42 (the one helper
    of this module that touches global random state), so that a chapter
    that calls it gets the guide's split however many cells ran before.

    Raises:
        TypeError: ``ratings`` is not a ``tf.data.Dataset``.
    """
    import tensorflow as tf

    if not isinstance(ratings, tf.data.Dataset):
        raise TypeError(
            f"ratings must be a tf.data.Dataset (from load_movielens), "
            f"got {type(ratings).__name__}"
        )
    tf.random.set_seed(42)
    # The guide's shuffle, done once on the positions (its order does not
    # depend on the elements), then one gather per column: the same records in
    # the same order, without shuffling 100,000 dictionaries on every pass.
    columns = ratings.batch(1 << 30).get_single_element()
    first = tf.nest.flatten(columns)[0]
    n = int(first.nrows() if isinstance(first, tf.RaggedTensor) else tf.shape(first)[0])
    order = tf.data.Dataset.range(n).shuffle(100_000, seed=42, reshuffle_each_iteration=False)
    order = order.batch(n).get_single_element()
    train, test = order[:80_000], order[80_000:100_000]
    return tuple(
        tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda c: tf.gather(c, part), columns))
        for part in (train, test)
    )


def to_arrays(
    dataset: "tf.data.Dataset", features: Sequence[str] = ("user_id", "movie_title")
) -> dict[str, np.ndarray]:
    """Read the named string features of a dataset into NumPy arrays of ``str``.

    For the chapters that work in NumPy (matrix factorization, evaluation).

    Raises:
        TypeError: ``dataset`` is not a ``tf.data.Dataset``.
        KeyError: a feature is not in the dataset (the message lists those that are).
    """
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset, got {type(dataset).__name__}")
    if isinstance(features, str):
        features = [features]
    available = list(dataset.element_spec)
    unknown = [f for f in features if f not in available]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; this dataset has {available}")
    # Select after batching: a map over single elements costs 50 us each.
    selected = dataset.batch(20_000).map(lambda x: {f: x[f] for f in features})
    columns: dict[str, list[np.ndarray]] = {f: [] for f in features}
    for batch in selected.as_numpy_iterator():
        for f in features:
            columns[f].append(batch[f])
    out = {}
    for f, parts in columns.items():
        values = np.concatenate(parts) if parts else np.array([], dtype=object)
        if values.dtype.kind in ("O", "S"):
            values = np.array([v.decode("utf-8") for v in values], dtype=str)
        out[f] = values
    return out


def vocabularies(
    ratings: "tf.data.Dataset", movies: "tf.data.Dataset"
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique user ids (from ``ratings``) and movie titles (from ``movies``).

    On MovieLens 100K: 943 user ids and 1,664 titles. There are 1,682 movies
    but 18 titles are shared by two movie ids (re-releases listed twice), and
    the book, like the TFRS guides, identifies a movie by its title.

    Returns:
        ``(user_ids, movie_titles)``, NumPy arrays of ``str``, sorted.
    """
    user_ids = np.unique(to_arrays(ratings, ["user_id"])["user_id"])
    movie_titles = np.unique(to_arrays(movies, ["movie_title"])["movie_title"])
    return user_ids, movie_titles


def encode(values: Iterable[str] | np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Map ids or titles to their positions in a sorted vocabulary.

    Args:
        values: strings, each of which must be in ``vocabulary``.
        vocabulary: a sorted array of unique strings (from :func:`vocabularies`).

    Returns:
        An ``int64`` array of positions, the same length as ``values``.

    Raises:
        ValueError: a value is not in the vocabulary (the message shows some),
            or the vocabulary is not sorted and unique.
    """
    vocabulary = np.asarray(vocabulary)
    values = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if vocabulary.ndim != 1 or len(vocabulary) == 0:
        raise ValueError("vocabulary must be a non-empty 1-D array")
    if len(vocabulary) > 1 and not np.all(vocabulary[1:] > vocabulary[:-1]):
        raise ValueError("vocabulary must be sorted and unique (use np.unique)")
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    positions = np.searchsorted(vocabulary, values)
    positions = np.clip(positions, 0, len(vocabulary) - 1)
    unknown = vocabulary[positions] != values
    if unknown.any():
        examples = list(dict.fromkeys(values[unknown].tolist()))[:5]
        raise ValueError(
            f"{int(unknown.sum())} value(s) are not in the vocabulary, e.g. {examples}. "
            "Build the vocabulary from the same data (helpers.data.vocabularies)."
        )
    return positions.astype(np.int64)


@dataclass(frozen=True)
class EncodedSplit:
    """The classic split as integer positions, for models written in NumPy.

    Attributes:
        user_ids, movie_titles: the vocabularies; position ``i`` of a user or
            title is its row or column in every score matrix of the book.
        train_users, train_items: positions of the 80,000 training pairs.
        test_users, test_items: positions of the 20,000 test pairs.
    """

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


def encode_split(
    train: "tf.data.Dataset",
    test: "tf.data.Dataset",
    user_ids: np.ndarray,
    movie_titles: np.ndarray,
) -> EncodedSplit:
    """Encode the ``user_id`` and ``movie_title`` of both splits as positions.

    Raises:
        ValueError: a user or title is not in its vocabulary.
    """
    columns = [to_arrays(ds, ["user_id", "movie_title"]) for ds in (train, test)]
    return EncodedSplit(
        user_ids=np.asarray(user_ids),
        movie_titles=np.asarray(movie_titles),
        train_users=encode(columns[0]["user_id"], user_ids),
        train_items=encode(columns[0]["movie_title"], movie_titles),
        test_users=encode(columns[1]["user_id"], user_ids),
        test_items=encode(columns[1]["movie_title"], movie_titles),
    )


def _check_split(name: str, split: object) -> None:
    if not isinstance(split, EncodedSplit):
        raise TypeError(
            f"{name} must be an EncodedSplit (helpers.data.encode_split), "
            f"got {type(split).__name__}"
        )


def validation_split(
    split: EncodedSplit, fraction: float = 0.1, seed: int = 42
) -> EncodedSplit:
    """Hold out a random ``fraction`` of the *training* pairs for validation.

    The returned split's ``train_*`` are the remaining training pairs and its
    ``test_*`` are the held-out ones: pass it wherever a split is expected,
    tune on it, and touch the real test pairs only once, at the end. The
    original test pairs are not used at all.

    Args:
        split: the classic split (:func:`encode_split`).
        fraction: share of the training pairs to hold out, in ``(0, 1)``.
        seed: seed of the random permutation.

    Raises:
        TypeError: ``split`` is not an :class:`~helpers.data.EncodedSplit`.
        ValueError: ``fraction`` outside ``(0, 1)`` or leaving either part empty.
    """
    _check_split("split", split)
    fraction = _checks.fraction("fraction", fraction)
    seed = _checks.non_negative_int("seed", seed)
    n = len(split.train_items)
    n_validation = int(round(n * fraction))
    if n_validation == 0 or n_validation == n:
        raise ValueError(
            f"fraction={fraction} of {n} training pairs leaves an empty part; "
            "use more data or a fraction nearer 0.1"
        )
    order = np.random.default_rng(seed).permutation(n)
    held_out, kept = np.sort(order[:n_validation]), np.sort(order[n_validation:])
    return EncodedSplit(
        user_ids=split.user_ids,
        movie_titles=split.movie_titles,
        train_users=split.train_users[kept],
        train_items=split.train_items[kept],
        test_users=split.train_users[held_out],
        test_items=split.train_items[held_out],
    )


def as_dataset(
    users: np.ndarray, items: np.ndarray, user_ids: np.ndarray, movie_titles: np.ndarray
) -> "tf.data.Dataset":
    """Integer positions as a dataset of ``{"user_id", "movie_title"}`` strings.

    The towers read strings; this turns the pairs of an
    :class:`EncodedSplit` back into the recipe's ``{"user_id", "movie_title"}``
    features (:func:`helpers.retrieval.fit_retrieval` trains on them).

    Raises:
        ValueError: ``users`` and ``items`` of different lengths, or positions
            outside the vocabularies.
        TypeError: positions that are not integers.
    """
    import tensorflow as tf

    users, items = _checks.pairs(users, items, len(user_ids), len(movie_titles))
    return tf.data.Dataset.from_tensor_slices(
        {
            "user_id": np.asarray(user_ids)[users],
            "movie_title": np.asarray(movie_titles)[items],
        }
    )
