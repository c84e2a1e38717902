"""TensorFlow's CPU allocator with and without its memory pool, side by side.

Run by hand on an otherwise idle machine::

    TFDS_DATA_DIR=... python tests/benchmarks/bench_allocator.py [--repeats 2]

Trains the TFRS recipe (chapter 3: batches of 8,192, three epochs) in a fresh
process per fit, alternating ``TF_CPU_ALLOCATOR_USE_BFC=false`` (TensorFlow's
default: freed tensors go back to the system) and ``true`` (what ``import
helpers`` sets: a pool reuses them), and prints the median wall seconds, CPU
seconds (user and system) and minor page faults of each.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

FIT = """
import helpers
helpers.setup()
from helpers.data import classic_split, load_movielens, vocabularies
from helpers.retrieval import train_recipe_model
ratings, movies = load_movielens(verbose=False)
train, _ = classic_split(ratings)
train_recipe_model(train, movies, *vocabularies(ratings, movies))
"""


def one_fit(pool: bool) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true" if pool else "false"}
    subprocess.run([sys.executable, "-c", FIT], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall s": wall, "user s": after.ru_utime - before.ru_utime,
            "system s": after.ru_stime - before.ru_stime,
            "minor faults": after.ru_minflt - before.ru_minflt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runs = {False: [], True: []}
    for _ in range(args.repeats):
        for pool in (False, True):
            runs[pool].append(one_fit(pool))
    print(f"{os.cpu_count()} CPU cores, load before the last fit {os.getloadavg()[0]:.2f}; "
          f"medians of {args.repeats} fits (a whole process: imports, data, 3 epochs)")
    print(f"{'TF_CPU_ALLOCATOR_USE_BFC':>26} " + " ".join(f"{k:>12}" for k in runs[True][0]))
    for pool, results in runs.items():
        medians = [statistics.median(r[k] for r in results) for k in results[0]]
        print(f"{str(pool).lower():>26} " + " ".join(f"{m:12,.1f}" for m in medians))


if __name__ == "__main__":
    main()
