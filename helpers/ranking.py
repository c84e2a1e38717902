"""Ranking: ordering a user's few candidates, the second stage of a recommender.

:func:`top_candidates` gives each user's candidates; :func:`rerank` re-orders them by a second
score: :class:`RatingModel` (features to stars, optionally a DCN), :class:`Reranker` (pointwise
or listwise softmax loss) or :class:`MultitaskModel` (retrieval and rating tasks, shared towers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks
from helpers.metrics import rmse
from helpers.retrieval import full_softmax_loss
from helpers.train import Validate

#: The position that pads a list shorter than asked for.
PAD = -1


# ------------------------------------------------------------------ lists


def top_candidates(scores: np.ndarray, k: int, *, seen: np.ndarray | None = None) -> np.ndarray:
    """Each user's ``k`` best-scored unseen items, best first; ``scores`` is
    ``(n_users, n_items)`` or ``(n_items,)`` shared by every row of ``seen``."""
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    k = _checks.positive_int("k", k)
    if k > scores.shape[1] or np.isnan(scores).any():
        raise ValueError(f"k must lie in 1..{scores.shape[1]} and scores hold no NaN")
    if seen is not None and (np.ndim(seen) != 2 or np.shape(seen)[1] != scores.shape[1]
                             or len(scores) not in (1, len(seen))):
        raise ValueError(f"seen has shape {np.shape(seen)}, scores {scores.shape}")
    return _top_candidates(scores, k, seen)


def _top_candidates(scores, k, seen):
    """The ``k`` best unseen items of each row; ties to the lower position; PAD pads."""
    if seen is not None:
        scores = np.where(seen, -np.inf, scores)  # a seen item is never a candidate
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.where(np.isneginf(np.take_along_axis(scores, order, 1)), PAD, order)


def rerank(candidates: np.ndarray, candidate_scores: np.ndarray) -> np.ndarray:
    """The same candidates re-ordered by a second-stage score; ties and padding keep their place."""
    candidates = np.asarray(candidates)
    if candidates.shape != np.shape(candidate_scores):
        raise ValueError(f"candidates {candidates.shape} and candidate_scores "
                         f"{np.shape(candidate_scores)} must have one shape")
    keyed = np.where(candidates != PAD, candidate_scores, -np.inf)
    order = np.argsort(-keyed, axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


# --------------------------------------------------------- rating models


def pair_features(users, items, user_table, movie_table, *, names, extra=None) -> dict:
    """The features ``names`` of each (user, movie) pair, looked up in the tables or ``extra``."""
    users, items = _checks.pairs(users, items, len(user_table["user_id"]),
                                 len(movie_table["movie_title"]))
    extra, out = dict(extra or {}), {}
    for name in names:
        if name in extra:
            out[name] = np.asarray(extra[name])
            if len(out[name]) != len(users):
                raise ValueError(f"extra column {name!r} has {len(out[name])} rows, want {len(users)}")
        elif name in user_table or name in movie_table:
            table, rows = (user_table, users) if name in user_table else (movie_table, items)
            out[name] = np.asarray(table[name])[rows]
        else:
            raise KeyError(f"unknown feature {name!r}; known: "
                           f"{sorted({*user_table, *movie_table, *extra})}")
    return out


class RatingModel(tfrs.Model):
    """Features in, one predicted rating out (TFRS ranking; with ``cross``, a DCN).

    The encodings are concatenated into ``x0``; ``cross=True`` adds a ``tfrs.layers.dcn.Cross``
    layer, ``x0 ∘ (W x0 + b) + x0``; then ``Dense`` layers and a ``Dense(1)`` whose bias starts
    at ``mean``. Two 32-wide id encoders, ``(256, 64)``, ``mean=0``: the TFRS ranking guide's.
    """

    def __init__(self, encoders: Mapping, *, layer_sizes: Sequence[int] = (256, 64),
                 cross: bool = False, mean: float = 0.0, label: str = "user_rating") -> None:
        super().__init__()
        if not encoders:
            raise ValueError("encoders must name at least one feature")
        self.feature_names, self.encoders, self.label = list(encoders), dict(encoders), label
        self.cross = tfrs.layers.dcn.Cross(kernel_initializer="glorot_uniform") if cross else None
        self.hidden = [tf.keras.layers.Dense(_checks.positive_int("layer size", s),
                                             activation="relu") for s in layer_sizes]
        self.output_layer = tf.keras.layers.Dense(
            1, bias_initializer=tf.keras.initializers.Constant(_checks.number("mean", mean)))
        self.task = tfrs.tasks.Ranking(loss=tf.keras.losses.MeanSquaredError(),
                                       metrics=[tf.keras.metrics.RootMeanSquaredError()])

    def encode(self, features):
        missing = [n for n in self.feature_names if n not in features]
        if missing:
            raise KeyError(f"missing feature(s) {missing}; this model reads {self.feature_names}")
        return [self.encoders[n](features[n]) for n in self.feature_names]

    def call(self, features):
        x0 = tf.concat(self.encode(features), axis=1)
        x = self.cross(x0) if self.cross is not None else x0
        for layer in self.hidden:
            x = layer(x)
        return self.output_layer(x)

    def compute_loss(self, features, training=False):
        return self.task(labels=features[self.label], predictions=self(features)[:, 0])


def rating_examples(model: RatingModel, features: Mapping) -> tf.data.Dataset:
    """The columns ``model`` reads, and its label, as a dataset for :func:`helpers.train.fit`."""
    missing = [n for n in [*model.feature_names, model.label] if n not in features]
    if missing:
        raise KeyError(f"features lack {missing}")
    return tf.data.Dataset.from_tensor_slices(
        {n: features[n] for n in [*model.feature_names, model.label]})


def predict_ratings(model: RatingModel, features: Mapping, *, clip: bool = True) -> np.ndarray:
    """The model's predicted ratings, clipped to 1-5 unless ``clip=False``."""
    inputs = tf.data.Dataset.from_tensor_slices({n: features[n] for n in model.feature_names})
    out = np.concatenate([model(b).numpy()[:, 0] for b in inputs.batch(8192)]).astype(float)
    return np.clip(out, 1.0, 5.0) if clip else out


