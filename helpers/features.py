"""Features beyond ids: feature tables, preprocessing layers and towers (chapter 6).

Every model before chapter 6 knows a user and a movie only by an id. This
module gives the towers the rest of what MovieLens 100K knows:

* :func:`user_table` and :func:`movie_table`: one row of features per user and
  per title, read from the data sets :func:`helpers.data.load_movielens`
  returns (this module never calls TensorFlow Datasets itself);
  :func:`parse_year` and :func:`strip_year` split "Heat (1995)" into its
  words and its year; :func:`activity_time` is a user's median rating time;
* one Keras encoder per kind of feature, each adapted on training rows only,
  each split into ``preprocess`` (lookups, normalization, tokenization: nothing
  trained) and ``embed`` (the trainable part):
  :class:`CategoricalEncoder` (``StringLookup``/``IntegerLookup`` + embedding),
  :class:`ContinuousEncoder` (``Normalization`` and ``Discretization`` into
  buckets, with an "unknown" bucket for missing values),
  :class:`MultiHotEncoder` (a pooled embedding of a set, e.g. genres) and
  :class:`TextEncoder` (``TextVectorization`` + mean of word embeddings);
* :class:`FeatureEncoder`: a dictionary of features in, one vector out, either
  a linear projection of the concatenated encodings (``hidden=()``) or a small
  MLP on it, optionally added to the id's own embedding (``residual``);
* :class:`FeatureTower`: ids in, vectors out. It looks each id's features up in
  its table (preprocessed once) and encodes them, so it is a drop-in ``user_model`` or
  ``movie_model`` for :class:`helpers.retrieval.FullSoftmaxModel`,
  ``fit_retrieval`` and ``embeddings``;
* :func:`build_feature_towers`: both towers from the two tables, for a chosen
  set of feature groups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf

from helpers import _checks
from helpers.data import to_arrays

__all__ = [
    "USER_GROUPS",
    "MOVIE_GROUPS",
    "parse_year",
    "strip_year",
    "user_table",
    "movie_table",
    "activity_time",
    "pair_values",
    "CategoricalEncoder",
    "ContinuousEncoder",
    "MultiHotEncoder",
    "TextEncoder",
    "FeatureEncoder",
    "FeatureTower",
    "build_feature_towers",
]

#: Feature groups of the query tower: name -> {feature: kind}.
USER_GROUPS: dict[str, dict[str, str]] = {
    "id": {"user_id": "categorical"},
    "demographics": {
        "user_gender": "categorical",
        "raw_user_age": "continuous",
        "user_occupation_label": "categorical",
        "user_zip_region": "categorical",
    },
    "time": {"activity_time": "continuous"},
}
#: Feature groups of the candidate tower: name -> {feature: kind}.
MOVIE_GROUPS: dict[str, dict[str, str]] = {
    "id": {"movie_title": "categorical"},
    "genres": {"movie_genres": "multi_hot"},
    "text": {"title_text": "text"},
    "year": {"release_year": "continuous"},
}

_YEAR = re.compile(r"\s*\((\d{4})\)(?!.*\(\d{4}\))")


def _strings(name: str, values: object) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in ("U", "S", "O")):
        raise TypeError(f"{name} must be a 1-D array of strings, got {array.dtype} {array.shape}")
    return array.astype(str)


# ------------------------------------------------------------------ feature tables


def parse_year(titles: Sequence[str] | np.ndarray) -> np.ndarray:
    """The last four-digit year in parentheses in each title, ``NaN`` when none.

    ``"Heat (1995)"`` gives 1995.0, ``"Land Before Time III: ... (1995) (V)"``
    too; ``"unknown"`` gives ``nan``.
    """
    titles = _strings("titles", titles)
    out = np.full(len(titles), np.nan, dtype=np.float32)
    for i, title in enumerate(titles):
        match = _YEAR.search(title)
        if match:
            out[i] = float(match.group(1))
    return out


def strip_year(titles: Sequence[str] | np.ndarray) -> np.ndarray:
    """Each title without its ``(year)``: the words of the title."""
    titles = _strings("titles", titles)
    return np.array([_YEAR.sub("", t) for t in titles], dtype=str)


def user_table(ratings: tf.data.Dataset, user_ids: np.ndarray) -> dict[str, np.ndarray]:
    """What MovieLens knows about each user, one row per id of ``user_ids``.

    Columns: ``user_id``, ``user_gender`` (0/1), ``raw_user_age`` (years),
    ``user_occupation_label`` (0-21) and ``user_zip_region`` (the first two
    characters of the zip code: a region, shared by many users, where the full
    code is nearly as unique as the id).

    Args:
        ratings: the ratings data set of :func:`helpers.data.load_movielens`
            (every rating repeats its user's features).
        user_ids: the users to describe, e.g. the sorted vocabulary.

    Raises:
        ValueError: a user of ``user_ids`` has no rating in ``ratings``.
    """
    user_ids = _strings("user_ids", user_ids)
    columns = to_arrays(
        ratings,
        ["user_id", "user_gender", "raw_user_age", "user_occupation_label", "user_zip_code"],
    )
    ids, first = np.unique(columns["user_id"], return_index=True)
    position = np.searchsorted(ids, user_ids)
    position = np.clip(position, 0, len(ids) - 1)
    missing = ids[position] != user_ids
    if missing.any():
        raise ValueError(f"{int(missing.sum())} user(s) have no rating, e.g. {user_ids[missing][:3]}")
    rows = first[position]
    return {
        "user_id": user_ids,
        "user_gender": columns["user_gender"][rows].astype(np.int64),
        "raw_user_age": columns["raw_user_age"][rows].astype(np.float32),
        "user_occupation_label": columns["user_occupation_label"][rows].astype(np.int64),
        "user_zip_region": np.array([z[:2] for z in columns["user_zip_code"][rows]]),
    }


def movie_table(movies: tf.data.Dataset, movie_titles: np.ndarray) -> dict[str, np.ndarray]:
    """What MovieLens knows about each title, one row per title of ``movie_titles``.

    Columns: ``movie_title``; ``movie_genres``, a multi-hot ``(n, n_genres)``
    float matrix (a title listed under two movie ids gets the union of their
    genres); ``title_text``, the title without its year; ``release_year``
    (``NaN`` when the title has none).

    ``movie_genres`` is a list of a different length for every movie, so the
    movies are read in padded batches (padding -1, dropped again).

    Raises:
        ValueError: a title of ``movie_titles`` is not in ``movies``.
    """
    movie_titles = _strings("movie_titles", movie_titles)
    index = {t: i for i, t in enumerate(movie_titles)}
    genres: list[tuple[int, np.ndarray]] = []
    found = np.zeros(len(movie_titles), dtype=bool)
    pairs = movies.map(lambda x: (x["movie_title"], x["movie_genres"]))
    batches = pairs.padded_batch(4096, padded_shapes=([], [None]), padding_values=(b"", tf.constant(-1, tf.int64)))
    for batch_titles, batch_genres in batches.as_numpy_iterator():
        for title, g in zip(batch_titles, batch_genres):
            title = title.decode("utf-8")
            if title in index:
                genres.append((index[title], g[g >= 0]))
                found[index[title]] = True
    if not found.all():
        raise ValueError(f"{int((~found).sum())} title(s) not in movies, e.g. {movie_titles[~found][:3]}")
    n_genres = 1 + max((int(g.max()) for _, g in genres if g.size), default=0)
    multi_hot = np.zeros((len(movie_titles), n_genres), dtype=np.float32)
    for row, g in genres:
        multi_hot[row, g] = 1.0
    return {
        "movie_title": movie_titles,
        "movie_genres": multi_hot,
        "title_text": strip_year(movie_titles),
        "release_year": parse_year(movie_titles),
    }


def activity_time(users: np.ndarray, times: np.ndarray, n_users: int) -> np.ndarray:
    """Each user's median rating time (seconds since 1970), ``NaN`` without ratings.

    Args:
        users: integer user positions of the training pairs.
        times: the pairs' timestamps, in the same order.
        n_users: the number of users (the length of the result).
    """
    n_users = _checks.positive_int("n_users", n_users)
    users, times = np.asarray(users), np.asarray(times, dtype=np.float64)
    if users.shape != times.shape or users.ndim != 1:
        raise ValueError("users and times must be 1-D and of equal length")
    out = np.full(n_users, np.nan, dtype=np.float64)
    order = np.argsort(users, kind="stable")
    present, starts = np.unique(users[order], return_index=True)
    for u, part in zip(present, np.split(times[order], starts[1:])):
        out[u] = np.median(part)
    return out


def pair_values(
    users: np.ndarray,
    items: np.ndarray,
    table_users: np.ndarray,
    table_items: np.ndarray,
    table_values: np.ndarray,
) -> np.ndarray:
    """Look up a per-pair value (e.g. a timestamp) for each ``(user, item)`` pair.

    ``table_*`` list known pairs and their values (e.g. the training pairs
    of the classic split with their timestamps); a pair listed twice keeps
    one of its values.

    Raises:
        KeyError: a pair is not in the table.
    """
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    table_users = np.asarray(table_users, np.int64)
    table_items = np.asarray(table_items, np.int64)
    width = int(max(items.max(initial=0), table_items.max(initial=0))) + 1
    keys = table_users * width + table_items
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    wanted = users * width + items
    at = np.clip(np.searchsorted(sorted_keys, wanted), 0, len(sorted_keys) - 1)
    if len(sorted_keys) == 0 or (sorted_keys[at] != wanted).any():
        raise KeyError("some (user, item) pairs are not in the table")
    return np.asarray(table_values)[order][at]


# ------------------------------------------------------------------ encoders


class CategoricalEncoder(tf.keras.layers.Layer):
    """A category (string or integer) to an embedding; unknown ones share row 0.

    ``adapt`` builds the vocabulary from the training values:
    ``StringLookup`` for strings, ``IntegerLookup`` for integers, each with
    one out-of-vocabulary (OOV) index, 0, for anything not seen in training.
    """

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = _checks.positive_int("dim", dim)
        self.lookup: tf.keras.layers.Layer | None = None
        self.embedding: tf.keras.layers.Embedding | None = None

    def adapt(self, values: np.ndarray) -> "CategoricalEncoder":
        values = np.asarray(values)
        vocabulary = np.unique(values)
        if values.dtype.kind in ("U", "S", "O"):
            self.lookup = tf.keras.layers.StringLookup(
                vocabulary=vocabulary.astype(str), mask_token=None, num_oov_indices=1
            )
        else:
            self.lookup = tf.keras.layers.IntegerLookup(
                vocabulary=vocabulary.astype(np.int64), mask_token=None, num_oov_indices=1
            )
        self.embedding = tf.keras.layers.Embedding(len(vocabulary) + 1, self.dim)
        return self

    def preprocess(self, values: tf.Tensor) -> tf.Tensor:
        """Category to its index (0 when unknown): nothing here is trained."""
        return self.lookup(values)

    def embed(self, indices: tf.Tensor) -> tf.Tensor:
        return self.embedding(indices)

    def call(self, values: tf.Tensor) -> tf.Tensor:
        return self.embed(self.preprocess(values))


class ContinuousEncoder(tf.keras.layers.Layer):
    """A number two ways: standardized, and as the embedding of its bucket.

    ``adapt`` learns the mean and variance (``Normalization``) and
    ``num_bins`` bucket edges at the quantiles (``Discretization``) of the
    training values. A missing value (``NaN``) becomes 0 after
    standardization and falls in bucket 0, "unknown"; known values use
    buckets ``1..num_bins``. Output: ``1 + dim`` numbers.
    """

    def __init__(self, dim: int, num_bins: int = 10, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = _checks.positive_int("dim", dim)
        self.num_bins = _checks.positive_int("num_bins", num_bins)
        self.normalization: tf.keras.layers.Normalization | None = None
        self.discretization: tf.keras.layers.Discretization | None = None
        self.embedding = tf.keras.layers.Embedding(self.num_bins + 1, self.dim)

    def adapt(self, values: np.ndarray) -> "ContinuousEncoder":
        values = np.asarray(values, dtype=np.float64)
        known = values[~np.isnan(values)]
        if known.size == 0:
            raise ValueError("no known (non-NaN) values to adapt on")
        # What Normalization.adapt and Discretization.adapt would learn, computed
        # directly: mean, variance, and the edges between num_bins equal shares.
        self.normalization = tf.keras.layers.Normalization(
            axis=None, mean=known.mean(), variance=max(known.var(), 1e-12)
        )
        edges = np.unique(np.quantile(known, np.linspace(0, 1, self.num_bins + 1)[1:-1]))
        self.discretization = tf.keras.layers.Discretization(bin_boundaries=edges.tolist())
        return self

    def preprocess(self, values: tf.Tensor) -> tf.Tensor:
        """``(B, 2)``: the standardized value and the bucket (0: unknown)."""
        values = tf.cast(values, tf.float32)
        missing = tf.math.is_nan(values)
        filled = tf.where(missing, tf.zeros_like(values), values)
        standardized = tf.where(missing, tf.zeros_like(values), self.normalization(filled))
        bucket = tf.cast(self.discretization(filled), tf.float32) + 1.0
        bucket = tf.where(missing, tf.zeros_like(values), bucket)
        return tf.stack([standardized, bucket], axis=1)

    def embed(self, preprocessed: tf.Tensor) -> tf.Tensor:
        bucket = tf.cast(preprocessed[:, 1], tf.int64)
        return tf.concat([preprocessed[:, :1], self.embedding(bucket)], axis=1)

    def call(self, values: tf.Tensor) -> tf.Tensor:
        return self.embed(self.preprocess(values))


class MultiHotEncoder(tf.keras.layers.Layer):
    """A set of categories (a multi-hot row) to the mean of their embeddings.

    A row with ``c`` ones gets the average of those ``c`` embedding rows; an
    empty set pools to zeros (it adds nothing to the tower).
    """

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = _checks.positive_int("dim", dim)
        self.table: tf.Variable | None = None

    def adapt(self, values: np.ndarray) -> "MultiHotEncoder":
        values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError(f"multi-hot values must be 2-D (rows, categories), got {values.shape}")
        self.table = self.add_weight(
            name="embeddings",
            shape=(values.shape[1], self.dim),
            initializer="uniform",
            trainable=True,
        )
        return self

    def preprocess(self, values: tf.Tensor) -> tf.Tensor:
        return tf.cast(values, tf.float32)

    def embed(self, multi_hot: tf.Tensor) -> tf.Tensor:
        count = tf.reduce_sum(multi_hot, axis=1, keepdims=True)
        return tf.matmul(multi_hot, self.table) / tf.maximum(count, 1.0)

    def call(self, values: tf.Tensor) -> tf.Tensor:
        return self.embed(self.preprocess(values))


class TextEncoder(tf.keras.layers.Layer):
    """Short text to the mean embedding of its words (a bag of words).

    ``TextVectorization`` (lower case, punctuation stripped, split on spaces)
    learns its vocabulary from the training texts; unknown words share one
    OOV index. Text with no words pools to zeros.
    """

    def __init__(self, dim: int, max_tokens: int = 5_000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = _checks.positive_int("dim", dim)
        self.vectorize = tf.keras.layers.TextVectorization(max_tokens=max_tokens)
        self.embedding: tf.keras.layers.Embedding | None = None

    def adapt(self, values: np.ndarray) -> "TextEncoder":
        self.vectorize.adapt(_strings("texts", values))
        self.embedding = tf.keras.layers.Embedding(
            self.vectorize.vocabulary_size(), self.dim, mask_zero=True
        )
        return self

    def preprocess(self, values: tf.Tensor) -> tf.Tensor:
        """Token indices, ``(B, longest text)``; 0 pads, 1 is an unknown word."""
        return self.vectorize(values)

    def embed(self, tokens: tf.Tensor) -> tf.Tensor:
        vectors = self.embedding(tokens)
        mask = tf.cast(tokens > 0, tf.float32)[:, :, None]
        return tf.reduce_sum(vectors * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def call(self, values: tf.Tensor) -> tf.Tensor:
        return self.embed(self.preprocess(values))


_ENCODERS = {
    "categorical": CategoricalEncoder,
    "continuous": ContinuousEncoder,
    "multi_hot": MultiHotEncoder,
    "text": TextEncoder,
}


class FeatureEncoder(tf.keras.layers.Layer):
    """A dictionary of features to one ``embedding_dim`` vector.

    Each feature goes through the encoder of its kind; the encodings are
    concatenated and then either projected linearly to ``embedding_dim``
    (``hidden=()``: the same as adding up one learned vector per feature) or
    passed through ``Dense`` layers of sizes ``hidden`` with ReLU first
    (a deep tower).

    Args:
        kinds: ``{feature name: kind}``, kind one of ``"categorical"``,
            ``"continuous"``, ``"multi_hot"``, ``"text"``.
        embedding_dim: size of the output.
        feature_dims: size of each feature's embedding, by name (default
            ``default_dim``).
        hidden: sizes of the hidden ``Dense`` layers (ReLU).
        residual: the name of a feature (the id) whose embedding, of size
            ``embedding_dim``, is added to the output instead of being
            concatenated: ``e_id + W [f_1; f_2; ...]``. With only that feature
            the tower is exactly an id embedding.
    """

    def __init__(
        self,
        kinds: Mapping[str, str],
        embedding_dim: int = 32,
        *,
        feature_dims: Mapping[str, int] | None = None,
        default_dim: int = 16,
        hidden: Sequence[int] = (),
        residual: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not kinds:
            raise ValueError("kinds must name at least one feature")
        unknown = {k for k in kinds.values() if k not in _ENCODERS}
        if unknown:
            raise ValueError(f"unknown feature kind(s) {sorted(unknown)}; use {sorted(_ENCODERS)}")
        self.kinds = dict(kinds)
        dims = dict(feature_dims or {})
        self.encoders = {
            name: _ENCODERS[kind](dims.get(name, default_dim), name=f"{name}_encoder")
            for name, kind in self.kinds.items()
        }
        self.hidden = [
            tf.keras.layers.Dense(_checks.positive_int("hidden size", h), activation="relu") for h in hidden
        ]
        self.output_layer = tf.keras.layers.Dense(_checks.positive_int("embedding_dim", embedding_dim))
        if residual is not None and residual not in self.kinds:
            raise ValueError(f"residual feature {residual!r} is not one of {sorted(self.kinds)}")
        if residual is not None and dims.get(residual, default_dim) != embedding_dim:
            raise ValueError("the residual feature's embedding must have size embedding_dim")
        self.residual = residual

    def adapt(self, table: Mapping[str, np.ndarray]) -> "FeatureEncoder":
        """Adapt every encoder on the training rows of ``table``."""
        self._check_keys(table)
        for name, encoder in self.encoders.items():
            encoder.adapt(np.asarray(table[name]))
        return self

    def _check_keys(self, features: Mapping[str, object]) -> None:
        missing = [name for name in self.kinds if name not in features]
        if missing:
            raise KeyError(
                f"missing feature(s) {missing}: this encoder needs {sorted(self.kinds)}, "
                f"got {sorted(features)}"
            )

    def preprocess(self, features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Every feature through its lookup, normalization or vectorization."""
        self._check_keys(features)
        return {n: self.encoders[n].preprocess(features[n]) for n in self.kinds}

    def embed(self, preprocessed: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """The trainable part: embeddings, pooling, concatenation, dense layers."""
        others = [n for n in self.kinds if n != self.residual]
        out = self.encoders[self.residual].embed(preprocessed[self.residual]) if self.residual else 0.0
        if not others:
            return out
        x = tf.concat([self.encoders[n].embed(preprocessed[n]) for n in others], axis=1)
        for layer in self.hidden:
            x = layer(x)
        return out + self.output_layer(x)

    def call(self, features: Mapping[str, tf.Tensor]) -> tf.Tensor:
        return self.embed(self.preprocess(features))


# ------------------------------------------------------------------ towers


class FeatureTower(tf.keras.Model):
    """Ids in, vectors out: each id's features looked up in a table, then encoded.

    The table has one row per known entity (every user, or every title in the
    catalogue); an id not in it gets a row of "unknown" values (empty string,
    category -1, ``NaN``, no genres). The tower can also be called with a
    dictionary of features instead of ids, for an entity not in the table.

    Args:
        table: ``{feature: array}``, one row per entity, with the id column
            named ``key``.
        key: the name of the id column (``"user_id"`` or ``"movie_title"``).
        kinds: the features to use and their kinds (see :class:`FeatureEncoder`);
            include ``key`` itself to learn an embedding per id.
        train_keys: the ids seen in training. Every vocabulary and statistic
            is adapted on their rows only, so an id absent from training is
            out of vocabulary, as it will be for a real new user or movie.
        embedding_dim, feature_dims, default_dim, hidden: see
            :class:`FeatureEncoder`.
        residual: add the id's embedding to the projection of the other
            features (``FeatureEncoder(residual=key)``).
    """

    def __init__(
        self,
        table: Mapping[str, np.ndarray],
        key: str,
        kinds: Mapping[str, str],
        train_keys: Sequence[str] | np.ndarray,
        *,
        embedding_dim: int = 32,
        feature_dims: Mapping[str, int] | None = None,
        default_dim: int = 16,
        hidden: Sequence[int] = (),
        residual: bool = False,
    ) -> None:
        super().__init__()
        if key not in table:
            raise KeyError(f"the table has no id column {key!r}; it has {sorted(table)}")
        keys = _strings(key, table[key])
        missing = [name for name in kinds if name not in table]
        if missing:
            raise KeyError(f"feature(s) {missing} not in the table; it has {sorted(table)}")
        self.key = key
        self.feature_names = [n for n in kinds if n != key]
        n = len(keys)
        for name in self.feature_names:
            if len(table[name]) != n:
                raise ValueError(f"column {name!r} has {len(table[name])} rows, {key!r} has {n}")
        self.row_lookup = tf.keras.layers.StringLookup(
            vocabulary=np.unique(keys), mask_token=None, num_oov_indices=1
        )
        order = np.argsort(keys)  # the lookup's vocabulary is sorted
        self._columns = {}
        for name in self.feature_names:
            column = np.asarray(table[name])[order]
            unknown = _unknown_row(column)
            self._columns[name] = tf.constant(np.concatenate([unknown, column]))
        self.encoder = FeatureEncoder(
            kinds,
            embedding_dim,
            feature_dims=feature_dims,
            default_dim=default_dim,
            hidden=hidden,
            residual=key if residual and key in kinds else None,
        )
        train_keys = _strings("train_keys", np.unique(train_keys))
        rows = np.searchsorted(np.sort(keys), train_keys)
        rows = np.clip(rows, 0, n - 1)
        if (np.sort(keys)[rows] != train_keys).any():
            raise ValueError("every training id must be in the table")
        train_rows = {name: np.asarray(table[name])[order][rows] for name in self.feature_names}
        if key in kinds:
            train_rows[key] = train_keys
        self.encoder.adapt(train_rows)
        # Lookups, normalization and tokenization are not trained: apply them
        # to the whole table once, so a training step only gathers rows.
        self._preprocessed = {
            name: self.encoder.encoders[name].preprocess(column)
            for name, column in self._columns.items()
        }

    def lookup(self, ids: tf.Tensor) -> dict[str, tf.Tensor]:
        """The features of each id, as a dictionary of tensors."""
        rows = self.row_lookup(ids)
        features = {name: tf.gather(column, rows) for name, column in self._columns.items()}
        if self.key in self.encoder.kinds:
            features[self.key] = ids
        return features

    def call(self, inputs: tf.Tensor | Mapping[str, tf.Tensor]) -> tf.Tensor:
        if isinstance(inputs, Mapping):
            return self.encoder(inputs)
        rows = self.row_lookup(inputs)
        preprocessed = {n: tf.gather(c, rows) for n, c in self._preprocessed.items()}
        if self.key in self.encoder.kinds:
            preprocessed[self.key] = self.encoder.encoders[self.key].preprocess(inputs)
        return self.encoder.embed(preprocessed)


def _unknown_row(column: np.ndarray) -> np.ndarray:
    """One row of "unknown" values shaped like a row of ``column``."""
    kind = column.dtype.kind
    if kind in ("U", "S", "O"):
        return np.array([""], dtype=column.dtype)
    if kind == "f":
        fill = 0.0 if column.ndim > 1 else np.nan  # no genres; unknown number
        return np.full((1, *column.shape[1:]), fill, dtype=column.dtype)
    return np.full((1, *column.shape[1:]), -1, dtype=column.dtype)


def build_feature_towers(
    users: Mapping[str, np.ndarray],
    movies: Mapping[str, np.ndarray],
    train_user_ids: Sequence[str] | np.ndarray,
    train_titles: Sequence[str] | np.ndarray,
    *,
    user_groups: Sequence[str] = ("id",),
    movie_groups: Sequence[str] = ("id",),
    embedding_dim: int = 32,
    id_dim: int = 32,
    default_dim: int = 16,
    hidden: Sequence[int] = (),
    residual: bool = False,
) -> tuple[FeatureTower, FeatureTower]:
    """``(user_model, movie_model)`` reading the chosen feature groups.

    Args:
        users, movies: the tables (:func:`user_table` plus ``activity_time``,
            :func:`movie_table`).
        train_user_ids, train_titles: the ids seen in training (vocabularies and
            statistics are adapted on these rows only).
        user_groups: names from :data:`USER_GROUPS`; movie_groups: from
            :data:`MOVIE_GROUPS`.
        id_dim: size of the id embeddings; default_dim: of every other feature.
        hidden: hidden layer sizes of both towers (``()``: linear projection).
        residual: add each id's embedding to the projection of the other
            features (then ``id_dim`` must equal ``embedding_dim``).

    Raises:
        ValueError: an unknown group name, or no group for a tower.
    """
    towers = []
    for table, key, groups, known, train_keys in (
        (users, "user_id", user_groups, USER_GROUPS, train_user_ids),
        (movies, "movie_title", movie_groups, MOVIE_GROUPS, train_titles),
    ):
        groups = [groups] if isinstance(groups, str) else list(groups)
        unknown = [g for g in groups if g not in known]
        if unknown or not groups:
            raise ValueError(f"groups must be a non-empty subset of {sorted(known)}, got {groups}")
        kinds = {name: kind for g in groups for name, kind in known[g].items()}
        towers.append(
            FeatureTower(
                table,
                key,
                kinds,
                train_keys,
                embedding_dim=embedding_dim,
                feature_dims={key: id_dim},
                default_dim=default_dim,
                hidden=hidden,
                residual=residual,
            )
        )
    return towers[0], towers[1]
