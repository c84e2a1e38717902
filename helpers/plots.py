"""Figures that several chapters draw the same way."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt

__all__ = ["plot_top_k"]


def plot_top_k(
    results: Mapping[str, Mapping[int, float]],
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> plt.Axes:
    """Top-k accuracy against k, one line per model, k on a log axis.

    Args:
        results: ``{model name: {k: accuracy}}``, e.g. from
            :func:`helpers.evaluate.top_k_accuracy`.
        ax: the axes to draw on; a new figure when ``None``.
        title: the axes title.

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("results is empty: nothing to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for name, accuracy in results.items():
        ks = sorted(accuracy)
        ax.plot(ks, [accuracy[k] for k in ks], marker="o", label=name)
    ax.set_xscale("log")
    all_ks = sorted({k for acc in results.values() for k in acc})
    ax.set_xticks(all_ks)
    ax.set_xticklabels([str(k) for k in all_ks])
    ax.set_xlabel("k (size of the recommended list)")
    ax.set_ylabel("top-k accuracy on the test split")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax
