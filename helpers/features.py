"""Features beyond ids: feature tables, one Keras encoder per kind of feature, towers.

Every encoder is adapted on training rows only and split into ``preprocess`` (untrained
lookups, normalization, tokenization: a tower applies it to its whole table once) and ``embed``
(trainable). A :class:`FeatureTower` is a drop-in ``user_model`` or ``movie_model``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf

from helpers import _checks
from helpers.data import to_arrays

#: Feature groups of each tower: group -> {feature: kind}.
USER_GROUPS = {
    "id": {"user_id": "categorical"},
    "demographics": {"user_gender": "categorical", "raw_user_age": "continuous",
                     "user_occupation_label": "categorical", "user_zip_region": "categorical"},
    "time": {"activity_time": "continuous"},
}
MOVIE_GROUPS = {
    "id": {"movie_title": "categorical"},
    "genres": {"movie_genres": "multi_hot"},
    "text": {"title_text": "text"},
    "year": {"release_year": "continuous"},
}

_YEAR = re.compile(r"\s*\((\d{4})\)(?!.*\(\d{4}\))")


def _strings(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "USO"):
        raise TypeError(f"{name} must be a 1-D array of strings, got {array.dtype} {array.shape}")
    return array.astype(str)


def parse_year(titles) -> np.ndarray:
    """The last ``(yyyy)`` of each title as a number: "Heat (1995)" gives 1995, "unknown" NaN."""
    matches = (_YEAR.search(t) for t in _strings("titles", titles))
    return np.array([float(m.group(1)) if m else np.nan for m in matches], dtype=np.float32)


def strip_year(titles) -> np.ndarray:
    """Each title without its ``(year)``: the words of the title."""
    return np.array([_YEAR.sub("", t) for t in _strings("titles", titles)], dtype=str)


def user_table(ratings: tf.data.Dataset, user_ids) -> dict[str, np.ndarray]:
    """One row per user of ``user_ids``: ``user_id``, ``user_gender`` (0/1), ``raw_user_age``,
    ``user_occupation_label`` (0-21), ``user_zip_region`` (the zip code's first two characters),
    read from the user's ratings; a user without one is an error."""
    user_ids = _strings("user_ids", user_ids)
    columns = to_arrays(ratings, ["user_id", "user_gender", "raw_user_age",
                                  "user_occupation_label", "user_zip_code"])
    ids, first = np.unique(columns["user_id"], return_index=True)
    position = np.clip(np.searchsorted(ids, user_ids), 0, len(ids) - 1)
    missing = ids[position] != user_ids
    if missing.any():
        raise ValueError(f"{int(missing.sum())} user(s) have no rating, e.g. {user_ids[missing][:3]}")
    rows = first[position]
    return {"user_id": user_ids,
            "user_gender": columns["user_gender"][rows].astype(np.int64),
            "raw_user_age": columns["raw_user_age"][rows].astype(np.float32),
            "user_occupation_label": columns["user_occupation_label"][rows].astype(np.int64),
            "user_zip_region": np.array([z[:2] for z in columns["user_zip_code"][rows]])}


def movie_table(movies: tf.data.Dataset, movie_titles) -> dict[str, np.ndarray]:
    """One row per title: ``movie_title``; ``movie_genres``, multi-hot (a title of two movie
    ids has the union of their genres); ``title_text``, the title without its year;
    ``release_year`` (NaN when none)."""
    movie_titles = _strings("movie_titles", movie_titles)
    index = {t: i for i, t in enumerate(movie_titles)}
    pairs = movies.map(lambda x: (x["movie_title"], x["movie_genres"]))
    batches = pairs.padded_batch(4096, padded_shapes=([], [None]),
                                 padding_values=(b"", tf.constant(-1, tf.int64)))
    genres = [(index[t.decode()], g[g >= 0]) for titles, lists in batches.as_numpy_iterator()
              for t, g in zip(titles, lists) if t.decode() in index]
    found = np.zeros(len(movie_titles), dtype=bool)
    found[[row for row, _ in genres]] = True
    if not found.all():
        raise ValueError(f"{int((~found).sum())} title(s) not in movies, e.g. {movie_titles[~found][:3]}")
    multi_hot = np.zeros((len(movie_titles), 1 + max(int(g.max(initial=0)) for _, g in genres)),
                         dtype=np.float32)
    for row, g in genres:
        multi_hot[row, g] = 1.0
    return {"movie_title": movie_titles, "movie_genres": multi_hot,
            "title_text": strip_year(movie_titles), "release_year": parse_year(movie_titles)}


def activity_time(users, times, n_users: int) -> np.ndarray:
    """Each user's median rating time (seconds since 1970); NaN for a user without ratings."""
    n_users = _checks.positive_int("n_users", n_users)
    users, times = np.asarray(users), np.asarray(times, dtype=np.float64)
    if users.shape != times.shape or users.ndim != 1:
        raise ValueError("users and times must be 1-D and of equal length")
    out = np.full(n_users, np.nan)
    order = np.argsort(users, kind="stable")
    present, starts = np.unique(users[order], return_index=True)
    for u, part in zip(present, np.split(times[order], starts[1:])):
        out[u] = np.median(part)
    return out


def pair_values(users, items, table_users, table_items, table_values) -> np.ndarray:
    """The value (e.g. the timestamp) of each ``(user, item)`` pair, looked up in a
    table of known pairs; ``KeyError`` for a pair not in it."""
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    table_users, table_items = np.asarray(table_users, np.int64), np.asarray(table_items, np.int64)
    width = int(max(items.max(initial=0), table_items.max(initial=0))) + 1
    keys = table_users * width + table_items
    order = np.argsort(keys, kind="stable")
    wanted = users * width + items
    at = np.clip(np.searchsorted(keys[order], wanted), 0, max(len(keys) - 1, 0))
    if len(keys) == 0 or (keys[order][at] != wanted).any():
        raise KeyError("some (user, item) pairs are not in the table")
    return np.asarray(table_values)[order][at]


class _Encoder(tf.keras.layers.Layer):
    """``call`` is ``embed(preprocess(values))``; ``adapt`` sees training values only."""

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = _checks.positive_int("dim", dim)

    def preprocess(self, values):
        return values

    def call(self, values):
        return self.embed(self.preprocess(values))


class CategoricalEncoder(_Encoder):
    """A category (string or integer) to an embedding; every unseen one shares row 0."""

    def adapt(self, values) -> "CategoricalEncoder":
        vocabulary = np.unique(np.asarray(values))
        lookup = (tf.keras.layers.StringLookup if vocabulary.dtype.kind in "USO"
                  else tf.keras.layers.IntegerLookup)
        self.lookup = lookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=1)
        self.embedding = tf.keras.layers.Embedding(len(vocabulary) + 1, self.dim)
        return self

    def preprocess(self, values):
        return self.lookup(values)

    def embed(self, indices):
        return self.embedding(indices)


