"""Serving retrieval: exact (BruteForce) and approximate (ScaNN) indexes, recommendations,
saving and loading, recall of one index against another, index memory.

A reloaded index always returns the ``k`` it was saved with; a saved ScaNN index needs
ScaNN's TensorFlow ops, loaded by ``import scann`` (which :func:`load_index` runs first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks

INDEX_KINDS = ("brute_force", "scann")


@dataclass(frozen=True)
class Recommendations:
    """What :func:`recommend` returns for one user: titles best first, their scores
    (dot products, or training counts), and ``source``: ``"index"`` or ``"popularity"``."""

    user_id: str
    titles: tuple[str, ...]
    scores: tuple[float, ...]
    source: str

    def __len__(self) -> int:
        return len(self.titles)


def _strings(name: str, values: Any) -> np.ndarray:
    """``values`` as a non-empty 1-D array of ``str``, or a clear error."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a collection of strings, not a single string")
    array = np.asarray(values if isinstance(values, np.ndarray) else list(values))
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D collection, got shape {array.shape}")
    if array.dtype.kind != "U":
        raise TypeError(f"{name} must hold str values (decode bytes first, e.g. with "
                        f"helpers.data.to_arrays), got dtype {array.dtype}")
    return array


def _check_k(k: Any, n_candidates: int | None) -> int:
    k = _checks.positive_int("k", k)
    if n_candidates is not None and k > n_candidates:
        raise ValueError(f"k={k} is larger than the number of candidates ({n_candidates}); "
                         f"ask for at most {n_candidates}")
    return k


def unique_titles(titles: Iterable[str]) -> np.ndarray:
    """The distinct titles, sorted: one candidate each (none is recommended twice)."""
    return np.unique(_strings("titles", titles))


def build_index(model: Any, titles: Iterable[str], *, k: int = 10, unique: bool = True,
                batch_size: int = 100, kind: str = "brute_force",
                **scann_settings: Any) -> tfrs.layers.factorized_top_k.TopK:
    """An index from user ids to the ``k`` best titles: ``scores, titles = index(tf.constant(["9"]))``.

    It holds ``model.movie_model(title)`` per distinct title (per listed one with ``unique=False``),
    embeds queries with ``model.user_model``; ``kind``, ``scann_settings``: :func:`index_vectors`.
    """
    for tower in ("user_model", "movie_model"):
        if not callable(getattr(model, tower, None)):
            raise TypeError(f"model must have a callable `{tower}` (a query and a candidate "
                            f"tower, as helpers.retrieval.RetrievalModel has); got "
                            f"{type(model).__name__}")
    candidates = unique_titles(titles) if unique else _strings("titles", titles)
    batches = tf.data.Dataset.from_tensor_slices(candidates).batch(batch_size)
    vectors = np.concatenate([model.movie_model(batch).numpy() for batch in batches])
    return index_vectors(vectors, candidates, k=k, kind=kind, query_model=model.user_model,
                         **scann_settings)


def rated_titles(users: Iterable[str], titles: Iterable[str]) -> dict[str, frozenset[str]]:
    """For each user, the set of titles they rated; one entry per interaction in each."""
    users, titles = _strings("users", users), _strings("titles", titles)
    if users.shape != titles.shape:
        raise ValueError(f"users and titles must have one entry per interaction, got "
                         f"{len(users)} users and {len(titles)} titles")
    seen: dict[str, set[str]] = {}
    for user, title in zip(users.tolist(), titles.tolist()):
        seen.setdefault(user, set()).add(title)
    return {user: frozenset(s) for user, s in seen.items()}


def popular_titles(titles: Iterable[str]) -> dict[str, int]:
    """``{title: number of interactions}``, most popular first, ties alphabetical."""
    counts = Counter(_strings("titles", titles).tolist())
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _num_candidates(index: Any) -> int | None:
    """Rows of an index (live or reloaded), or ``None`` if it cannot be told."""
    if isinstance(index, ScaNNIndex):
        return index.num_candidates
    shape = getattr(getattr(index, "_candidates", None), "shape", None)
    return None if shape is None or len(shape) != 2 or shape[0] is None else int(shape[0])


