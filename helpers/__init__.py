"""Shared code for the book *Recommender systems with TensorFlow Recommenders*.

Importing this package prepares the environment **before TensorFlow is imported**:

* ``TF_USE_LEGACY_KERAS=1``: TensorFlow Recommenders 0.7.7 is written for Keras 2
  (the ``tf-keras`` package). With Keras 3, ``import tensorflow_recommenders``
  fails, so every chapter starts with ``import helpers``.
* ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's C++ start-up chatter (CPU feature
  notes, oneDNN messages) is hidden; real errors still show.
* ``TF_CPU_ALLOCATOR_USE_BFC=true``: TensorFlow keeps the memory of freed
  tensors in a pool and reuses it, instead of handing it back to the system
  after every step. A training step of the TFRS recipe allocates an
  8,192 x 8,192 matrix of logits (268 MB); without the pool every step pays to
  map those pages again, which on a 2-core virtual machine doubled the
  recipe's training time (``tests/benchmarks/bench_allocator.py``).

The last two are defaults: a value already in the environment is kept.

If TensorFlow was already imported with Keras 3 (for example because a cell
above imported it first), :class:`KerasVersionError` explains how to recover,
instead of a confusing failure later inside TFRS.

Then the first cell of a chapter calls :func:`setup` to fix the seeds.
"""

from __future__ import annotations

import os
import random
import sys

__all__ = ["KerasVersionError", "setup"]

# Must happen before the first `import tensorflow` anywhere in the process.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


class KerasVersionError(RuntimeError):
    """TensorFlow was imported with Keras 3, which TFRS 0.7.7 cannot use."""


def _check_keras_version() -> None:
    """Fail clearly if TensorFlow is already loaded with Keras 3.

    Only looks when TensorFlow has been imported already; importing it here
    would slow down ``import helpers`` for chapters that never use it.
    """
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    # tf.keras is a lazy module; under tf-keras (Keras 2) its name starts
    # with "tf_keras", under Keras 3 with "keras".
    if not tf.keras.__name__.startswith("tf_keras"):
        keras = sys.modules.get("keras")
        version = getattr(keras, "__version__", "3")
        raise KerasVersionError(
            f"TensorFlow was imported before `helpers`, with Keras {version}. "
            "TensorFlow Recommenders needs Keras 2 (the tf-keras package), which "
            "TensorFlow only picks when TF_USE_LEGACY_KERAS=1 is set before it is "
            "first imported. Restart the kernel and run `import helpers` before "
            "anything imports TensorFlow (or start Python with "
            "TF_USE_LEGACY_KERAS=1 in the environment)."
        )


_check_keras_version()


def setup(seed: int = 42, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, for the first cell of a chapter.

    Args:
        seed: the seed for :mod:`random`, NumPy's global generator and
            TensorFlow's global seed.
        deterministic: also turn on TensorFlow's op determinism, so that a
            chapter run twice on the same machine prints the same numbers.
            (Different CPUs can still differ in the last digits: the chapters
            check metrics with tolerances, never as exact text.)

    Raises:
        TypeError: if ``seed`` is not an ``int``.
        ValueError: if ``seed`` is negative.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")

    import numpy as np
    import tensorflow as tf

    _check_keras_version()
    tf.get_logger().setLevel("ERROR")
    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