def validation_rmse(validation: Mapping) -> Validate:
    """A callback that writes ``val_rmse``, the RMSE of clipped predictions on ``validation``."""
    return Validate("val_rmse", lambda model: rmse(predict_ratings(model, validation),
                                                   validation[model.label]))


def cross_block_norms(model: RatingModel, features: Mapping) -> np.ndarray:
    """Root mean square weight of each block ``W[a, b]`` of the cross layer (feature pairs)."""
    if model.cross is None:
        raise ValueError("the model has no cross layer (build it with cross=True)")
    sample = {n: np.asarray(features[n])[:2] for n in model.feature_names}
    edges = np.cumsum([0] + [int(e.shape[1]) for e in model.encode(sample)])
    W = model.cross._dense.kernel.numpy()  # x0 ∘ (x0 @ kernel + b): rows read x0
    n = len(edges) - 1
    blocks = [[W[edges[b]:edges[b + 1], edges[a]:edges[a + 1]] for b in range(n)]
              for a in range(n)]
    return np.array([[np.linalg.norm(x) / np.sqrt(x.size) for x in row] for row in blocks])


# ------------------------------------------------------------ re-rankers


def listwise_softmax_loss(labels, logits, mask=None):
    """``- sum_i y_i log softmax(s)_i / sum_i y_i`` over each list, then the mean.

    Padding (``mask`` 0) is left out; a list with no positive label contributes 0.
    """
    labels, logits = tf.cast(labels, tf.float32), tf.cast(logits, tf.float32)
    if mask is not None:
        mask = tf.cast(mask, tf.float32)
        logits = logits + (mask - 1.0) * 1e9  # padding: -1e9, out of the softmax
        labels = labels * mask
    log_p = tf.nn.log_softmax(logits, axis=-1)
    total = tf.reduce_sum(labels, axis=-1)
    return tf.reduce_mean(-tf.reduce_sum(labels * log_p, -1) / tf.maximum(total, 1.0))