def recommend(index: Any, user_id: str, k: int = 10, *, exclude: Collection[str] = (),
              known_users: Collection[str] | None = None,
              fallback: Mapping[str, float] | None = None) -> Recommendations:
    """The ``k`` best titles for ``user_id`` not in ``exclude``, as :class:`Recommendations`;
    a user not in ``known_users`` gets the best of ``fallback`` (``{title: score}``, e.g.
    :func:`popular_titles`). A live index is asked for ``k + len(exclude)`` titles."""
    if not isinstance(user_id, str):
        raise TypeError(f"user_id must be a str such as '9' (MovieLens ids are strings), got "
                        f"{type(user_id).__name__}: {user_id!r}; pass str({user_id!r})")
    if isinstance(exclude, (str, bytes)):
        raise TypeError(f"exclude must be a collection of titles, not a single string; "
                        f"wrap it: exclude=[{exclude!r}]")
    if known_users is not None and fallback is None:
        raise ValueError("known_users was given without fallback: pass "
                         "fallback=popular_titles(...) so unknown users get an honest answer")
    exclude = frozenset(exclude)
    if known_users is not None and user_id not in known_users:
        k = _check_k(k, len(fallback))
        pairs, source = list(fallback.items()), "popularity"
    else:
        n = _num_candidates(index)
        k = _check_k(k, n)
        query = tf.constant([user_id])
        if isinstance(index, tfrs.layers.factorized_top_k.TopK):
            scores, ids = index(query, k=min(k + len(exclude), n or k + len(exclude)))
        else:  # a reloaded SavedModel: k was fixed when it was saved
            scores, ids = index(query)
        pairs = list(zip([t.decode("utf-8") for t in ids.numpy()[0]], scores.numpy()[0]))
        source = "index"
    ranked = [(t, float(s)) for t, s in pairs if t not in exclude]
    if len(ranked) < k:
        raise ValueError(f"only {len(ranked)} of the {len(pairs)} titles returned are left "
                         f"after the exclusions; ask for fewer, or build the index with a "
                         f"larger k (a saved index always returns the k it was built with)")
    titles, scores = zip(*ranked[:k])
    return Recommendations(user_id, tuple(titles), tuple(scores), source)


def save_index(index: tfrs.layers.factorized_top_k.TopK, path: str | Path, *,
               example_user: str) -> Path:
    """Save an index as a SavedModel and return the folder. It is called once with
    ``example_user`` first, so Keras traces it (and the SavedModel gets a serving signature)."""
    if not isinstance(index, tfrs.layers.factorized_top_k.TopK):
        raise TypeError(f"index must be a tfrs.layers.factorized_top_k layer (e.g. from "
                        f"build_index), got {type(index).__name__}")
    if not isinstance(example_user, str):
        raise TypeError(f"example_user must be a str, got {type(example_user).__name__}")
    index(tf.constant([example_user]))
    tf.saved_model.save(index, str(path))
    return Path(path)


def load_index(path: str | Path) -> Any:
    """Load an index saved with :func:`save_index`, after ``import scann`` (when installed)."""
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(f"no SavedModel at {path} (no saved_model.pb); save one first "
                                f"with save_index(index, path, example_user=...)")
    try:
        import scann  # noqa: F401  (registers the Scann>... ops with TensorFlow)
        scann_error = None
    except ImportError as error:
        scann_error = error
    try:
        return tf.saved_model.load(str(path))
    except Exception as error:  # TensorFlow raises several types for this
        if "Op type not registered 'Scann>" not in str(error):
            raise
        raise RuntimeError(
            f"the SavedModel at {path} holds a ScaNN index, and ScaNN's TensorFlow ops are "
            f"not registered in this process because `import scann` failed ({scann_error}). "
            f"Install the pinned version (pip install scann==1.4.2) and `import scann` "
            f"before tf.saved_model.load.") from error


