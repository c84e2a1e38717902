"""Retrieval models that beat the popularity baseline (chapter 5).

Chapter 3's recipe trains a two-tower model with an *in-batch* softmax: the
other movies of a batch are the negatives. Popular movies are in every batch,
so they are pushed down far more often than rare ones, and the recipe ends up
below "recommend what is popular". This module holds the fixes that chapter 5
measures, each small enough to carry to another model:

* :func:`validation_split`: carve a validation set out of train, so that
  settings are chosen without looking at test;
* :func:`as_dataset`: integer positions back to the ``{"user_id",
  "movie_title"}`` string features the towers read;
* :func:`candidate_probability`, :func:`batch_inclusion_probability` and
  :class:`LogQRetrievalModel`: the sampling-bias (logQ) correction of Yi et
  al. (2019), through ``candidate_sampling_probability`` of
  ``tfrs.tasks.Retrieval``;
* :class:`FullSoftmaxModel`: a softmax over the *whole* catalogue instead of
  the batch (a custom ``compute_loss``), with optional L2 on the embeddings;
* :class:`ValidationTopK`: a Keras callback that measures top-k accuracy on the
  validation split after every epoch, keeps the best weights and stops early;
* :func:`fit_retrieval`: seeds, batches and fits any of these models.

Every model's ``user_model`` and ``movie_model`` are chapter 3's towers
(:func:`helpers.retrieval.build_towers`), so :func:`helpers.retrieval.embeddings`
and :func:`helpers.evaluate.top_k_accuracy` measure them on the book's one scale.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers.data import EncodedSplit
from helpers.evaluate import top_k_accuracy
from helpers.retrieval import embeddings

__all__ = [
    "validation_split",
    "as_dataset",
    "candidate_probability",
    "batch_inclusion_probability",
    "LogQRetrievalModel",
    "FullSoftmaxModel",
    "ValidationTopK",
    "fit_retrieval",
]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def validation_split(
    split: EncodedSplit, fraction: float = 0.1, seed: int = 42
) -> EncodedSplit:
    """Hold out a random ``fraction`` of the *training* pairs for validation.

    The returned split's ``train_*`` are the remaining training pairs and its
    ``test_*`` are the held-out ones: pass it wherever a split is expected,
    tune on it, and touch the real test pairs only once, at the end. The
    original test pairs are not used at all.

    Args:
        split: the classic split (:func:`helpers.data.encode_split`).
        fraction: share of the training pairs to hold out, in ``(0, 1)``.
        seed: seed of the random permutation.

    Raises:
        TypeError: ``split`` is not an :class:`~helpers.data.EncodedSplit`.
        ValueError: ``fraction`` outside ``(0, 1)`` or leaving either part empty.
    """
    if not isinstance(split, EncodedSplit):
        raise TypeError(
            f"split must be an EncodedSplit (helpers.data.encode_split), "
            f"got {type(split).__name__}"
        )
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"fraction must be a number in (0, 1), got {fraction!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
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
) -> tf.data.Dataset:
    """Integer positions as a dataset of ``{"user_id", "movie_title"}`` strings.

    The towers of chapter 3 read strings; this turns the pairs of an
    :class:`~helpers.data.EncodedSplit` back into the recipe's features.

    Raises:
        ValueError: ``users`` and ``items`` of different lengths.
    """
    users, items = np.asarray(users), np.asarray(items)
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(
            f"users and items must be 1-D and of equal length, got shapes "
            f"{users.shape} and {items.shape}"
        )
    return tf.data.Dataset.from_tensor_slices(
        {
            "user_id": np.asarray(user_ids)[users],
            "movie_title": np.asarray(movie_titles)[items],
        }
    )


def _item_shares(train_items: np.ndarray, n_items: int) -> np.ndarray:
    n_items = _positive_int("n_items", n_items)
    train_items = np.asarray(train_items)
    if train_items.size == 0:
        raise ValueError("train_items is empty: no frequencies to estimate")
    if not np.issubdtype(train_items.dtype, np.integer):
        raise TypeError(f"train_items must be integer positions, got {train_items.dtype}")
    if train_items.min() < 0 or train_items.max() >= n_items:
        raise ValueError(f"item positions must lie in [0, {n_items})")
    return np.bincount(train_items, minlength=n_items) / train_items.size


def candidate_probability(train_items: np.ndarray, n_items: int) -> np.ndarray:
    """Probability that one in-batch candidate is item ``j``: its share of train.

    Every row of a batch is a training pair drawn at random, so each of the
    ``B`` candidate columns is item ``j`` with probability ``p_j``, the share
    of training pairs that are ``j``; an item present ``c`` times fills ``c``
    columns of the softmax. Subtracting ``log p_j`` from its logits is the logQ
    correction of sampled softmax (Yi et al., 2019). Items never seen in train
    get the smallest positive share of the seen ones, so the log stays finite.

    Returns:
        ``float64`` array of shape ``(n_items,)`` with values in ``(0, 1]``.

    Raises:
        ValueError: ``n_items`` not positive, no training pairs, or positions
            outside ``0..n_items-1``.
        TypeError: non-integer positions.
    """
    share = _item_shares(train_items, n_items)
    share[share == 0] = share[share > 0].min()
    return share


def batch_inclusion_probability(
    train_items: np.ndarray, n_items: int, batch_size: int
) -> np.ndarray:
    """Probability that each item appears at least once in a random batch.

    With ``p_j`` the share of training pairs that are item ``j``, a batch of
    ``B`` pairs drawn at random contains ``j`` with probability
    ``1 - (1 - p_j) ** B``. This is the "sampling probability" of the logQ
    correction as it is often described ("the probability that the item is
    in the batch"). It saturates at 1 for every popular item, so it ignores
    that a popular item fills many columns of the same batch; chapter 5
    measures that it corrects far less than :func:`candidate_probability`.
    Items never seen in train get the smallest positive probability of the
    seen ones, so their logarithm stays finite.

    Returns:
        ``float64`` array of shape ``(n_items,)`` with values in ``(0, 1]``.

    Raises:
        ValueError: ``n_items`` or ``batch_size`` not positive, no training
            pairs, or positions outside ``0..n_items-1``.
    """
    batch_size = _positive_int("batch_size", batch_size)
    share = _item_shares(train_items, n_items)
    probability = -np.expm1(batch_size * np.log1p(-np.minimum(share, 1 - 1e-12)))
    probability[share == 0] = probability[share > 0].min()
    return probability


class LogQRetrievalModel(tfrs.Model):
    """Chapter 3's model with the sampling-bias (logQ) correction.

    ``tfrs.tasks.Retrieval`` subtracts ``log q_j`` from every in-batch logit of
    candidate ``j`` when given ``candidate_sampling_probability``; popular
    movies, which are negatives in nearly every batch, are then no longer
    pushed down for being popular.

    Args:
        user_model, movie_model: the towers (:func:`helpers.retrieval.build_towers`).
        movie_titles: the title vocabulary, in the order of ``probability``.
        probability: ``q_j`` for every title, e.g. from
            :func:`candidate_probability`.
        remove_accidental_hits: also drop, from each row's negatives, the
            other copies of the row's own positive title in the batch.
    """

    def __init__(
        self,
        user_model: tf.keras.Model,
        movie_model: tf.keras.Model,
        movie_titles: Sequence[str] | np.ndarray,
        probability: np.ndarray,
        remove_accidental_hits: bool = False,
    ) -> None:
        super().__init__()
        probability = np.asarray(probability, dtype=np.float64)
        movie_titles = np.asarray(movie_titles)
        if probability.shape != movie_titles.shape:
            raise ValueError(
                f"probability needs one entry per title: got {probability.shape} "
                f"for {movie_titles.shape} titles"
            )
        if not np.all((probability > 0) & (probability <= 1)):
            raise ValueError("probabilities must lie in (0, 1]; log q must be finite")
        self.user_model = user_model
        self.movie_model = movie_model
        self.remove_accidental_hits = remove_accidental_hits
        self.title_index = tf.keras.layers.StringLookup(
            vocabulary=movie_titles, mask_token=None, num_oov_indices=1
        )
        # Index 0 is the out-of-vocabulary bucket: give it the rarest probability.
        table = np.concatenate([[probability.min()], probability]).astype(np.float32)
        self.probability = tf.constant(table)
        self.task = tfrs.tasks.Retrieval(remove_accidental_hits=remove_accidental_hits)

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        user_embeddings = self.user_model(features["user_id"])
        movie_embeddings = self.movie_model(features["movie_title"])
        ids = self.title_index(features["movie_title"])
        return self.task(
            user_embeddings,
            movie_embeddings,
            candidate_sampling_probability=tf.gather(self.probability, ids),
            candidate_ids=ids if self.remove_accidental_hits else None,
            compute_metrics=False,
        )


class FullSoftmaxModel(tfrs.Model):
    """Two towers trained with a softmax over every title in the catalogue.

    For a batch of users ``U`` (``B x d``) and all titles ``V`` (``n x d``) the
    logits are ``U @ V.T`` (``B x n``) and the loss is the cross-entropy of the
    watched title: the exact softmax that in-batch negatives approximate. With
    1,664 titles it is also cheaper than an 8,192-wide in-batch softmax.

    Args:
        user_model, movie_model: the towers (:func:`helpers.retrieval.build_towers`).
        movie_titles: every title (the columns of the softmax).
        l2: weight of the L2 penalty on the embeddings used in the batch
            (``l2 * mean squared norm`` of the batch's user and title vectors
            plus all title vectors' mean squared norm); 0 turns it off.
    """

    def __init__(
        self,
        user_model: tf.keras.Model,
        movie_model: tf.keras.Model,
        movie_titles: Sequence[str] | np.ndarray,
        l2: float = 0.0,
    ) -> None:
        super().__init__()
        movie_titles = np.asarray(movie_titles)
        if movie_titles.ndim != 1 or len(movie_titles) == 0:
            raise ValueError("movie_titles must be a non-empty 1-D vocabulary")
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
            raise ValueError(f"l2 must be a number >= 0, got {l2!r}")
        self.user_model = user_model
        self.movie_model = movie_model
        self.l2 = float(l2)
        self.all_titles = tf.constant(movie_titles)
        self.title_index = tf.keras.layers.StringLookup(
            vocabulary=movie_titles, mask_token=None, num_oov_indices=0
        )
        self.loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        user_embeddings = self.user_model(features["user_id"])  # (B, d)
        all_movie_embeddings = self.movie_model(self.all_titles)  # (n, d)
        logits = tf.matmul(user_embeddings, all_movie_embeddings, transpose_b=True)
        labels = self.title_index(features["movie_title"])  # column of the watched title
        loss = self.loss_fn(labels, logits)
        if self.l2:
            loss += self.l2 * (
                tf.reduce_mean(tf.reduce_sum(tf.square(user_embeddings), axis=1))
                + tf.reduce_mean(tf.reduce_sum(tf.square(all_movie_embeddings), axis=1))
            )
        return loss


class ValidationTopK(tf.keras.callbacks.Callback):
    """Early stopping on top-k accuracy of a validation split.

    After every epoch, scores every validation pair with the model's towers,
    records the top-``k`` accuracy in :attr:`history`, remembers the weights of
    the best epoch, and stops training after ``patience`` epochs without
    improvement. At the end of training the best weights are restored.
    As in Keras's ``EarlyStopping``, a gain of no more than ``min_delta``
    does not count as an improvement (validation accuracy on a few thousand
    pairs is noisy in its third decimal).

    Args:
        validation: a split whose ``test_*`` pairs are the validation pairs
            (from :func:`validation_split`).
        k: the cut-off to monitor (100: the book's widest list).
        patience: epochs without improvement before stopping.
        min_delta: smallest gain in accuracy that counts as an improvement.
    """

    def __init__(
        self,
        validation: EncodedSplit,
        k: int = 100,
        patience: int = 3,
        min_delta: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(validation, EncodedSplit):
            raise TypeError("validation must be an EncodedSplit (use validation_split)")
        self.validation = validation
        self.k = _positive_int("k", k)
        self.patience = _positive_int("patience", patience)
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        self.history: list[float] = []
        self.best_epoch = -1
        self._best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        v = self.validation
        U, V = embeddings(self.model, v.user_ids, v.movie_titles)
        accuracy = top_k_accuracy(U @ V.T, v.test_users, v.test_items, ks=(self.k,))[self.k]
        self.history.append(accuracy)
        if self.best_epoch < 0 or accuracy > self.history[self.best_epoch] + self.min_delta:
            self.best_epoch = epoch
            self._best_weights = self.model.get_weights()
        elif epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)


def fit_retrieval(
    model: tfrs.Model,
    split: EncodedSplit,
    *,
    optimizer: tf.keras.optimizers.Optimizer,
    num_epochs: int,
    batch_size: int,
    validation: EncodedSplit | None = None,
    k: int = 100,
    patience: int = 3,
    min_delta: float = 0.0,
    seed: int = 42,
) -> dict:
    """Fit a retrieval model on ``split``'s training pairs, seeded and timed.

    The pairs are shuffled once with ``seed`` (as the recipe does) and batched.
    With ``validation``, a :class:`ValidationTopK` callback (``k``,
    ``patience``, ``min_delta``) stops early and restores the best epoch's
    weights.

    Returns:
        ``{"seconds", "epochs", "best_epoch", "loss", "validation"}``:
        wall-clock training time, epochs run, the 1-based epoch whose weights
        the model ends with (the last one without ``validation``), per-epoch
        training loss, per-epoch validation top-``k`` accuracy (empty without
        ``validation``).
    """
    if not isinstance(split, EncodedSplit):
        raise TypeError("split must be an EncodedSplit (helpers.data.encode_split)")
    num_epochs = _positive_int("num_epochs", num_epochs)
    batch_size = _positive_int("batch_size", batch_size)
    tf.keras.utils.set_random_seed(seed)
    data = as_dataset(split.train_users, split.train_items, split.user_ids, split.movie_titles)
    data = data.shuffle(len(split.train_items), seed=seed).batch(batch_size).cache()
    callbacks = (
        [ValidationTopK(validation, k=k, patience=patience, min_delta=min_delta)]
        if validation
        else []
    )
    model.compile(optimizer=optimizer)
    start = time.perf_counter()
    history = model.fit(data, epochs=num_epochs, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "epochs": len(history.history["loss"]),
        "best_epoch": (
            callbacks[0].best_epoch + 1 if callbacks else len(history.history["loss"])
        ),
        "loss": [float(x) for x in history.history["loss"]],
        "validation": list(callbacks[0].history) if callbacks else [],
    }