class ContinuousEncoder(_Encoder):
    """A number two ways, ``1 + dim`` outputs: standardized, and the embedding of its
    bucket (``num_bins`` buckets at the training quantiles); NaN is 0 and bucket 0."""

    def __init__(self, dim: int, num_bins: int = 10, **kwargs) -> None:
        super().__init__(dim, **kwargs)
        self.num_bins = _checks.positive_int("num_bins", num_bins)
        self.embedding = tf.keras.layers.Embedding(self.num_bins + 1, self.dim)

    def adapt(self, values) -> "ContinuousEncoder":
        known = np.asarray(values, dtype=np.float64)
        known = known[~np.isnan(known)]
        if known.size == 0:
            raise ValueError("no known (non-NaN) values to adapt on")
        self.normalization = tf.keras.layers.Normalization(
            axis=None, mean=known.mean(), variance=max(known.var(), 1e-12))
        edges = np.unique(np.quantile(known, np.linspace(0, 1, self.num_bins + 1)[1:-1]))
        self.discretization = tf.keras.layers.Discretization(bin_boundaries=edges.tolist())
        return self

    def preprocess(self, values):
        """``(B, 2)``: the standardized value and the bucket (0: unknown)."""
        values = tf.cast(values, tf.float32)
        missing, zeros = tf.math.is_nan(values), tf.zeros_like(values)
        filled = tf.where(missing, zeros, values)
        standardized = tf.where(missing, zeros, self.normalization(filled))
        bucket = tf.where(missing, zeros, tf.cast(self.discretization(filled), tf.float32) + 1.0)
        return tf.stack([standardized, bucket], axis=1)

    def embed(self, preprocessed):
        bucket = tf.cast(preprocessed[:, 1], tf.int64)
        return tf.concat([preprocessed[:, :1], self.embedding(bucket)], axis=1)


