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


def test_plot_top_k_labels_the_y_axis_as_asked():
    assert plot_top_k({"a": {1: 0.1}}).get_ylabel() == "top-k accuracy"
    ax = plot_top_k({"a": {1: 0.1}}, label="validation top-k accuracy")
    assert ax.get_ylabel() == "validation top-k accuracy"


def test_plot_top_k_needs_results():
    with pytest.raises(ValueError, match="empty"):
        plot_top_k({})


def test_annotated_heatmap_writes_every_value():
    import matplotlib.pyplot as plt
    import numpy as np

    from helpers.plots import annotated_heatmap

    _, ax = plt.subplots()
    matrix = np.array([[1, 0, 1], [0, 1, 0]])
    annotated_heatmap(ax, matrix, ["A", "B"], ["x", "y", "z"], "t", cmap="Greys",
                      vmin=0, vmax=1.6, fmt="d")
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "0", "1", "0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert ax.get_title() == "t"


def test_annotated_heatmap_checks_labels():
    import matplotlib.pyplot as plt
    import numpy as np

    from helpers.plots import annotated_heatmap

    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="2 row and 2 column labels"):
        annotated_heatmap(ax, np.zeros((2, 3)), ["A", "B"], ["x", "y"], "t")
    with pytest.raises(ValueError, match="2-D"):
        annotated_heatmap(ax, np.zeros(3), ["A"], ["x"], "t")


def test_a_model_has_the_same_colour_in_every_figure():
    first = plot_top_k({"popularity": {1: 0.1}, "WALS": {1: 0.2}, "mine": {1: 0.3}})
    second = plot_top_k({"other": {1: 0.1}, "WALS": {1: 0.2}, "popularity": {1: 0.3}})
    colour = {line.get_label(): line.get_color() for ax in (first, second)
              for line in ax.get_lines()}
    assert colour["popularity"] == "tab:orange" and colour["WALS"] == "tab:green"
    assert len({colour["mine"], colour["other"], "tab:orange", "tab:green"}) == 3  # same slot
    styles = {line.get_label(): line.get_linestyle() for line in first.get_lines()}
    assert styles["popularity"] == "--" and styles["WALS"] == "-"
