"""Data parallelism with ``tf.distribute``: one model trained by several worker processes.

``MultiWorkerMirroredStrategy`` runs the same program in every worker, which learns its role
from ``TF_CONFIG``. :func:`run_workers` (:mod:`helpers._launch`) starts the workers on one
computer; :func:`train_retrieval` is what each runs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from helpers import _checks
from helpers._launch import HOST, WorkerError, WorkerTimeout, free_ports, run_workers, tf_config

__all__ = ["HOST", "WorkerError", "WorkerTimeout", "free_ports", "run_workers", "tf_config",
           "train_retrieval"]


def _pairs(name: str, pairs) -> dict[str, np.ndarray] | None:
    """``{"user_id", "movie_title"}`` as two equally long, non-empty string arrays."""
    if pairs is None and name == "test":
        return None
    if not isinstance(pairs, Mapping) or not {"user_id", "movie_title"} <= set(pairs):
        raise TypeError(f"{name} must be a dict with 'user_id' and 'movie_title' arrays "
                        "(helpers.data.to_arrays gives one)")
    users, titles = (np.asarray(pairs[k]).astype(str) for k in ("user_id", "movie_title"))
    if users.ndim != 1 or users.shape != titles.shape or len(users) == 0:
        raise ValueError(f"{name}: 'user_id' and 'movie_title' must be 1-D, non-empty and of "
                         f"equal length, got shapes {users.shape} and {titles.shape}")
    return {"user_id": users, "movie_title": titles}


def _train_retrieval(train, test, user_ids, movie_titles, embedding_dim, learning_rate,
                     num_epochs, batch_size, seed, metrics_during_training, reduction):
    """The recipe's model, trained on this worker's share of every global batch."""
    import tensorflow as tf  # here: the launcher's tests run without TensorFlow
    from helpers.retrieval import embeddings, make_retrieval_model
    from helpers.train import fit

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    with strategy.scope():  # every variable mirrored, one copy per replica
        tf.keras.utils.set_random_seed(seed)
        model = make_retrieval_model(
            user_ids, movie_titles, embedding_dim=embedding_dim,
            candidates=tf.data.Dataset.from_tensor_slices(movie_titles),
            metrics_during_training=metrics_during_training)
        model.distribute_reduction_method = reduction  # "auto" sums the replicas
        run = fit(model, _by_data(train), epochs=num_epochs, batch_size=batch_size,
                  optimizer=tf.keras.optimizers.Adagrad(learning_rate), seed=seed)
        keras = None if test is None else model.evaluate(
            _by_data(test).batch(4096), return_dict=True, verbose=0)
    U, V = embeddings(model, user_ids, movie_titles)
    return dict(run, task_id=int(strategy.cluster_resolver.task_id or 0),
                replicas_in_sync=strategy.num_replicas_in_sync,
                keras_evaluate=keras, user_embeddings=U, movie_embeddings=V)


def _by_data(pairs):
    """The pairs, sharded with ``AutoShardPolicy.DATA``: each worker takes part of each batch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return tf.data.Dataset.from_tensor_slices(pairs).with_options(options)


def train_retrieval(train, user_ids, movie_titles, *, test=None, embedding_dim: int = 32,
                    learning_rate: float = 0.1, num_epochs: int = 3, batch_size: int = 8192,
                    seed: int = 42, metrics_during_training: bool = False,
                    distribute_reduction_method: str = "auto") -> dict:
    """Train the recipe's retrieval model under ``MultiWorkerMirroredStrategy``.

    ``train``, ``test``: ``{"user_id", "movie_title"}`` arrays. ``batch_size`` is the *global*
    batch: each of ``n`` replicas (one without ``TF_CONFIG``) takes ``batch_size / n`` of it,
    with its own in-batch negatives. With ``test``, ``model.evaluate`` runs under the strategy;
    Keras 2 adds the replicas' results (``"auto"``) or takes the first's (``"first"``).

    Returns :func:`helpers.train.fit`'s result with the worker's ``task_id``,
    ``replicas_in_sync``, ``keras_evaluate``, ``user_embeddings`` and ``movie_embeddings``
    (rows in vocabulary order).
    """
    train, test = _pairs("train", train), _pairs("test", test)
    helpers.setup(_checks.non_negative_int("seed", seed))  # this worker's seeds, deterministic ops
    return _train_retrieval(
        train, test, np.asarray(user_ids), np.asarray(movie_titles),
        _checks.positive_int("embedding_dim", embedding_dim),
        _checks.number("learning_rate", learning_rate, low=0.0, low_open=True),
        _checks.positive_int("num_epochs", num_epochs), _checks.positive_int("batch_size", batch_size),
        _checks.non_negative_int("seed", seed), bool(metrics_during_training),
        _checks.one_of("distribute_reduction_method", distribute_reduction_method, ("auto", "first")))
