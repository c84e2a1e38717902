"""Training: the one loop every TensorFlow model of the book is fitted with.

:func:`fit` reseeds Python, NumPy and TensorFlow with its ``seed`` before it shuffles, and Keras
builds a layer's weights on its first batch inside ``fit``: weights and batches depend on
``seed`` alone. A layer called before ``fit`` (e.g. by a ``FactorizedTopK`` metric's
candidates) is built then: seed before building such a model.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from helpers import _checks
from helpers.timing import Stopwatch


class Validate(tf.keras.callbacks.Callback):
    """Writes ``score(model)`` into each epoch's ``logs`` as ``name``, for ``EarlyStopping``."""

    def __init__(self, name: str, score: Callable[[tf.keras.Model], float]) -> None:
        super().__init__()
        self.name, self.score = name, score

    def on_epoch_end(self, epoch, logs=None):
        logs[self.name] = float(self.score(self.model))


def fit(model, data: tf.data.Dataset, *, optimizer, epochs: int, batch_size: int,
        validation: Validate | None = None, validation_data: tf.data.Dataset | None = None,
        monitor: str | None = None, mode: str = "max", patience: int = 3,
        min_delta: float = 0.0, seed: int = 42) -> dict:
    """Fit ``model`` on ``data``: shuffle once with ``seed``, batch, cache, ``model.fit``.

    Every epoch sees the same batches. ``monitor`` names a value in Keras's logs (default:
    ``validation``'s name; ``"val_loss"`` with ``validation_data``): ``EarlyStopping`` stops
    after ``patience`` epochs without a gain above ``min_delta``, restoring the best weights.

    Returns ``{"seconds", "cpu_seconds", "epochs", "best_epoch", "validation", "history"}``:
    wall and CPU seconds of ``model.fit``, epochs run, the 1-based epoch whose weights the
    model ends with, the monitored value per epoch, and all of Keras's per-epoch logs.
    """
    if not isinstance(data, tf.data.Dataset):
        raise TypeError(f"data must be a tf.data.Dataset of feature dicts, got {type(data).__name__}")
    epochs, batch_size = _checks.positive_int("epochs", epochs), _checks.positive_int("batch_size", batch_size)
    seed, mode = _checks.non_negative_int("seed", seed), _checks.one_of("mode", mode, ("max", "min"))
    patience = _checks.positive_int("patience", patience)
    min_delta = _checks.number("min_delta", min_delta, low=0.0)
    monitor = monitor or (validation.name if validation is not None else None)
    tf.keras.utils.set_random_seed(seed)
    batches = data.shuffle(100_000, seed=seed).batch(batch_size).cache()
    if validation_data is not None:
        validation_data = validation_data.batch(batch_size).cache()
    callbacks = [validation] if validation is not None else []
    if monitor is not None:
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            monitor, min_delta, patience, mode=mode, restore_best_weights=True))
    model.compile(optimizer=optimizer)
    with Stopwatch() as clock:
        logs = model.fit(batches, validation_data=validation_data, epochs=epochs,
                         callbacks=callbacks, verbose=0).history
    history = {name: [float(v) for v in values] for name, values in logs.items()}
    epochs_run = len(history["loss"])
    return {"seconds": clock.seconds, "cpu_seconds": clock.cpu_seconds, "epochs": epochs_run,
            "best_epoch": callbacks[-1].best_epoch + 1 if monitor else epochs_run,
            "validation": history.get(monitor, []), "history": history}
