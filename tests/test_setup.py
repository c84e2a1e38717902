"""Tests of the package's environment set-up (helpers/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import helpers


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_import_sets_legacy_keras_before_tensorflow():
    result = _run(
        "import helpers, os\n"
        "assert os.environ['TF_USE_LEGACY_KERAS'] == '1'\n"
        "import tensorflow as tf, tensorflow_recommenders as tfrs\n"
        "print(tf.keras.__name__)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_import_pools_tensorflows_cpu_memory_unless_told_otherwise():
    code = "import os, helpers; print(os.environ['TF_CPU_ALLOCATOR_USE_BFC'])"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert run(env).stdout.strip() == "true"
    assert run({**env, "TF_CPU_ALLOCATOR_USE_BFC": "false"}).stdout.strip() == "false"


def test_keras3_already_loaded_gives_a_clear_error():
    result = _run("import tensorflow as tf\ntf.keras.layers.Dense\nimport helpers\n")
    assert result.returncode != 0
    assert "KerasVersionError" in result.stderr
    assert "Restart the kernel and run `import helpers`" in result.stderr


def test_setup_seeds_numpy_and_tensorflow():
    import tensorflow as tf

    helpers.setup(seed=7)
    a = (np.random.rand(), float(tf.random.uniform(())))
    helpers.setup(seed=7)
    b = (np.random.rand(), float(tf.random.uniform(())))
    assert a == b
    helpers.setup(seed=8)
    assert np.random.rand() != a[0]


@pytest.mark.parametrize("seed, error", [("42", TypeError), (4.2, TypeError), (True, TypeError), (-1, ValueError)])
def test_setup_bad_seed(seed, error):
    with pytest.raises(error, match="seed"):
        helpers.setup(seed=seed)
