"""Two-tower retrieval: a user tower and a movie tower whose dot product scores a pair.

The models differ only in their loss: softmax over in-batch candidates (:class:`RetrievalModel`,
the TFRS recipe), with the logQ correction (:class:`LogQRetrievalModel`), or over the whole
catalogue (:class:`FullSoftmaxModel`).
"""

from __future__ import annotations

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks
from helpers.data import EncodedSplit, as_dataset
from helpers.metrics import top_k_accuracy
from helpers.train import Validate, fit


def build_towers(user_ids, movie_titles, embedding_dim: int = 32):
    """``(user_model, movie_model)``: each ``StringLookup`` + ``Embedding`` (row 0: unknown)."""
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    towers = []
    for name, vocabulary in (("user_ids", user_ids), ("movie_titles", movie_titles)):
        vocabulary = np.asarray(vocabulary)
        if vocabulary.ndim != 1 or len(vocabulary) == 0:
            raise ValueError(f"{name} must be a non-empty 1-D vocabulary")
        towers.append(tf.keras.Sequential([
            tf.keras.layers.StringLookup(vocabulary=vocabulary, mask_token=None),
            tf.keras.layers.Embedding(len(vocabulary) + 1, embedding_dim)]))
    return towers[0], towers[1]


class RetrievalModel(tfrs.Model):
    """The recipe's model: two towers and a ``tfrs.tasks.Retrieval`` loss; its metrics
    run when evaluating, and in training only with ``metrics_during_training``."""

    def __init__(self, user_model, movie_model, task, metrics_during_training=False):
        super().__init__()
        self.user_model = user_model
        self.movie_model = movie_model
        self.task = task
        self.metrics_during_training = metrics_during_training

    def compute_loss(self, features, training=False):
        """Softmax cross-entropy of each user's movie against the batch's movies."""
        user_embeddings = self.user_model(features["user_id"])
        positive_movie_embeddings = self.movie_model(features["movie_title"])
        return self.task(user_embeddings, positive_movie_embeddings,
                         compute_metrics=self.metrics_during_training or not training)


def make_retrieval_model(user_ids, movie_titles, *, embedding_dim: int = 32,
                         candidates: tf.data.Dataset | None = None,
                         metrics_during_training: bool = False) -> RetrievalModel:
    """A :class:`RetrievalModel`; with ``candidates`` (a dataset of titles), ``FactorizedTopK``."""
    if candidates is not None and not isinstance(candidates, tf.data.Dataset):
        raise TypeError("candidates must be a tf.data.Dataset of titles, e.g. "
                        "movies.map(lambda x: x['movie_title'])")
    user_model, movie_model = build_towers(user_ids, movie_titles, embedding_dim)
    metrics = None
    if candidates is not None:
        metrics = tfrs.metrics.FactorizedTopK(candidates=candidates.batch(128).map(movie_model))
    return RetrievalModel(user_model, movie_model, tfrs.tasks.Retrieval(metrics=metrics),
                          metrics_during_training)


def training_pairs(split: EncodedSplit) -> tf.data.Dataset:
    """A split's training pairs as ``{"user_id", "movie_title"}`` strings, for :func:`fit`."""
    return as_dataset(split.train_users, split.train_items, split.user_ids, split.movie_titles)


def train_recipe_model(train: tf.data.Dataset, movies: tf.data.Dataset, user_ids, movie_titles,
                       *, embedding_dim: int = 32, learning_rate: float = 0.1,
                       num_epochs: int = 3, batch_size: int = 8192,
                       metrics_during_training: bool = False, seed: int = 42) -> RetrievalModel:
    """Build and :func:`fit` the recipe's model (its ``FactorizedTopK`` ranks ``movies``' titles;
    ``metrics_during_training`` leaves the weights the same)."""
    tf.keras.utils.set_random_seed(seed)  # the metric's candidates build the towers now
    model = make_retrieval_model(user_ids, movie_titles, embedding_dim=embedding_dim,
                                 candidates=movies.map(lambda x: x["movie_title"]),
                                 metrics_during_training=metrics_during_training)
    fit(model, train, optimizer=tf.keras.optimizers.Adagrad(learning_rate), epochs=num_epochs,
        batch_size=batch_size, seed=seed)
    return model


def embeddings(model, user_ids, movie_titles) -> tuple[np.ndarray, np.ndarray]:
    """``(U, V)``: every user's and every title's vector, rows in vocabulary order."""
    U = model.user_model(tf.constant(np.asarray(user_ids))).numpy()
    V = model.movie_model(tf.constant(np.asarray(movie_titles))).numpy()
    return U, V


def validation_score(validation: EncodedSplit, k: int):
    """Top-k accuracy on the validation pairs, as a function of the model."""

    def score(model):
        U, V = embeddings(model, validation.user_ids, validation.movie_titles)
        return top_k_accuracy(U @ V.T, validation.test_users, validation.test_items,
                              (k,))[k]

    return score


