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

Chapter 9 serves the same towers at scale with an approximate index:

* :class:`ScaNNIndex`: TFRS's ``ScaNN`` layer, plus the two search-time knobs
  of ScaNN (``leaves_to_search``, ``reordering_candidates``) as call arguments,
  so one index built over a million candidates can be swept without rebuilding;
* :func:`index_vectors`: an index of either kind (``"brute_force"`` or
  ``"scann"``) over an embedding matrix; :func:`build_index` takes the same
  ``kind`` for titles and towers;
* :func:`neighbour_recall` and :func:`recall_against`: recall@k of one index
  against another (normally an exact ``BruteForce``) on the same queries;
* :func:`median_seconds` and :func:`median_latencies`: latency as the median
  over repeats, several functions timed side by side (interleaved) so that
  their ratio is fair on a busy machine;
* :func:`index_bytes`: the memory an index's tensors take.

A SavedModel holding a ScaNN index uses ScaNN's custom TensorFlow ops, which
exist only in a process that has run ``import scann``; :func:`load_index`
imports it first and turns TensorFlow's "Op type not registered" into a clear
error.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks
from helpers.data import PathLike

__all__ = [
    "Recommendations",
    "unique_titles",
    "build_index",
    "rated_titles",
    "popular_titles",
    "recommend",
    "save_index",
    "load_index",
    "INDEX_KINDS",
    "ScaNNIndex",
    "index_vectors",
    "neighbour_recall",
    "recall_against",
    "median_seconds",
    "median_latencies",
    "index_bytes",
    "grow_catalogue",
]

INDEX_KINDS = ("brute_force", "scann")



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
    kind: str = "brute_force",
    **scann_settings: Any,
) -> tfrs.layers.factorized_top_k.TopK:
    """An index that maps a user id to the ``k`` best titles.

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
        kind: ``"brute_force"`` (exact, chapter 4) or ``"scann"`` (approximate,
            chapter 9: a :class:`ScaNNIndex`).
        **scann_settings: for ``kind="scann"`` only: ``num_leaves``,
            ``num_leaves_to_search``, ``num_reordering_candidates``,
            ``dimensions_per_block``, ``training_iterations`` (see
            :class:`ScaNNIndex`).

    Raises:
        TypeError: ``model`` lacks the towers, or bad ``titles``.
        ValueError: ``k`` or ``batch_size`` below 1, ``k`` larger than the
            number of candidates, an unknown ``kind``, or ScaNN settings that
            do not fit (see :class:`ScaNNIndex`).
    """
    for attr in ("user_model", "movie_model"):
        if not callable(getattr(model, attr, None)):
            raise TypeError(
                f"model must have a callable `{attr}` (a query and a candidate "
                f"tower, as helpers.retrieval.RetrievalModel has); got "
                f"{type(model).__name__}"
            )
    _checks.positive_int("batch_size", batch_size)
    _checks.one_of("kind", kind, INDEX_KINDS)
    if kind == "brute_force" and scann_settings:
        raise TypeError(
            f"{sorted(scann_settings)} only apply to kind='scann'"
        )
    candidates = unique_titles(titles) if unique else _as_string_array(titles, "titles")
    if candidates.size == 0:
        raise ValueError("titles is empty: an index needs at least one candidate")
    _check_k(k, len(candidates))
    ds = tf.data.Dataset.from_tensor_slices(candidates).batch(batch_size)
    vectors = np.concatenate([model.movie_model(batch).numpy() for batch in ds])
    return index_vectors(
        vectors, candidates, k=k, kind=kind, query_model=model.user_model,
        **scann_settings,
    )


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


def _check_k(k: Any, n_candidates: int) -> None:
    _checks.positive_int("k", k)
    if k > n_candidates:
        raise ValueError(
            f"k={k} is larger than the number of candidates ({n_candidates}); "
            f"ask for at most {n_candidates}"
        )