class MultiHotEncoder(_Encoder):
    """A set of categories (a multi-hot row) to the mean of their embeddings."""

    def adapt(self, values) -> "MultiHotEncoder":
        values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError(f"multi-hot values must be 2-D (rows, categories), got {values.shape}")
        self.table = self.add_weight(name="embeddings", shape=(values.shape[1], self.dim),
                                     initializer="uniform", trainable=True)
        return self

    def preprocess(self, values):
        return tf.cast(values, tf.float32)

    def embed(self, multi_hot):
        count = tf.reduce_sum(multi_hot, axis=1, keepdims=True)
        return tf.matmul(multi_hot, self.table) / tf.maximum(count, 1.0)  # empty: zeros


class TextEncoder(_Encoder):
    """Short text to the mean embedding of its words (lower case, no punctuation)."""

    def __init__(self, dim: int, max_tokens: int = 5_000, **kwargs) -> None:
        super().__init__(dim, **kwargs)
        self.vectorize = tf.keras.layers.TextVectorization(max_tokens=max_tokens)

    def adapt(self, values) -> "TextEncoder":
        self.vectorize.adapt(_strings("texts", values))
        self.embedding = tf.keras.layers.Embedding(self.vectorize.vocabulary_size(), self.dim)
        return self

    def preprocess(self, values):
        """Token indices, ``(B, longest text)``; 0 pads, 1 is an unknown word."""
        return self.vectorize(values)

    def embed(self, tokens):
        mask = tf.cast(tokens > 0, tf.float32)[:, :, None]
        total = tf.reduce_sum(self.embedding(tokens) * mask, axis=1)
        return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)  # no words: zeros


_ENCODERS = {"categorical": CategoricalEncoder, "continuous": ContinuousEncoder,
             "multi_hot": MultiHotEncoder, "text": TextEncoder}


