"""Figures that several chapters draw the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.image import AxesImage

__all__ = ["plot_top_k", "annotated_heatmap"]


def plot_top_k(
    results: Mapping[str, Mapping[int, float]],
    ax: plt.Axes | None = None,
    title: str | None = None,
    *,
    label: str = "top-k accuracy",
) -> plt.Axes:
    """Top-k accuracy against k, one line per model, k on a log axis.

    Args:
        results: ``{model name: {k: accuracy}}``, e.g. from
            :func:`helpers.evaluate.top_k_accuracy`.
        ax: the axes to draw on; a new figure when ``None``.
        title: the axes title.
        label: the y-axis label; say which pairs were scored, e.g.
            ``"top-k accuracy on the test split"``.

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
    ax.set_ylabel(label)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def annotated_heatmap(
    ax: plt.Axes,
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    *,
    cmap: str = "RdBu",
    vmin: float = -1.0,
    vmax: float = 1.0,
    fmt: str = "+.2f",
    fontsize: int = 9,
) -> AxesImage:
    """A small matrix drawn as a heatmap with each value written in its cell.

    Text is white on cells darker than 60% of the colour range, black elsewhere.

    Args:
        ax: the axes to draw on.
        matrix: a 2-D array; ``matrix[i, j]`` is drawn in row ``i``, column ``j``.
        rows, columns: tick labels, one per row and per column.
        title: the axes title.
        cmap, vmin, vmax: the colour map and its range.
        fmt: the format of each value, as for :func:`format` (``"d"``, ``"+.2f"``).
        fontsize: size of the values and tick labels.

    Returns:
        The image, e.g. for ``fig.colorbar``.

    Raises:
        ValueError: ``matrix`` is not 2-D, or the labels do not match its shape.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    if (len(rows), len(columns)) != matrix.shape:
        raise ValueError(
            f"{len(rows)} row and {len(columns)} column labels for a matrix of "
            f"shape {matrix.shape}"
        )
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    threshold = 0.6 * max(abs(vmin), abs(vmax))
    for (i, j), value in np.ndenumerate(matrix):
        colour = "white" if abs(value) > threshold else "black"
        ax.text(j, i, format(value, fmt), ha="center", va="center",
                fontsize=fontsize, color=colour)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=fontsize)
    ax.set_yticks(range(len(rows)), rows, fontsize=fontsize)
    ax.set_title(title, fontsize=fontsize + 1)
    return image