def _num_candidates(index: Any) -> int | None:
    """Rows of the index (live or reloaded), or ``None`` if it cannot be told."""
    if isinstance(index, ScaNNIndex):
        return index.num_candidates
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
        _checks.positive_int("k", k)
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
        _checks.positive_int("k", k)
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
    if (getattr(index, "_candidates", None) is None
            and getattr(index, "_serialized_searcher", None) is None):
        raise ValueError(
            "the index is empty: call index.index(...) or build_index first"
        )
    index(tf.constant([example_user]))
    path = Path(path)
    tf.saved_model.save(index, str(path))
    return path


_SCANN_OP_MISSING = "Op type not registered 'Scann>"


def load_index(path: PathLike) -> Any:
    """Load an index saved with :func:`save_index` (or ``tf.saved_model.save``).

    The result is called like the original, ``scores, titles =
    loaded(tf.constant(["9"]))``, but only with the ``k`` it was saved with.

    A ScaNN index is made of ScaNN's own TensorFlow ops, which TensorFlow only
    knows in a process that has run ``import scann``; so this function imports
    ``scann`` (when it is installed) before loading. Loading such an index
    where ScaNN is missing fails with a clear message instead of TensorFlow's
    "Op type not registered 'Scann>TensorsToScann'".

    Raises:
        FileNotFoundError: there is no SavedModel at ``path``.
        RuntimeError: the SavedModel holds a ScaNN index and ``scann`` cannot
            be imported.
    """
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"no SavedModel at {path} (no saved_model.pb); save one first with "
            "save_index(index, path, example_user=...)"
        )
    try:
        import scann  # noqa: F401  (registers the Scann>... ops with TensorFlow)
    except ImportError as error:
        scann_error: ImportError | None = error
    else:
        scann_error = None
    try:
        return tf.saved_model.load(str(path))
    except Exception as error:  # TensorFlow raises several types for this
        if _SCANN_OP_MISSING not in str(error):
            raise
        raise RuntimeError(
            f"the SavedModel at {path} holds a ScaNN index, and ScaNN's TensorFlow "
            f"ops are not registered in this process because `import scann` "
            f"failed ({scann_error}). Install the pinned version (pip install "
            f"scann==1.4.2) and `import scann` before tf.saved_model.load."
        ) from error


# ---------------------------------------------------------------------------
# Chapter 9: approximate indexes, recall against exact search, latency
# ---------------------------------------------------------------------------


