"""Benchmark: the TFRS basic-retrieval recipe with and without training-time metrics.

Chapter 3 trains the recipe's two-tower model (dimension 32, Adagrad 0.1,
batch 8,192, 3 epochs) with ``FactorizedTopK`` computed only when evaluating
(``compute_metrics=not training``). The recipe as usually written computes the
metrics on every training step too, which ranks all 1,682 candidates for every
example of every batch. This script times both on the same data in one run,
alternating them so that load from other processes hits both alike, and prints
the median fit times (wall-clock and CPU time), their ratios and both sets of
test metrics. On a machine shared with other work, wall-clock times grow with
the load; CPU time much less so.

Run by hand from the repository root (pytest never collects it)::

    TFDS_DATA_DIR=... python tests/benchmarks/bench_metrics_in_training.py --repeats 3

The output includes a Markdown table to paste into chapter 3, section 8.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import helpers

helpers.setup(seed=42)

import tensorflow as tf  # noqa: E402

from helpers.data import classic_split, load_movielens, vocabularies  # noqa: E402
from helpers.retrieval import train_recipe_model  # noqa: E402

KS = (1, 5, 10, 50, 100)
VARIANTS = {
    "recipe as usually written (metrics on every training step)": True,
    "chapter 3 (metrics only when evaluating)": False,
}
#: The row labels of the Markdown table in chapter 3.
SHORT = {
    "recipe as usually written (metrics on every training step)":
        "metrics on every step (the recipe)",
    "chapter 3 (metrics only when evaluating)": "metrics only when evaluating",
}


def evaluate_on_test(model, cached_test) -> dict[int, float]:
    result = model.evaluate(cached_test, return_dict=True, verbose=0)
    return {k: result[f"factorized_top_k/top_{k}_categorical_accuracy"] for k in KS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits of each variant")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit")
    args = parser.parse_args()
    if args.repeats < 1 or args.epochs < 1:
        parser.error("--repeats and --epochs must be at least 1")

    ratings, movies = load_movielens()
    ratings = ratings.map(
        lambda x: {"movie_title": x["movie_title"], "user_id": x["user_id"]}
    )
    train, test = classic_split(ratings)
    user_ids, movie_titles = vocabularies(ratings, movies)
    cached_test = test.batch(4096).cache()

    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu_times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    metrics: dict[str, list[dict[int, float]]] = {name: [] for name in VARIANTS}
    for repeat in range(args.repeats):
        # Alternate the order so neither variant always runs first.
        order = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
        for name in order:
            start, cpu_start = time.perf_counter(), time.process_time()
            model = train_recipe_model(
                train,
                movies,
                user_ids,
                movie_titles,
                num_epochs=args.epochs,
                metrics_during_training=VARIANTS[name],
            )
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            cpu_times[name].append(time.process_time() - cpu_start)
            metrics[name].append(evaluate_on_test(model, cached_test))
            print(
                f"run {repeat + 1}: {name}: fit {elapsed:.1f} s "
                f"(CPU {cpu_times[name][-1]:.1f} s)",
                flush=True,
            )

    medians = {name: statistics.median(t) for name, t in times.items()}
    cpu_medians = {name: statistics.median(t) for name, t in cpu_times.items()}
    slow, fast = (medians[name] for name in VARIANTS)
    cpu_slow, cpu_fast = (cpu_medians[name] for name in VARIANTS)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print()
    print(f"machine: {os.cpu_count()} CPU cores, {platform.machine()}; "
          f"load average at the end (1, 5, 15 min): {load}")
    print(f"TensorFlow {tf.__version__}; {args.epochs} epochs; "
          f"{args.repeats} fits each")
    print(f"peak memory of this process: {peak_gb:.2f} GB")
    for name in VARIANTS:
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        print(f"{name}: median {medians[name]:.1f} s (runs: {runs}); "
              f"median CPU time {cpu_medians[name]:.1f} s")
    print(f"ratio (recipe / chapter): {slow / fast:.2f} wall-clock, "
          f"{cpu_slow / cpu_fast:.2f} CPU time")
    print()
    print(f"| training, {args.epochs} epochs | fit, wall-clock (s) | fit, CPU (s) "
          "| top-10 | top-100 |")
    print("| --- | --- | --- | --- | --- |")
    for name in VARIANTS:
        last = metrics[name][-1]
        print(f"| {SHORT[name]} | {medians[name]:.1f} | {cpu_medians[name]:.1f} "
              f"| {last[10]:.4f} | {last[100]:.4f} |")
    print(f"| ratio | {slow / fast:.2f} | {cpu_slow / cpu_fast:.2f} | | |")
    print(f"\n(times: medians of {args.repeats} fits each; top-k: test split)")
    print()
    print("test metrics of every fit (top-1, 5, 10, 50, 100):")
    for name in VARIANTS:
        for i, m in enumerate(metrics[name]):
            print(f"  {name}, fit {i + 1}: " + ", ".join(f"{m[k]:.4f}" for k in KS))


if __name__ == "__main__":
    main()
