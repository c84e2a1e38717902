"""Serving the retrieval stage: a BruteForce index, recommendations, save and load.

Chapter 4 builds these step by step; this module keeps the pieces a reader
(or another chapter) reuses:

* :func:`unique_titles` and :func:`build_index`: a
  ``tfrs.layers.factorized_top_k.BruteForce`` index over each *distinct* title
  once (MovieLens 100K has 18 titles shared by two movie ids; indexing the
  1,682 rows as they come would recommend such a title twice);
* :func:`rated_titles` and :func:`popular_titles`: what each user already
  rated, and the most-rated titles, from the training interactions;
* :func:`recommend`: top-``k`` titles for one user, leaving out titles the
  user already rated and falling back to popular titles for a user the model
  has never seen;
* :func:`save_index` and :func:`load_index`: keep the index as a SavedModel.
  ``k`` is fixed when the index is saved: a reloaded index always returns the
  ``k`` it was built with.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

__all__ = [
    "Recommendations",
    "unique_titles",
    "build_index",
    "rated_titles",
    "popular_titles",
    "recommend",
    "save_index",
    "load_index",
]

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class Recommendations:
    """The answer of :func:`recommend` for one user.

    Attributes:
        user_id: whom the list is for.
        titles: the recommended titles, best first.
        scores: their scores: dot products for ``source == "index"``, training
            counts for ``source == "popularity"``.
        source: ``"index"`` (the model's index) or ``"popularity"`` (the
            fallback for a user the model does not know).
    """

    user_id: str
    titles: tuple[str, ...]
    scores: tuple[float, ...]
    source: str

    def __len__(self) -> int:
        return len(self.titles)


def _as_string_array(values: Iterable[str] | np.ndarray, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a collection of strings, not a single string")
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size and array.dtype.kind != "U":
        raise TypeError(
            f"{name} must hold str values (decode bytes first, e.g. with "
            f"helpers.data.to_arrays), got dtype {array.dtype}"
        )
    return array


def unique_titles(titles: Iterable[str] | np.ndarray) -> np.ndarray:
    """The distinct titles, sorted: each title becomes one candidate.

    Raises:
        TypeError: ``titles`` is a single string or does not hold ``str``.
        ValueError: ``titles`` is empty or not 1-D.
    """
    array = _as_string_array(titles, "titles")
    if array.size == 0:
        raise ValueError("titles is empty: an index needs at least one candidate")
    return np.unique(array)


def build_index(
    model: Any,
    titles: Iterable[str] | np.ndarray,
    *,
    k: int = 10,
    unique: bool = True,
    batch_size: int = 100,
) -> tfrs.layers.factorized_top_k.BruteForce:
    """A BruteForce index that maps a user id to the ``k`` best titles.

    As in the TFRS recipe, the index holds ``(title, movie_model(title))``
    pairs and uses ``model.user_model`` to embed the query, so it is called
    with raw user ids: ``scores, titles = index(tf.constant(["9"]))``.

    Args:
        model: anything with a ``user_model`` and a ``movie_model`` (e.g. the
            model of :func:`helpers.retrieval.train_recipe_model`).
        titles: the candidates' titles.
        k: how many titles a query returns by default (and, once saved,
            always).
        unique: index each distinct title once (:func:`unique_titles`);
            ``False`` indexes ``titles`` as given, duplicates included.
        batch_size: titles embedded per batch while indexing.

    Raises:
        TypeError: ``model`` lacks the towers, or bad ``titles``.
        ValueError: ``k`` or ``batch_size`` below 1, or ``k`` larger than the
            number of candidates.
    """
    for attr in ("user_model", "movie_model"):
        if not callable(getattr(model, attr, None)):
            raise TypeError(
                f"model must have a callable `{attr}` (a query and a candidate "
                f"tower, as helpers.retrieval.RetrievalModel has); got "
                f"{type(model).__name__}"
            )
    _check_int(batch_size, "batch_size")
    candidates = unique_titles(titles) if unique else _as_string_array(titles, "titles")
    if candidates.size == 0:
        raise ValueError("titles is empty: an index needs at least one candidate")
    _check_k(k, len(candidates))
    ds = tf.data.Dataset.from_tensor_slices(candidates).batch(batch_size)
    index = tfrs.layers.factorized_top_k.BruteForce(model.user_model, k=k)
    index.index_from_dataset(tf.data.Dataset.zip((ds, ds.map(model.movie_model))))
    return index


def rated_titles(
    users: Iterable[str] | np.ndarray, titles: Iterable[str] | np.ndarray
) -> dict[str, frozenset[str]]:
    """For each user, the set of titles they rated (e.g. in ``train``).

    Args:
        users, titles: one entry per interaction, of equal length; e.g.
            ``helpers.data.to_arrays(train)["user_id"]`` and ``["movie_title"]``.

    Raises:
        ValueError: the two have different lengths.
    """
    users = _as_string_array(users, "users")
    titles = _as_string_array(titles, "titles")
    if users.shape != titles.shape:
        raise ValueError(
            f"users and titles must have one entry per interaction, got "
            f"{len(users)} users and {len(titles)} titles"
        )
    seen: dict[str, set[str]] = {}
    for user, title in zip(users.tolist(), titles.tolist()):
        seen.setdefault(user, set()).add(title)
    return {user: frozenset(s) for user, s in seen.items()}


def popular_titles(titles: Iterable[str] | np.ndarray) -> dict[str, int]:
    """Every title with its number of interactions, most popular first.

    Ties are broken alphabetically, so the order is the same on every machine.
    The result is what :func:`recommend` takes as ``fallback``.

    Args:
        titles: one title per interaction (e.g. the training ratings' titles).

    Raises:
        ValueError: ``titles`` is empty.
    """
    titles = _as_string_array(titles, "titles")
    if titles.size == 0:
        raise ValueError("titles is empty: popularity needs at least one interaction")
    counts = Counter(titles.tolist())
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _check_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _check_k(k: Any, n_candidates: int) -> None:
    _check_int(k, "k")
    if k > n_candidates:
        raise ValueError(
            f"k={k} is larger than the number of candidates ({n_candidates}); "
            f"ask for at most {n_candidates}"
        )


def _num_candidates(index: Any) -> int | None:
    """Rows of the index (live or reloaded), or ``None`` if it cannot be told."""
    candidates = getattr(index, "_candidates", None)
    shape = getattr(candidates, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] is None:
        return None
    return int(shape[0])


def recommend(
    index: Any,
    user_id: str,
    k: int = 10,
    *,
    exclude: Collection[str] = (),
    known_users: Collection[str] | None = None,
    fallback: Mapping[str, float] | None = None,
) -> Recommendations:
    """The ``k`` best titles for ``user_id``, leaving out ``exclude``.

    Args:
        index: a BruteForce index with a query model (:func:`build_index`),
            or one reloaded with :func:`load_index` / ``tf.saved_model.load``.
        user_id: the user's id, a string such as ``"9"``.
        k: how many titles to return.
        exclude: titles not to recommend, e.g. ``rated_titles(...)[user_id]``.
            A live index is asked for ``k + len(exclude)`` titles so that
            ``k`` remain; a reloaded index returns the ``k`` it was saved
            with, so build it with a ``k`` that leaves room for exclusions.
        known_users: the ids the model was trained on. When given, a user not
            among them gets ``fallback`` instead of the model's answer (which
            would be the same out-of-vocabulary list for everyone unknown).
        fallback: ``{title: score}``, best first, e.g.
            :func:`popular_titles` of the training titles. Required with
            ``known_users``.

    Returns:
        :class:`Recommendations`, with ``source`` saying where they came from.

    Raises:
        TypeError: ``user_id`` is not a string, ``k`` not an int, or
            ``exclude`` a single string.
        ValueError: ``k < 1``; ``k`` larger than the number of candidates;
            fewer than ``k`` titles left after the exclusions; ``known_users``
            without ``fallback``.
    """
    if not isinstance(user_id, str):
        raise TypeError(
            f"user_id must be a str such as '9' (MovieLens ids are strings), got "
            f"{type(user_id).__name__}: {user_id!r}; pass str({user_id!r})"
        )
    if isinstance(exclude, (str, bytes)):
        raise TypeError(
            "exclude must be a collection of titles, not a single string; "
            f"wrap it: exclude=[{exclude!r}]"
        )
    exclude = frozenset(exclude)
    if known_users is not None and fallback is None:
        raise ValueError(
            "known_users was given without fallback: pass fallback=popular_titles(...) "
            "so unknown users get an honest answer"
        )

    if known_users is not None and user_id not in known_users:
        _check_int(k, "k")
        ranked = [(t, float(s)) for t, s in fallback.items() if t not in exclude]
        _check_k(k, len(fallback))
        if len(ranked) < k:
            raise ValueError(
                f"only {len(ranked)} fallback titles remain after excluding "
                f"{len(exclude)}; ask for k <= {len(ranked)}"
            )
        titles, scores = zip(*ranked[:k])
        return Recommendations(user_id, tuple(titles), tuple(scores), "popularity")

    n_candidates = _num_candidates(index)
    if n_candidates is not None:
        _check_k(k, n_candidates)
    else:
        _check_int(k, "k")
    query = tf.constant([user_id])
    if isinstance(index, tfrs.layers.factorized_top_k.TopK):
        wanted = k + len(exclude)
        if n_candidates is not None:
            wanted = min(wanted, n_candidates)
        scores, ids = index(query, k=wanted)
    else:  # reloaded SavedModel: k was fixed when it was saved
        scores, ids = index(query)
    returned = [t.decode("utf-8") for t in ids.numpy()[0]]
    pairs = zip(returned, scores.numpy()[0])
    ranked = [(t, float(s)) for t, s in pairs if t not in exclude]
    if len(ranked) < k:
        raise ValueError(
            f"only {len(ranked)} of the {len(returned)} titles the index returned are "
            f"left after the exclusions; ask for fewer, or build the index with a "
            f"larger k (a saved index always returns the k it was built with)"
        )
    titles, values = zip(*ranked[:k])
    return Recommendations(user_id, tuple(titles), tuple(values), "index")


def save_index(
    index: tfrs.layers.factorized_top_k.TopK, path: PathLike, *, example_user: str
) -> Path:
    """Save an index as a SavedModel; returns the folder.

    The index is called once with ``example_user`` first, so that Keras traces
    its ``call`` and the SavedModel gets a serving signature. ``k`` is the
    index's default ``k``, fixed from now on.

    Raises:
        TypeError: ``index`` is not a TFRS top-k layer, or ``example_user`` not
            a string.
        ValueError: the index has no candidates yet (call ``index`` first).
    """
    if not isinstance(index, tfrs.layers.factorized_top_k.TopK):
        raise TypeError(
            f"index must be a tfrs.layers.factorized_top_k layer (e.g. from "
            f"build_index), got {type(index).__name__}"
        )
    if not isinstance(example_user, str):
        raise TypeError(
            f"example_user must be a str, got {type(example_user).__name__}"
        )
    if getattr(index, "_candidates", None) is None:
        raise ValueError(
            "the index is empty: call index.index(...) or build_index first"
        )
    index(tf.constant([example_user]))
    path = Path(path)
    tf.saved_model.save(index, str(path))
    return path


def load_index(path: PathLike) -> Any:
    """Load an index saved with :func:`save_index` (or ``tf.saved_model.save``).

    The result is called like the original, ``scores, titles =
    loaded(tf.constant(["9"]))``, but only with the ``k`` it was saved with.

    Raises:
        FileNotFoundError: there is no SavedModel at ``path``.
    """
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"no SavedModel at {path} (no saved_model.pb); save one first with "
            "save_index(index, path, example_user=...)"
        )
    return tf.saved_model.load(str(path))