def pointwise_loss(labels, logits, mask):
    """Binary cross-entropy of "will watch" on every real candidate."""
    labels, mask = tf.cast(labels > 0, tf.float32), tf.cast(mask, tf.float32)
    per = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(per * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


class Reranker(tfrs.Model):
    """Scores every candidate of a list from its features, with the same ``Dense`` layers.

    ``(batch, m, n_features)`` in, ``(batch, m)`` logits out; ``loss``: ``"listwise"``,
    ``"pointwise"`` or any function of ``(labels, logits, mask)``.
    """

    def __init__(self, n_features: int, hidden: Sequence[int] = (32, 16),
                 loss: str = "listwise") -> None:
        super().__init__()
        n_features = _checks.positive_int("n_features", n_features)
        losses = {"listwise": listwise_softmax_loss, "pointwise": pointwise_loss}
        if not callable(loss):
            loss = losses[_checks.one_of("loss", loss, tuple(losses))]
        self.loss_fn = loss
        self.scorer = tf.keras.Sequential(
            [tf.keras.Input((None, n_features))]
            + [tf.keras.layers.Dense(_checks.positive_int("width", h), activation="relu")
               for h in hidden] + [tf.keras.layers.Dense(1)])

    def call(self, features):
        return tf.squeeze(self.scorer(features), axis=-1)

    def compute_loss(self, inputs, training=False):
        return self.loss_fn(inputs["labels"], self(inputs["features"]), inputs["mask"])


def reranker_examples(features, labels, mask) -> tf.data.Dataset:
    """Users' candidate lists as a dataset: ``(n, m, f)`` features, ``(n, m)`` labels and mask."""
    features = np.asarray(features, np.float32)
    if features.ndim != 3 or not np.shape(labels) == np.shape(mask) == features.shape[:2]:
        raise ValueError(f"features must be (n_users, m, n_features) and labels, mask "
                         f"(n_users, m); got {features.shape}, {np.shape(labels)}, {np.shape(mask)}")
    return tf.data.Dataset.from_tensor_slices(
        {"features": features, "labels": np.asarray(labels, np.float32),
         "mask": np.asarray(mask, np.float32)})


class MultitaskModel(tfrs.Model):
    """Shared towers, two tasks: a full-softmax retrieval loss and a rating MLP's squared error.

    Loss: ``retrieval_weight * retrieval + rating_weight * rating`` (TFRS multitask guide).
    """

    def __init__(self, user_model, movie_model, movie_titles, retrieval_weight: float = 1.0,
                 rating_weight: float = 1.0, hidden: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        self.retrieval_weight = _checks.number("retrieval_weight", retrieval_weight, low=0)
        self.rating_weight = _checks.number("rating_weight", rating_weight, low=0)
        if self.retrieval_weight == 0 and self.rating_weight == 0:
            raise ValueError("at least one of the two weights must be > 0")
        self.user_model, self.movie_model = user_model, movie_model
        self.all_titles = tf.constant(np.asarray(movie_titles))
        self.title_index = tf.keras.layers.StringLookup(
            vocabulary=np.asarray(movie_titles), mask_token=None, num_oov_indices=0)
        self.rating_model = tf.keras.Sequential(
            [tf.keras.layers.Dense(h, activation="relu") for h in hidden]
            + [tf.keras.layers.Dense(1)])

    def predict_rating(self, user_embeddings, movie_embeddings):
        """Predicted stars for matching rows of user and title embeddings."""
        joint = tf.concat([user_embeddings, movie_embeddings], axis=1)
        return tf.squeeze(self.rating_model(joint), axis=-1)

    def compute_loss(self, features, training=False):
        user_embeddings = self.user_model(features["user_id"])
        movie_embeddings = self.movie_model(features["movie_title"])
        retrieval_loss = full_softmax_loss(
            user_embeddings, self.movie_model(self.all_titles),
            self.title_index(features["movie_title"]))
        predicted = self.predict_rating(user_embeddings, movie_embeddings)
        rating_loss = tf.reduce_mean(tf.square(features["user_rating"] - predicted))
        return self.retrieval_weight * retrieval_loss + self.rating_weight * rating_loss
