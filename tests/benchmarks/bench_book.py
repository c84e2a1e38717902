"""Executes every chapter in a fresh kernel and prints what each one costs.

Run by hand (``make timings``), never collected by pytest, on a machine that is
otherwise idle::

    TFDS_DATA_DIR=... python tests/benchmarks/bench_book.py [book/03_retrieval ...]

The chapters are the ones ``_toc.yml`` lists (or the ones named), copied to a
temporary folder first, so editing a notebook while this runs changes nothing,
and executed one after another, each by its own ``jupyter nbconvert`` process.
The committed notebooks are never written (``--keep DIR`` copies the executed
ones there). For each chapter it prints wall
seconds, CPU seconds (user + system of the kernel and every process it
started, e.g. chapter 10's workers) and peak memory (the largest resident set
of any one of those processes), then the total and the load average before
and after. Exit status 1 if a chapter fails to execute.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def chapters() -> list[str]:
    """The chapters in the order ``_toc.yml`` gives them (``book/NN_topic``)."""
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    return re.findall(r"file:\s*(book/\d\d_\w+)", toc)


def execute_one(notebook: Path, timeout: int) -> dict:
    """Run one notebook in this (fresh) process's child and report its usage."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
         "--execute", "--inplace", f"--ExecutePreprocessor.timeout={timeout}",
         notebook.name],
        cwd=notebook.parent, capture_output=True, text=True)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"ok": done.returncode == 0, "wall": wall,
            "cpu": usage.ru_utime + usage.ru_stime,
            "peak_gb": usage.ru_maxrss / 1024**2,   # ru_maxrss is in KiB on Linux
            "error": done.stderr[-2000:] if done.returncode else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="e.g. book/03_retrieval (default: all)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="copy each executed notebook into DIR (e.g. to review, then commit)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one notebook
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(execute_one(Path(args.one), args.timeout)))
        return 0

    pages = [p.removesuffix(".ipynb") for p in args.pages] or chapters()
    load_before = os.getloadavg()
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="bench_book_") as tmp:
        # The chapters import the installed `helpers` package and save models
        # under their own folder, so a copy of book/ runs as book/ does.
        work = Path(tmp) / "book"
        shutil.copytree(REPO / "book", work,
                        ignore=shutil.ignore_patterns("saved_models", ".ipynb_checkpoints"))
        for page in pages:
            notebook = work / (Path(page).name + ".ipynb")
            # A new Python process per chapter, so RUSAGE_CHILDREN is this chapter's.
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(notebook),
                 "--timeout", str(args.timeout)],
                capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((Path(page).name, result))
            status = "" if result["ok"] else "  FAILED"
            print(f"  {Path(page).name:28} {result['wall']:6.1f} s wall "
                  f"{result['cpu']:6.1f} s CPU {result['peak_gb']:5.2f} GB{status}",
                  file=sys.stderr, flush=True)
            if not result["ok"]:
                failed.append((page, result["error"]))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy2(notebook, args.keep / notebook.name)
    load_after = os.getloadavg()

    print(f"Machine: {os.cpu_count()} CPU cores; load average (1, 5, 15 min) "
          f"before {', '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {', '.join(f'{x:.2f}' for x in load_after)}")
    print()
    print("| chapter | wall s | CPU s | peak memory GB |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in rows:
        flag = " (failed)" if not r["ok"] else ""
        print(f"| {name}{flag} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak_gb']:.2f} |")
    wall = sum(r["wall"] for _, r in rows)
    cpu = sum(r["cpu"] for _, r in rows)
    peak = max((r["peak_gb"] for _, r in rows), default=0.0)
    print(f"| **total** | **{wall:.1f}** | **{cpu:.1f}** | max {peak:.2f} |")
    for page, error in failed:
        print(f"\n{page} failed to execute:\n{error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
