"""pytest configuration shared by the unit tests (tests/) and nbval (book/)."""

from __future__ import annotations


def pytest_collectstart(collector):
    """Do not compare stderr in notebooks.

    TensorFlow writes C++ log lines to stderr. They reach a notebook saved from
    Jupyter but never a kernel run under pytest, so comparing them would fail
    for no reason. Everything a chapter wants checked goes to stdout or display
    data.
    """
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