def validation_top_k(validation: EncodedSplit, k: int = 100) -> Validate:
    """A callback for :func:`fit` that writes ``val_top_{k}``, :func:`validation_score`."""
    if not isinstance(validation, EncodedSplit):
        raise TypeError("validation must be an EncodedSplit (helpers.data.validation_split), "
                        f"got {type(validation).__name__}")
    return Validate(f"val_top_{k}", validation_score(validation, _checks.positive_int("k", k)))


# --------------------------------------------------------- logQ correction


def _item_shares(train_items, n_items: int) -> np.ndarray:
    n_items = _checks.positive_int("n_items", n_items)
    train_items = _checks.positions("train_items", train_items, n_items, what="items")
    if train_items.size == 0:
        raise ValueError("train_items is empty: no frequencies to estimate")
    return np.bincount(train_items, minlength=n_items) / train_items.size


def candidate_probability(train_items, n_items: int) -> np.ndarray:
    """``q_j``: the chance an in-batch candidate is item ``j``, its share of train (unseen
    items: the smallest seen share, so ``log q`` stays finite)."""
    share = _item_shares(train_items, n_items)
    share[share == 0] = share[share > 0].min()
    return share


def batch_inclusion_probability(train_items, n_items: int, batch_size: int) -> np.ndarray:
    """``1 - (1 - p_j) ** B``: the chance item ``j`` is at least once in a batch of ``B``."""
    batch_size = _checks.positive_int("batch_size", batch_size)
    share = _item_shares(train_items, n_items)
    probability = -np.expm1(batch_size * np.log1p(-np.minimum(share, 1 - 1e-12)))
    probability[share == 0] = probability[share > 0].min()
    return probability


class LogQRetrievalModel(tfrs.Model):
    """The recipe's model with ``log q_j`` subtracted from every in-batch logit of title ``j``."""

    def __init__(self, user_model, movie_model, movie_titles, probability,
                 remove_accidental_hits: bool = False) -> None:
        super().__init__()
        probability, movie_titles = np.asarray(probability, float), np.asarray(movie_titles)
        if probability.shape != movie_titles.shape:
            raise ValueError(f"probability needs one entry per title: got {probability.shape} "
                             f"for {movie_titles.shape} titles")
        if not np.all((probability > 0) & (probability <= 1)):
            raise ValueError("probabilities must lie in (0, 1]; log q must be finite")
        self.user_model, self.movie_model = user_model, movie_model
        self.remove_accidental_hits = remove_accidental_hits
        self.title_index = tf.keras.layers.StringLookup(vocabulary=movie_titles, mask_token=None)
        # index 0 is the unknown-title bucket: the rarest probability
        table = np.concatenate([[probability.min()], probability]).astype(np.float32)
        self.probability = tf.constant(table)
        self.task = tfrs.tasks.Retrieval(remove_accidental_hits=remove_accidental_hits)

    def compute_loss(self, features, training=False):
        user_embeddings = self.user_model(features["user_id"])
        movie_embeddings = self.movie_model(features["movie_title"])
        ids = self.title_index(features["movie_title"])
        probability = tf.gather(self.probability, ids)
        return self.task(user_embeddings, movie_embeddings,
                         candidate_sampling_probability=probability,
                         candidate_ids=ids if self.remove_accidental_hits else None,
                         compute_metrics=False)


# ------------------------------------------------------------ full softmax


def full_softmax_loss(user_embeddings, all_movie_embeddings, labels):
    """Cross-entropy of each user's movie (column ``labels``) over every title's logit."""
    logits = tf.matmul(user_embeddings, all_movie_embeddings, transpose_b=True)  # (B, n)
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


class FullSoftmaxModel(tfrs.Model):
    """Two towers trained with a softmax over the whole catalogue; ``l2`` weighs the mean
    squared norm of the batch's user vectors and of every title vector."""

    def __init__(self, user_model, movie_model, movie_titles, l2: float = 0.0) -> None:
        super().__init__()
        movie_titles = np.asarray(movie_titles)
        if movie_titles.ndim != 1 or len(movie_titles) == 0:
            raise ValueError("movie_titles must be a non-empty 1-D vocabulary")
        self.user_model, self.movie_model = user_model, movie_model
        self.l2 = _checks.number("l2", l2, low=0.0)
        self.all_titles = tf.constant(movie_titles)
        self.title_index = tf.keras.layers.StringLookup(
            vocabulary=movie_titles, mask_token=None, num_oov_indices=0)

    def compute_loss(self, features, training=False):
        user_embeddings = self.user_model(features["user_id"])  # (B, d)
        all_movie_embeddings = self.movie_model(self.all_titles)  # (n, d)
        labels = self.title_index(features["movie_title"])  # the watched title's column
        loss = full_softmax_loss(user_embeddings, all_movie_embeddings, labels)
        if self.l2:
            def squared(x):
                return tf.reduce_mean(tf.reduce_sum(tf.square(x), axis=1))

            loss += self.l2 * (squared(user_embeddings) + squared(all_movie_embeddings))
        return loss