class ScaNNIndex(tfrs.layers.factorized_top_k.ScaNN):
    """TFRS's ``ScaNN`` layer, with ScaNN's search-time knobs per call.

    Built exactly like ``tfrs.layers.factorized_top_k.ScaNN`` (same arguments,
    same searcher); the additions are checks of the settings, one searcher
    kept between eager calls (TFRS re-creates it on every call, see
    :meth:`_searcher`), and two optional call arguments that TFRS fixes at
    build time but ScaNN itself accepts for every query:

    * ``leaves_to_search``: how many of the ``num_leaves`` partitions a query
      scores (default: ``num_leaves_to_search``);
    * ``reordering_candidates``: how many of the best approximate candidates
      are re-scored exactly (default: ``num_reordering_candidates``). Only an
      index built with ``num_reordering_candidates`` keeps the exact vectors
      that re-scoring needs.

    So one index, trained once, answers at every setting of the two knobs.
    Saved with :func:`save_index`, it keeps the default settings.
    """

    def __init__(
        self,
        query_model: tf.keras.Model | None = None,
        k: int = 10,
        *,
        num_leaves: int = 100,
        num_leaves_to_search: int = 10,
        num_reordering_candidates: int | None = None,
        dimensions_per_block: int = 2,
        training_iterations: int = 12,
        name: str | None = None,
    ) -> None:
        k = _checks.positive_int("k", k)
        num_leaves = _checks.positive_int("num_leaves", num_leaves)
        num_leaves_to_search = _checks.positive_int(
            "num_leaves_to_search", num_leaves_to_search
        )
        if num_leaves_to_search > num_leaves:
            raise ValueError(
                f"num_leaves_to_search={num_leaves_to_search} is larger than "
                f"num_leaves={num_leaves}: a query cannot search more partitions "
                f"than the index has"
            )
        if num_reordering_candidates is not None:
            num_reordering_candidates = _checks.positive_int(
                "num_reordering_candidates", num_reordering_candidates
            )
        _checks.positive_int("dimensions_per_block", dimensions_per_block)
        _checks.positive_int("training_iterations", training_iterations)
        super().__init__(
            query_model=query_model,
            k=k,
            num_leaves=num_leaves,
            num_leaves_to_search=num_leaves_to_search,
            num_reordering_candidates=num_reordering_candidates,
            dimensions_per_block=dimensions_per_block,
            training_iterations=training_iterations,
            name=name,
        )
        self.num_leaves = num_leaves
        self.num_leaves_to_search = num_leaves_to_search
        self.num_reordering_candidates = num_reordering_candidates
        self.dimensions_per_block = dimensions_per_block
        self.num_candidates: int | None = None
        self._eager_searcher: Any = None

    def index(self, candidates: Any, identifiers: Any = None) -> ScaNNIndex:
        candidates = tf.convert_to_tensor(candidates, dtype=tf.float32)
        n = int(candidates.shape[0]) if len(candidates.shape) == 2 else 0
        if n < self.num_leaves:
            raise ValueError(
                f"num_leaves={self.num_leaves} is larger than the number of "
                f"candidates ({n}): every leaf needs at least one candidate"
            )
        if n < 16:
            raise ValueError(
                f"ScaNN needs at least 16 candidates (its quantizer learns 16 "
                f"codewords per block of dimensions), got {n}; use a BruteForce "
                f"index for a catalogue this small"
            )
        _check_k(self._k, n)
        if (self.num_reordering_candidates is not None
                and self.num_reordering_candidates > n):
            raise ValueError(
                f"num_reordering_candidates={self.num_reordering_candidates} is "
                f"larger than the number of candidates ({n})"
            )
        self._eager_searcher = None
        super().index(candidates, identifiers)
        self.num_candidates = n
        return self

    def call(
        self,
        queries: Any,
        k: int | None = None,
        leaves_to_search: int | None = None,
        reordering_candidates: int | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        k = self._k if k is None else k
        if leaves_to_search is not None or reordering_candidates is not None:
            self._check_search(k, leaves_to_search, reordering_candidates)
        if self._serialized_searcher is None:
            raise ValueError("call index(...) before querying the index")
        searcher = self._searcher()
        if self.query_model is not None:
            queries = self.query_model(queries)
        settings = dict(
            final_num_neighbors=k,
            pre_reorder_num_neighbors=reordering_candidates,
            leaves_to_search=leaves_to_search,
        )
        if len(queries.shape) == 1:
            result = searcher.search(queries, **settings)
            distances, indices = result.distance, result.index
        else:
            result = searcher.search_batched_parallel(queries, **settings)
            distances, indices = result.distances, result.indices
        if self._identifiers is None:
            return distances, indices
        return distances, tf.gather(self._identifiers, indices)

    def _searcher(self) -> Any:
        """ScaNN's searcher for this index.

        TFRS re-creates the searcher from its saved tensors on every call (a
        ``tf.function`` call, about half a millisecond); that is needed while
        TensorFlow traces a graph (for a SavedModel), but a live index called
        eagerly can keep one searcher, which makes single queries faster.
        """
        if not tf.executing_eagerly():
            return _scann_ops().searcher_from_module(self._serialized_searcher)
        if self._eager_searcher is None:
            self._eager_searcher = _scann_ops().searcher_from_module(
                self._serialized_searcher
            )
        return self._eager_searcher

    def _check_search(
        self, k: Any, leaves_to_search: Any, reordering_candidates: Any
    ) -> None:
        k = _checks.positive_int("k", k)
        if self.num_candidates is not None:
            _check_k(k, self.num_candidates)
        if leaves_to_search is not None:
            leaves_to_search = _checks.positive_int("leaves_to_search", leaves_to_search)
            if leaves_to_search > self.num_leaves:
                raise ValueError(
                    f"leaves_to_search={leaves_to_search} is larger than "
                    f"num_leaves={self.num_leaves}"
                )
        if reordering_candidates is not None:
            reordering_candidates = _checks.positive_int(
                "reordering_candidates", reordering_candidates
            )
            if self.num_reordering_candidates is None:
                raise ValueError(
                    "reordering_candidates needs an index built with "
                    "num_reordering_candidates (it keeps the exact vectors)"
                )
            if reordering_candidates < k:
                raise ValueError(
                    f"reordering_candidates={reordering_candidates} is smaller "
                    f"than k={k}: re-scoring must see at least the k returned"
                )


def _scann_ops() -> Any:
    from scann.scann_ops.py import scann_ops

    return scann_ops


def index_vectors(
    candidates: np.ndarray | tf.Tensor,
    identifiers: np.ndarray | tf.Tensor | None = None,
    *,
    k: int = 10,
    kind: str = "brute_force",
    query_model: tf.keras.Model | None = None,
    **scann_settings: Any,
) -> tfrs.layers.factorized_top_k.TopK:
    """An index of either kind over an embedding matrix, one row per candidate.

    Args:
        candidates: ``(n, d)`` candidate vectors.
        identifiers: what a query returns for each row (e.g. titles);
            ``None`` returns row positions.
        k: results per query by default.
        kind: ``"brute_force"`` (``tfrs.layers.factorized_top_k.BruteForce``,
            exact) or ``"scann"`` (:class:`ScaNNIndex`, approximate).
        query_model: the query tower, if the index is to be called with raw
            ids; ``None`` means it is called with query vectors.
        **scann_settings: passed to :class:`ScaNNIndex` (``kind="scann"``).

    Raises:
        ValueError: an unknown ``kind``, ``candidates`` not 2-D, a number of
            identifiers that differs from the number of rows, ``k`` larger
            than the number of candidates, or ScaNN settings that do not fit.
    """
    _checks.one_of("kind", kind, INDEX_KINDS)
    candidates = tf.convert_to_tensor(candidates, dtype=tf.float32)
    if len(candidates.shape) != 2:
        raise ValueError(f"candidates must be 2-D (n, d), got shape {candidates.shape}")
    n = int(candidates.shape[0])
    if identifiers is not None:
        identifiers = tf.convert_to_tensor(identifiers)
        if int(identifiers.shape[0]) != n:
            raise ValueError(
                f"{int(identifiers.shape[0])} identifiers for {n} candidates: "
                f"give one per row"
            )
    _check_k(k, n)
    if kind == "brute_force":
        if scann_settings:
            raise TypeError(f"{sorted(scann_settings)} only apply to kind='scann'")
        index = tfrs.layers.factorized_top_k.BruteForce(query_model, k=k)
    else:
        index = ScaNNIndex(query_model, k=k, **scann_settings)
    index.index(candidates, identifiers)
    return index


def neighbour_recall(found: Any, exact: Any) -> float:
    """Recall@k of ``found`` against ``exact``: the share of the exact top-k found.

    Both are ``(n_queries, k)`` arrays of candidate ids (positions or titles),
    one row per query, e.g. the second output of two indexes called on the
    same queries. For each query, count how many of its ``k`` exact
    neighbours are among the ``k`` found (order does not matter), divide by
    ``k``, and average over queries.

    Raises:
        ValueError: the two arrays are not 2-D of the same shape, or empty.
    """
    found, exact = np.asarray(found), np.asarray(exact)
    if found.ndim != 2 or found.shape != exact.shape or found.size == 0:
        raise ValueError(
            f"found and exact must be non-empty (n_queries, k) arrays of the same "
            f"shape, got {found.shape} and {exact.shape}"
        )
    hits = [len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact)]
    return float(np.mean(hits) / exact.shape[1])


