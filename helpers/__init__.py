"""Shared code for the book *Recommender systems with TensorFlow Recommenders*.

Importing it sets ``TF_USE_LEGACY_KERAS=1`` (TFRS 0.7.7 needs Keras 2, ``tf-keras``; TensorFlow
already imported with Keras 3 raises :class:`KerasVersionError`) and, as defaults,
``TF_CPP_MIN_LOG_LEVEL=2`` and ``TF_CPU_ALLOCATOR_USE_BFC=true`` (freed tensors pooled: remapping
a step's 268 MB logits doubled its time on 2 cores; ``tests/benchmarks/bench_allocator.py``).
A chapter's first cell calls :func:`setup`.
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
    """Fail clearly if TensorFlow is already loaded with Keras 3 (without importing it)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    # tf.keras is lazy; its name starts with "tf_keras" under Keras 2, "keras" under 3.
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
    """Seed Python, NumPy and TensorFlow (and make TensorFlow's ops deterministic).
    Same machine, same numbers; other CPUs can differ in the last digits."""
    from helpers import _checks

    seed = _checks.non_negative_int("seed", seed)

    import numpy as np
    import tensorflow as tf

    _check_keras_version()
    tf.get_logger().setLevel("ERROR")
    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