class FeatureEncoder(tf.keras.layers.Layer):
    """A dictionary of features to one ``embedding_dim`` vector.

    ``kinds`` maps each feature to ``"categorical"``, ``"continuous"``, ``"multi_hot"`` or
    ``"text"``; the encodings are concatenated, passed through ``Dense(hidden)`` (ReLU), projected.
    With ``residual``, that feature's embedding is added instead: ``e_id + W [f_1; f_2; ...]``.
    """

    def __init__(self, kinds: Mapping[str, str], embedding_dim: int = 32, *,
                 feature_dims: Mapping[str, int] | None = None, default_dim: int = 16,
                 hidden: Sequence[int] = (), residual: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        unknown = sorted({k for k in kinds.values() if k not in _ENCODERS})
        if not kinds or unknown:
            raise ValueError(f"kinds must name features of kind {sorted(_ENCODERS)}, got {dict(kinds)}")
        dims = dict(feature_dims or {})
        if residual is not None and (residual not in kinds
                                     or dims.get(residual, default_dim) != embedding_dim):
            raise ValueError(f"residual feature {residual!r} must be one of {sorted(kinds)}, "
                             "its embedding of size embedding_dim")
        self.kinds, self.residual = dict(kinds), residual
        self.encoders = {name: _ENCODERS[kind](dims.get(name, default_dim), name=f"{name}_encoder")
                         for name, kind in self.kinds.items()}
        self.hidden = [tf.keras.layers.Dense(_checks.positive_int("hidden size", h),
                                             activation="relu") for h in hidden]
        self.output_layer = tf.keras.layers.Dense(_checks.positive_int("embedding_dim", embedding_dim))

    def _check_keys(self, features) -> None:
        missing = [name for name in self.kinds if name not in features]
        if missing:
            raise KeyError(f"missing feature(s) {missing}: this encoder needs "
                           f"{sorted(self.kinds)}, got {sorted(features)}")

    def adapt(self, table: Mapping[str, np.ndarray]) -> "FeatureEncoder":
        """Adapt every encoder on the training rows of ``table``."""
        self._check_keys(table)
        for name, encoder in self.encoders.items():
            encoder.adapt(np.asarray(table[name]))
        return self

    def preprocess(self, features):
        self._check_keys(features)
        return {n: self.encoders[n].preprocess(features[n]) for n in self.kinds}

    def embed(self, preprocessed):
        """The trainable part: embeddings, pooling, concatenation, dense layers."""
        others, r = [n for n in self.kinds if n != self.residual], self.residual
        out = self.encoders[r].embed(preprocessed[r]) if r else 0.0
        if not others:
            return out
        x = tf.concat([self.encoders[n].embed(preprocessed[n]) for n in others], axis=1)
        for layer in self.hidden:
            x = layer(x)
        return out + self.output_layer(x)

    def call(self, features):
        return self.embed(self.preprocess(features))


def _unknown_row(column: np.ndarray) -> np.ndarray:
    """One row of "unknown" values like a row of ``column``: "", -1, NaN, no genres."""
    if column.dtype.kind in "USO":
        return np.array([""], dtype=column.dtype)
    fill = (0.0 if column.ndim > 1 else np.nan) if column.dtype.kind == "f" else -1
    return np.full((1, *column.shape[1:]), fill, dtype=column.dtype)


class FeatureTower(tf.keras.Model):
    """Ids in, vectors out: each id's features looked up in ``table``, then encoded.

    ``table``: one row per entity, ids in column ``key``; an unknown id reads a row of unknown
    values. ``kinds`` names the features (with ``key``: an embedding per id), adapted on the
    rows of ``train_keys`` only (other ids are out of vocabulary). Given a dictionary of
    features, it encodes an entity not in the table.
    """

    def __init__(self, table: Mapping[str, np.ndarray], key: str, kinds: Mapping[str, str],
                 train_keys, *, embedding_dim: int = 32, feature_dims=None, default_dim: int = 16,
                 hidden: Sequence[int] = (), residual: bool = False) -> None:
        super().__init__()
        missing = [name for name in [key, *kinds] if name not in table]
        if missing:
            raise KeyError(f"feature(s) {missing} not in the table; it has {sorted(table)}")
        keys = _strings(key, table[key])
        self.key, self.feature_names = key, [n for n in kinds if n != key]
        lengths = {name: len(table[name]) for name in self.feature_names if len(table[name]) != len(keys)}
        if lengths:
            raise ValueError(f"columns {lengths} do not have {len(keys)} rows, as {key!r} has")
        order = np.argsort(keys)  # the lookup's vocabulary is sorted
        self.row_lookup = tf.keras.layers.StringLookup(vocabulary=keys[order], mask_token=None)
        columns = {name: np.asarray(table[name])[order] for name in self.feature_names}
        self._columns = {name: tf.constant(np.concatenate([_unknown_row(c), c]))
                         for name, c in columns.items()}
        self.encoder = FeatureEncoder(kinds, embedding_dim, feature_dims=feature_dims,
                                      default_dim=default_dim, hidden=hidden,
                                      residual=key if residual and key in kinds else None)
        train_keys = _strings("train_keys", np.unique(train_keys))
        rows = np.clip(np.searchsorted(keys[order], train_keys), 0, len(keys) - 1)
        if (keys[order][rows] != train_keys).any():
            raise ValueError("every training id must be in the table")
        self.encoder.adapt({**{name: c[rows] for name, c in columns.items()}, key: train_keys})
        self._preprocessed = {name: self.encoder.encoders[name].preprocess(column)
                              for name, column in self._columns.items()}

    def lookup(self, ids):
        """The features of each id, as a dictionary of tensors."""
        rows = self.row_lookup(ids)
        features = {name: tf.gather(column, rows) for name, column in self._columns.items()}
        return {**features, self.key: ids} if self.key in self.encoder.kinds else features

    def call(self, inputs):
        if isinstance(inputs, Mapping):
            return self.encoder(inputs)
        rows = self.row_lookup(inputs)
        preprocessed = {n: tf.gather(c, rows) for n, c in self._preprocessed.items()}
        if self.key in self.encoder.kinds:
            preprocessed[self.key] = self.encoder.encoders[self.key].preprocess(inputs)
        return self.encoder.embed(preprocessed)


def build_feature_towers(users, movies, train_user_ids, train_titles, *,
                         user_groups: Sequence[str] = ("id",), movie_groups: Sequence[str] = ("id",),
                         embedding_dim: int = 32, id_dim: int = 32, default_dim: int = 16,
                         hidden: Sequence[int] = (), residual: bool = False):
    """``(user_model, movie_model)``: :class:`FeatureTower` s reading the chosen groups
    of :data:`USER_GROUPS` and :data:`MOVIE_GROUPS`, ids of size ``id_dim``."""
    towers = []
    for table, key, groups, known, train_keys in (
            (users, "user_id", user_groups, USER_GROUPS, train_user_ids),
            (movies, "movie_title", movie_groups, MOVIE_GROUPS, train_titles)):
        groups = [groups] if isinstance(groups, str) else list(groups)
        if not groups or any(g not in known for g in groups):
            raise ValueError(f"groups must be a non-empty subset of {sorted(known)}, got {groups}")
        kinds = {name: kind for g in groups for name, kind in known[g].items()}
        towers.append(FeatureTower(table, key, kinds, train_keys, embedding_dim=embedding_dim,
                                   feature_dims={key: id_dim}, default_dim=default_dim,
                                   hidden=hidden, residual=residual))
    return towers[0], towers[1]
