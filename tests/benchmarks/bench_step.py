"""What one step of the recipe's in-batch softmax costs, and how much of it is the matmul.

Run by hand on an otherwise idle machine::

    python tests/benchmarks/bench_step.py [--repeats 3]

Times, side by side in one process (in turn, so all meet the same slowdowns),
the gradient of three losses over a batch of 8,192 query and candidate vectors
of dimension 32: ``tfrs.tasks.Retrieval`` (the recipe's loss: scores, identity
labels, softmax cross-entropy), the same loss with integer labels
(``sparse_softmax_cross_entropy_with_logits``), and the score matrix alone
(its sum). Prints the median seconds per step of each.
"""
from __future__ import annotations

import argparse
import statistics
import time

import helpers

helpers.setup(seed=42)
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

B, D = 8192, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    q, c = tf.Variable(tf.random.normal([B, D])), tf.Variable(tf.random.normal([B, D]))
    task = tfrs.tasks.Retrieval()
    losses = {
        "tfrs.tasks.Retrieval": lambda: task(q, c, compute_metrics=False),
        "sparse labels": lambda: tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.range(B), tf.matmul(q, c, transpose_b=True))),
        "scores only": lambda: tf.reduce_sum(tf.matmul(q, c, transpose_b=True)),
    }

    def step(loss):
        @tf.function
        def gradient():
            with tf.GradientTape() as tape:
                value = loss()
            return tape.gradient(value, [q, c])
        return gradient

    steps = {name: step(loss) for name, loss in losses.items()}
    times = {name: [] for name in steps}
    for name, f in steps.items():
        f()  # trace
    for _ in range(args.repeats):
        for name, f in steps.items():
            start = time.perf_counter()
            for _ in range(5):
                f()
            times[name].append((time.perf_counter() - start) / 5)
    print(f"batch {B:,}, dimension {D}: median seconds per step over {args.repeats} rounds")
    for name, t in times.items():
        print(f"  {name:>22}: {statistics.median(t):.3f} s")


if __name__ == "__main__":
    main()
