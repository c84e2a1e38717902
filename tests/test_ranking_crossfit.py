"""Cross-fitting on a hand-made case where a leak changes the answer.

Three users, four titles, six training ratings in three folds (two each). The
``build`` below takes each user's unseen titles by popularity *among the rows it
is given* and returns the popularity as the feature: a held-out rating that
leaked into the rows would (a) make its title seen, so never a labelled
candidate, and (b) add one to its popularity feature.
"""

from __future__ import annotations

import numpy as np

import importlib.util
from pathlib import Path

from helpers.metrics import matrix
from helpers.ranking import top_candidates

_spec = importlib.util.spec_from_file_location(
    "crossfit", Path(__file__).parent / "benchmarks" / "crossfit.py")
crossfit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crossfit)
candidate_features, crossfit_folds, crossfit_lists = (
    crossfit.candidate_features, crossfit.crossfit_folds, crossfit.crossfit_lists)

USERS = np.array([0, 0, 1, 1, 2, 2])
ITEMS = np.array([0, 1, 0, 2, 1, 3])
STARS = np.array([5.0, 4.0, 3.0, 5.0, 2.0, 4.0])
FOLDS = np.array([0, 1, 2, 0, 1, 2])
SHAPE = (3, 4)


def build(rows):
    seen = matrix(USERS[rows], ITEMS[rows], SHAPE) > 0
    popularity = np.bincount(ITEMS[rows], minlength=4).astype(float)
    cand = top_candidates(popularity + 0.0, 3, seen=seen)
    return cand, popularity[cand][..., None]


def test_folds_are_balanced_and_cover_every_pair():
    folds = crossfit_folds(10, 3, seed=1)
    assert sorted(np.bincount(folds).tolist()) == [3, 3, 4]


def test_every_training_rating_is_a_label_once_with_features_from_other_folds():
    X, Y = crossfit_lists(USERS, ITEMS, STARS, SHAPE, FOLDS, build)
    assert X.shape == (3, 3, 3, 1) and Y.shape == (3, 3, 3)
    # Every unseen title is a candidate, so every held-out title is a candidate: all six
    # ratings are labels, each once, with its own stars.
    assert sorted(Y[Y > 0].tolist()) == sorted(STARS.tolist())
    # Fold 0 holds (0, 0, 5 stars): title 0's popularity in folds 1 and 2 is 1 (user 1),
    # not 2 as it would be with the held-out rating counted.
    f, u = 0, 0
    assert X[f, u, Y[f, u] == 5.0, 0].tolist() == [1.0]


def test_candidate_features_see_only_the_rows_given():
    """Popularity and mean rating of title 0 from the rows without user 0's 5 stars."""
    rows = np.flatnonzero(FOLDS != 0)
    S = np.arange(12, dtype=float).reshape(SHAPE)[:, ::-1].copy()
    V = np.eye(4)[:, :2] + 0.1
    cand = np.array([[0, 2], [1, 3], [0, 2]])
    X, names = candidate_features(cand, S, V, USERS[rows], ITEMS[rows], STARS[rows],
                                  np.arange(6.0)[rows] * 86400, 3, 4, ease_reg=1.0)
    pop, mean = names.index("popularity"), names.index("mean_rating")
    assert X[0, 0, pop] == 1.0  # only user 1 rated title 0 outside fold 0
    prior = STARS[rows].mean()
    assert np.isclose(X[0, 0, mean], (3.0 + 10 * prior) / 11)
    assert X.shape == (3, 2, len(names))
