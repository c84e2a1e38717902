"""Figures drawn the same way in several places: top-k curves and annotated heatmaps."""

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


#: One colour per model wherever the book plots it; the baselines are dashed.
COLOURS = {"random": "0.5", "popularity": "tab:orange", "TFRS recipe": "tab:blue",
           "WALS": "tab:green", "SGD": "tab:cyan", "TFRS + logQ": "tab:red",
           "TFRS full softmax": "tab:purple"}
_OTHERS = ("tab:brown", "tab:pink", "tab:olive", "black", "gold", "navy")


def plot_top_k(results: Mapping[str, Mapping[int, float]], ax=None, title: str | None = None,
               *, label: str = "top-k accuracy"):
    """Top-k accuracy against k (log axis), one line per model of ``{name: {k: accuracy}}``
    in its :data:`COLOURS` colour; ``label``: the y-axis label. Returns the axes."""
    if not results:
        raise ValueError("results is empty: nothing to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    others = iter(_OTHERS * len(results))
    for name, accuracy in results.items():
        ks = sorted(accuracy)
        ax.plot(ks, [accuracy[k] for k in ks], marker="o", label=name,
                color=COLOURS.get(name) or next(others),
                linestyle="--" if name in ("random", "popularity") else "-")
    ax.set_xscale("log")
    all_ks = sorted({k for accuracy in results.values() for k in accuracy})
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.set(xlabel="k (size of the recommended list)", ylabel=label)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def annotated_heatmap(ax, matrix, rows: Sequence[str], columns: Sequence[str], title: str, *,
                      cmap: str = "RdBu", vmin: float = -1.0, vmax: float = 1.0, fmt: str = "+.2f",
                      fontsize: int = 9):
    """``matrix`` as a heatmap with each value written in its cell (format ``fmt``), white on
    cells beyond 60% of the colour range; ``rows``/``columns`` label it. Returns the image."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    if (len(rows), len(columns)) != matrix.shape:
        raise ValueError(f"{len(rows)} row and {len(columns)} column labels for a matrix of shape {matrix.shape}")
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    threshold = 0.6 * max(abs(vmin), abs(vmax))
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=fontsize,
                color="white" if abs(value) > threshold else "black")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=fontsize)
    ax.set_yticks(range(len(rows)), rows, fontsize=fontsize)
    ax.set_title(title, fontsize=fontsize + 1)
    return image
