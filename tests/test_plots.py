"""Tests of helpers.plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from helpers.plots import plot_top_k  # noqa: E402


def test_plot_top_k_draws_one_line_per_model():
    ax = plot_top_k({"a": {1: 0.1, 10: 0.3}, "b": {1: 0.0, 10: 0.2}}, title="t")
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert list(ax.get_lines()[0].get_ydata()) == [0.1, 0.3]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "t"


def test_plot_top_k_needs_results():
    with pytest.raises(ValueError, match="empty"):
        plot_top_k({})
