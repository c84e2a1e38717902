"""The two-tower retrieval model of the TFRS basic-retrieval recipe (chapter 3).

Chapter 3 builds this model step by step; chapters 4 and 5 reuse it from here
instead of copying cells. The pieces:

* :func:`build_towers`: the query tower ``user_model`` and the candidate tower
  ``movie_model``, each ``StringLookup`` + ``Embedding`` (one extra row for
  ids not in the vocabulary);
* :class:`RetrievalModel`: a ``tfrs.Model`` whose loss is
  ``tfrs.tasks.Retrieval`` (softmax over the in-batch candidates), with
  ``FactorizedTopK`` metrics computed only when evaluating, unless asked;
* :func:`train_recipe_model`: the recipe's settings end to end (dimension 32,
  Adagrad 0.1, batch 8,192, 3 epochs);
* :func:`embeddings`: every user's and every title's vector, as NumPy arrays,
  for :mod:`helpers.evaluate` and for indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

__all__ = [
    "build_towers",
    "RetrievalModel",
    "make_retrieval_model",
    "train_recipe_model",
    "embeddings",
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
    ``len(vocabulary) + 1`` rows.

    Raises:
        ValueError: an empty vocabulary or ``embedding_dim < 1``.
    """
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be a positive int, got {embedding_dim!r}")
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

    The training data are shuffled with a fixed seed and cached, exactly as in
    the recipe: ``train.shuffle(100_000).batch(8192).cache()``.

    Args:
        train: the ratings to learn from (``helpers.data.classic_split``).
        movies: the movies data set (its titles are the metric's candidates).
        user_ids, movie_titles: the vocabularies.
        seed: re-seeds TensorFlow before the weights are created, so a chapter
            that calls this gets the same model however many cells ran before.

    Returns:
        The fitted model; ``model.history.history["loss"]`` holds the loss of
        each epoch's last batch (what TFRS reports), until the next
        ``model.evaluate`` or ``model.predict`` replaces ``model.history``.
    """
    for name, value in (("num_epochs", num_epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    tf.keras.utils.set_random_seed(seed)
    model = make_retrieval_model(
        user_ids,
        movie_titles,
        movies.map(lambda x: x["movie_title"]),
        embedding_dim=embedding_dim,
        learning_rate=learning_rate,
        metrics_during_training=metrics_during_training,
    )
    cached_train = train.shuffle(100_000, seed=seed).batch(batch_size).cache()
    model.fit(cached_train, epochs=num_epochs, verbose=0)
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
