"""Two-tower retrieval models, their losses, and the one loop that trains them.

Chapter 3 builds the TFRS basic-retrieval recipe step by step; chapter 5 fixes
what holds it back; later chapters reuse all of it from here. The pieces:

* :func:`build_towers`: the query tower ``user_model`` and the candidate tower
  ``movie_model``, each ``StringLookup`` + ``Embedding``;
* :class:`RetrievalModel`: a ``tfrs.Model`` whose loss is
  ``tfrs.tasks.Retrieval`` (softmax over the in-batch candidates), with
  ``FactorizedTopK`` metrics computed only when evaluating, unless asked;
* :class:`LogQRetrievalModel`, with :func:`candidate_probability` and
  :func:`batch_inclusion_probability`: the sampling-bias (logQ) correction of
  Yi et al. (2019);
* :class:`FullSoftmaxModel`: a softmax over the *whole* catalogue, with
  optional L2 on the embeddings;
* :class:`ValidationTopK`: early stopping on validation top-k accuracy;
* :func:`fit_retrieval`: the one training loop (seed, shuffle, batch, fit)
  for every model above; :func:`train_recipe_model` is the recipe's settings
  passed to it;
* :func:`embeddings`: every user's and every title's vector, as NumPy arrays,
  for :mod:`helpers.evaluate` and for indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks
from helpers.timing import Stopwatch
from helpers.data import EncodedSplit, as_dataset
from helpers.evaluate import top_k_accuracy

__all__ = [
    "build_towers",
    "RetrievalModel",
    "make_retrieval_model",
    "train_recipe_model",
    "embeddings",
    "candidate_probability",
    "batch_inclusion_probability",
    "LogQRetrievalModel",
    "FullSoftmaxModel",
    "ValidationTopK",
    "fit_retrieval",
]


def build_towers(
    user_ids: Sequence[str] | np.ndarray,
    movie_titles: Sequence[str] | np.ndarray,
    embedding_dim: int = 32,
) -> tuple[tf.keras.Model, tf.keras.Model]:
    """The query and candidate towers: ``(user_model, movie_model)``.

    Each maps a batch of strings to ``embedding_dim``-dimensional vectors:
    ``StringLookup`` turns a string into an integer (0 for anything not in the
    vocabulary), ``Embedding`` looks up that row of a trainable table with
    ``len(vocabulary) + 1`` rows (the vocabulary's rows and row 0 for
    everything unknown).

    Raises:
        ValueError: an empty vocabulary or ``embedding_dim < 1``.
        TypeError: ``embedding_dim`` is not an int.
    """
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    towers = []
    for name, vocabulary in (("user_ids", user_ids), ("movie_titles", movie_titles)):
        vocabulary = np.asarray(vocabulary)
        if vocabulary.ndim != 1 or len(vocabulary) == 0:
            raise ValueError(f"{name} must be a non-empty 1-D vocabulary")
        towers.append(
            tf.keras.Sequential(
                [
                    tf.keras.layers.StringLookup(vocabulary=vocabulary, mask_token=None),
                    tf.keras.layers.Embedding(len(vocabulary) + 1, embedding_dim),
                ]
            )
        )
    return towers[0], towers[1]


class RetrievalModel(tfrs.Model):
    """User tower, movie tower and a retrieval task, as in the TFRS recipe.

    Args:
        user_model: maps ``features["user_id"]`` to query embeddings.
        movie_model: maps ``features["movie_title"]`` to candidate embeddings.
        task: a ``tfrs.tasks.Retrieval``.
        metrics_during_training: compute the task's metrics on every training
            step too. The recipe as usually written does; computing top-k over
            every candidate on every step is most of the training time, so the
            default computes metrics only in ``evaluate``.
    """

    def __init__(
        self,
        user_model: tf.keras.Model,
        movie_model: tf.keras.Model,
        task: tfrs.tasks.Retrieval,
        metrics_during_training: bool = False,
    ) -> None:
        super().__init__()
        self.user_model = user_model
        self.movie_model = movie_model
        self.task = task
        self.metrics_during_training = metrics_during_training

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """The batch's loss: softmax cross-entropy over the in-batch candidates.

        Scores every user of the batch against every movie of the batch and
        sums, over the batch, ``-log softmax`` of each user's own movie. The
        task's metrics are updated when evaluating (``training=False``) and,
        in training, only if ``metrics_during_training``.
        """
        user_embeddings = self.user_model(features["user_id"])
        positive_movie_embeddings = self.movie_model(features["movie_title"])
        return self.task(
            user_embeddings,
            positive_movie_embeddings,
            compute_metrics=self.metrics_during_training or not training,
        )


def make_retrieval_model(
    user_ids: Sequence[str] | np.ndarray,
    movie_titles: Sequence[str] | np.ndarray,
    candidates: tf.data.Dataset,
    *,
    embedding_dim: int = 32,
    learning_rate: float = 0.1,
    metrics_during_training: bool = False,
) -> RetrievalModel:
    """A compiled :class:`RetrievalModel` with the recipe's settings.

    Args:
        user_ids, movie_titles: the vocabularies (:func:`helpers.data.vocabularies`).
        candidates: the movie titles ``FactorizedTopK`` ranks against, a
            dataset of strings (the recipe uses all 1,682 movies' titles).
        embedding_dim: size of both towers' output.
        learning_rate: Adagrad's learning rate.
        metrics_during_training: see :class:`RetrievalModel`.
    """
    if not isinstance(candidates, tf.data.Dataset):
        raise TypeError(
            "candidates must be a tf.data.Dataset of movie titles, e.g. "
            "movies.map(lambda x: x['movie_title'])"
        )
    user_model, movie_model = build_towers(user_ids, movie_titles, embedding_dim)
    task = tfrs.tasks.Retrieval(
        metrics=tfrs.metrics.FactorizedTopK(candidates=candidates.batch(128).map(movie_model))
    )
    model = RetrievalModel(user_model, movie_model, task, metrics_during_training)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=learning_rate))
    return model


def train_recipe_model(
    train: tf.data.Dataset,
    movies: tf.data.Dataset,
    user_ids: Sequence[str] | np.ndarray,
    movie_titles: Sequence[str] | np.ndarray,
    *,
    embedding_dim: int = 32,
    learning_rate: float = 0.1,
    num_epochs: int = 3,
    batch_size: int = 8192,
    metrics_during_training: bool = False,
    seed: int = 42,
) -> RetrievalModel:
    """Build and fit chapter 3's model with the recipe's settings.

    The recipe as a call of :func:`fit_retrieval`: the ratings shuffled once
    with a fixed seed, batches of 8,192, Adagrad 0.1, three epochs.

    Args:
        train: the ratings to learn from (``helpers.data.classic_split``).
        movies: the movies data set (its titles are the metric's candidates).
        user_ids, movie_titles: the vocabularies.
        seed: re-seeds TensorFlow before the weights are created, so a chapter
            that calls this gets the same model however many cells ran before.

    Returns:
        The fitted model.
    """
    tf.keras.utils.set_random_seed(seed)
    model = make_retrieval_model(
        user_ids,
        movie_titles,
        movies.map(lambda x: x["movie_title"]),
        embedding_dim=embedding_dim,
        learning_rate=learning_rate,
        metrics_during_training=metrics_during_training,
    )
    fit_retrieval(
        model,
        train,
        optimizer=tf.keras.optimizers.Adagrad(learning_rate=learning_rate),
        num_epochs=num_epochs,
        batch_size=batch_size,
        seed=seed,
    )
    return model


def embeddings(
    model: RetrievalModel,
    user_ids: Sequence[str] | np.ndarray,
    movie_titles: Sequence[str] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Every user's and every title's embedding, as ``(U, V)`` NumPy arrays.

    ``U @ V.T`` is then the full score matrix that
    :func:`helpers.evaluate.top_k_accuracy` takes, rows and columns in
    vocabulary order.
    """
    U = model.user_model(tf.constant(np.asarray(user_ids))).numpy()
    V = model.movie_model(tf.constant(np.asarray(movie_titles))).numpy()
    return U, V


def _item_shares(train_items: np.ndarray, n_items: int) -> np.ndarray:
    n_items = _checks.positive_int("n_items", n_items)
    train_items = _checks.positions("train_items", train_items, n_items, what="items")
    if train_items.size == 0:
        raise ValueError("train_items is empty: no frequencies to estimate")
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
    batch_size = _checks.positive_int("batch_size", batch_size)
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
        self.user_model = user_model
        self.movie_model = movie_model
        self.l2 = _checks.number("l2", l2, low=0.0)
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
            raise TypeError(
                "validation must be an EncodedSplit (use helpers.data.validation_split), "
                f"got {type(validation).__name__}"
            )
        self.validation = validation
        self.k = _checks.positive_int("k", k)
        self.patience = _checks.positive_int("patience", patience)
        self.min_delta = _checks.number("min_delta", min_delta, low=0.0)
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
    train: EncodedSplit | tf.data.Dataset,
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
    """The book's one training loop: seed, shuffle once, batch, fit, time.

    Every retrieval model of the book is trained by this function, the
    recipe's included (:func:`train_recipe_model`). The training examples are
    shuffled once with ``seed`` (as the recipe does), batched and cached, and
    the model is fitted with ``optimizer``. With ``validation``, a
    :class:`ValidationTopK` callback (``k``, ``patience``, ``min_delta``)
    stops early and restores the best epoch's weights.

    Args:
        model: a ``tfrs.Model`` (anything with a ``compute_loss``).
        train: the training examples: an :class:`~helpers.data.EncodedSplit`
            (its ``train_*`` pairs, as ``{"user_id", "movie_title"}``), or a
            ``tf.data.Dataset`` of feature dictionaries (the ratings
            themselves, with every feature a model may read).
        optimizer: a Keras optimizer, e.g. ``tf.keras.optimizers.Adagrad(0.1)``.
        num_epochs: passes over the data (the most, with ``validation``).
        batch_size: examples per gradient step.
        seed: seeds TensorFlow and the shuffle.

    Returns:
        ``{"seconds", "cpu_seconds", "epochs", "best_epoch", "loss", "validation"}``:
        wall-clock and CPU training time, epochs run, the 1-based epoch whose weights
        the model ends with (the last one without ``validation``), each
        epoch's training loss (the last batch's: what Keras reports for a
        ``tfrs.Model``), per-epoch validation top-``k`` accuracy (empty
        without ``validation``).
    """
    data = _training_examples(train)
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    batch_size = _checks.positive_int("batch_size", batch_size)
    seed = _checks.non_negative_int("seed", seed)
    callbacks = []
    if validation is not None:
        callbacks.append(ValidationTopK(validation, k, patience, min_delta))

    tf.keras.utils.set_random_seed(seed)
    batches = data.shuffle(100_000, seed=seed).batch(batch_size).cache()
    model.compile(optimizer=optimizer)
    with Stopwatch() as clock:
        history = model.fit(batches, epochs=num_epochs, verbose=0, callbacks=callbacks)

    losses = [float(x) for x in history.history["loss"]]
    return {
        "seconds": clock.seconds,
        "cpu_seconds": clock.cpu_seconds,
        "epochs": len(losses),
        "best_epoch": callbacks[0].best_epoch + 1 if callbacks else len(losses),
        "loss": losses,
        "validation": list(callbacks[0].history) if callbacks else [],
    }


def _training_examples(train: EncodedSplit | tf.data.Dataset) -> tf.data.Dataset:
    """The examples :func:`fit_retrieval` trains on, as a dataset of feature dicts."""
    if isinstance(train, EncodedSplit):
        return as_dataset(train.train_users, train.train_items, train.user_ids, train.movie_titles)
    if isinstance(train, tf.data.Dataset):
        return train
    raise TypeError(
        "train must be an EncodedSplit (helpers.data.encode_split) or a tf.data.Dataset "
        f"of feature dictionaries, got {type(train).__name__}"
    )