def recall_against(
    index: Any,
    reference: Any,
    queries: Any,
    *,
    k: int = 10,
    batch_size: int = 100,
) -> float:
    """Recall@k of ``index`` against ``reference`` (e.g. a BruteForce index).

    Both are called on the same ``queries`` in batches of ``batch_size`` (a
    BruteForce query over a million candidates builds a ``batch_size`` x
    1,000,000 score matrix, so batches bound the memory).
    """
    k = _checks.positive_int("k", k)
    batch_size = _checks.positive_int("batch_size", batch_size)
    found, exact = [], []
    for start in range(0, len(queries), batch_size):
        batch = queries[start:start + batch_size]
        found.append(index(batch, k=k)[1].numpy())
        exact.append(reference(batch, k=k)[1].numpy())
    return neighbour_recall(np.concatenate(found), np.concatenate(exact))


def median_latencies(
    functions: Mapping[str, Callable[[], Any]], *, repeats: int = 20, warmup: int = 1
) -> dict[str, float]:
    """Median wall-clock seconds of each function, timed side by side.

    The functions are called in turn (a, b, c, a, b, c, ...) ``repeats``
    times each, after ``warmup`` untimed calls each (tracing, caches). On a
    machine that other work slows down now and then, interleaving exposes
    every function to the same slowdowns, so the *ratio* of two medians is
    fair even when the absolute times are not.
    """
    repeats = _checks.positive_int("repeats", repeats)
    warmup = _checks.non_negative_int("warmup", warmup)
    if not functions:
        raise ValueError("functions is empty: give at least one to time")
    for name, fn in functions.items():
        if not callable(fn):
            raise TypeError(f"functions[{name!r}] is not callable")
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def median_seconds(fn: Callable[[], Any], *, repeats: int = 20, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls (after warm-up)."""
    return median_latencies({"fn": fn}, repeats=repeats, warmup=warmup)["fn"]


def index_bytes(index: Any) -> int:
    """Bytes held by an index's own tensors (candidates, ScaNN's structures).

    The query tower, if any, is not counted; identifiers count as their
    encoded length (strings) or their array size.
    """
    tensors = []
    if getattr(index, "_candidates", None) is not None:
        tensors.append(index._candidates)
    searcher = getattr(index, "_serialized_searcher", None)
    if searcher is not None:
        tensors.extend(searcher.variables)
    if getattr(index, "_identifiers", None) is not None:
        tensors.append(index._identifiers)
    total = 0
    for tensor in tensors:
        array = tensor.numpy()
        if array.dtype == object:
            total += sum(len(x) for x in array.ravel())
        else:
            total += array.nbytes
    return total


def grow_catalogue(vectors: np.ndarray, n: int, *, seed: int = 42) -> np.ndarray:
    """A synthetic catalogue of ``n`` candidate vectors grown from real ones.

    The first ``len(vectors)`` rows are ``vectors`` themselves; every further
    row is a copy of a real vector (cycling through them) with each coordinate
    multiplied by a uniform random number in [0, 1), as the TFRS
    efficient-serving guide makes its million-candidate catalogue. The copies
    keep the real vectors' directions roughly, so queries meet the same kind of
    geometry, only denser.

    Raises:
        ValueError: ``vectors`` is not a non-empty 2-D array, or ``n`` is
            smaller than ``len(vectors)``.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"vectors must be a non-empty (m, d) array, got {vectors.shape}")
    n = _checks.positive_int("n", n)
    if n < len(vectors):
        raise ValueError(
            f"n={n} is smaller than the {len(vectors)} real vectors it starts from"
        )
    rng = np.random.default_rng(seed)
    catalogue = np.empty((n, vectors.shape[1]), dtype=np.float32)
    catalogue[: len(vectors)] = vectors
    for start in range(len(vectors), n, 100_000):  # in chunks: bounded memory
        stop = min(start + 100_000, n)
        rows = np.arange(start, stop) % len(vectors)
        noise = rng.random((stop - start, vectors.shape[1]), dtype=np.float32)
        catalogue[start:stop] = vectors[rows] * noise
    return catalogue