class ScaNNIndex(tfrs.layers.factorized_top_k.ScaNN):
    """TFRS's ``ScaNN`` layer whose calls also take ``leaves_to_search`` and
    ``reordering_candidates`` (defaults: the built ones): one index answers at every setting."""

    def __init__(self, query_model: Any = None, k: int = 10, *, num_leaves: int = 100,
                 num_leaves_to_search: int = 10, **settings: Any) -> None:
        num_leaves = _checks.positive_int("num_leaves", num_leaves)
        if _checks.positive_int("num_leaves_to_search", num_leaves_to_search) > num_leaves:
            raise ValueError(f"num_leaves_to_search={num_leaves_to_search} is larger than "
                             f"num_leaves={num_leaves}: a query cannot search more "
                             f"partitions than the index has")
        super().__init__(query_model=query_model, k=k, num_leaves=num_leaves,
                         num_leaves_to_search=num_leaves_to_search, **settings)
        self.num_leaves, self.num_candidates, self._eager_searcher = num_leaves, None, None

    def index(self, candidates: Any, identifiers: Any = None) -> ScaNNIndex:
        n, reorder = int(candidates.shape[0]), self._num_reordering_candidates
        if reorder is not None and _checks.positive_int("num_reordering_candidates", reorder) > n:
            raise ValueError(f"num_reordering_candidates={reorder} is larger than the number "
                             f"of candidates ({n})")
        super().index(candidates, identifiers)
        self.num_candidates, self._eager_searcher = n, None
        return self

    def call(self, queries: Any, k: int | None = None, leaves_to_search: int | None = None,
             reordering_candidates: int | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        k = self._k if k is None else _check_k(k, self.num_candidates)
        if (leaves_to_search is not None
                and _checks.positive_int("leaves_to_search", leaves_to_search) > self.num_leaves):
            raise ValueError(f"leaves_to_search={leaves_to_search} is larger than "
                             f"num_leaves={self.num_leaves}")
        if reordering_candidates is not None:
            if self._num_reordering_candidates is None:
                raise ValueError("reordering_candidates needs an index built with "
                                 "num_reordering_candidates (it keeps the exact vectors)")
            if _checks.positive_int("reordering_candidates", reordering_candidates) < k:
                raise ValueError(f"reordering_candidates={reordering_candidates} is smaller "
                                 f"than k={k}: re-scoring must see at least the k returned")
        if self.query_model is not None:
            queries = self.query_model(queries)
        found = self._searcher().search_batched_parallel(
            queries, final_num_neighbors=k, leaves_to_search=leaves_to_search,
            pre_reorder_num_neighbors=reordering_candidates)
        if self._identifiers is None:
            return found.distances, found.indices
        return found.distances, tf.gather(self._identifiers, found.indices)

    def _searcher(self) -> Any:
        """ScaNN's searcher: made anew while TensorFlow traces (for a SavedModel), as TFRS
        does on every call; kept between eager calls, which makes single queries faster."""
        from scann.scann_ops.py import scann_ops

        if not tf.executing_eagerly():
            return scann_ops.searcher_from_module(self._serialized_searcher)
        if self._eager_searcher is None:
            self._eager_searcher = scann_ops.searcher_from_module(self._serialized_searcher)
        return self._eager_searcher


def index_vectors(candidates: Any, identifiers: Any = None, *, k: int = 10,
                  kind: str = "brute_force", query_model: Any = None,
                  **scann_settings: Any) -> tfrs.layers.factorized_top_k.TopK:
    """An index over ``(n, d)`` candidate vectors: ``kind="brute_force"`` (exact) or
    ``"scann"`` (a :class:`ScaNNIndex`; ``scann_settings`` go to it). A query returns
    ``identifiers`` (default: row positions); with ``query_model`` it takes raw ids."""
    _checks.one_of("kind", kind, INDEX_KINDS)
    if kind == "brute_force" and scann_settings:
        raise TypeError(f"{sorted(scann_settings)} only apply to kind='scann'")
    candidates = tf.convert_to_tensor(candidates, dtype=tf.float32)
    if identifiers is not None:
        identifiers = tf.convert_to_tensor(identifiers)
    if kind == "brute_force":
        index = tfrs.layers.factorized_top_k.BruteForce(query_model, k=k)
    else:
        index = ScaNNIndex(query_model, k=k, **scann_settings)
    index.index(candidates, identifiers)  # TFRS checks the shapes
    _check_k(k, int(candidates.shape[0]))
    return index


def index_bytes(index: Any) -> int:
    """Bytes of an index's own tensors (candidates, ScaNN's structures, identifiers; strings
    count their length), not of its query tower."""
    searcher = getattr(index, "_serialized_searcher", None)
    tensors = [getattr(index, "_candidates", None), getattr(index, "_identifiers", None),
               *(searcher.variables if searcher is not None else ())]
    arrays = [t.numpy() for t in tensors if t is not None]
    return sum(sum(map(len, a.ravel())) if a.dtype == object else a.nbytes for a in arrays)


def grow_catalogue(vectors: np.ndarray, n: int, *, seed: int = 42) -> np.ndarray:
    """``n`` candidate vectors: the rows of ``vectors``, then cycling copies, each
    coordinate times a uniform number in [0, 1) (the TFRS efficient-serving guide's)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    m, d = vectors.shape
    rng = np.random.default_rng(seed)
    catalogue = np.empty((n, d), dtype=np.float32)
    catalogue[:m] = vectors
    for start in range(m, n, 100_000):  # in chunks: bounded memory
        stop = min(start + 100_000, n)
        noise = rng.random((stop - start, d), dtype=np.float32)
        catalogue[start:stop] = vectors[np.arange(start, stop) % m] * noise
    return catalogue
