"""Keras RS's ranking metrics against the book's, on hand-made lists (chapter 12).

The three conventions that differ are pinned here: Keras RS applies its gain
``2**y - 1`` to the labels (the book's ``ndcg`` takes gains), breaks ties by one
random shuffle (the book takes the expectation), and counts a list with nothing
relevant as 0 (the book leaves it out); with those aligned, the numbers agree.
"""

import numpy as np
import pytest

import helpers  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from helpers.metrics import exponential_gain, mean_over_users, ndcg, recall

keras_rs = pytest.importorskip("keras_rs")

SCORES = np.array([[0.9, 0.1, 0.5, 0.3, 0.7],
                   [0.2, 0.8, 0.6, 0.4, 0.0],
                   [0.5, 0.4, 0.3, 0.2, 0.1]])
STARS = np.array([[0.0, 5.0, 3.0, 0.0, 1.0],  # graded: 0 = not relevant
                  [4.0, 0.0, 0.0, 2.0, 5.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0]])  # nothing relevant


def keras_rs_mean(metric, labels, scores, **kwargs):
    metric.update_state(labels, scores, **kwargs)
    return float(metric.result())


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_ndcg_agrees_on_the_users_with_something_relevant(k):
    book, users = mean_over_users(ndcg(SCORES, exponential_gain(STARS) * (STARS > 0), k))
    assert users == 2
    ours = keras_rs_mean(keras_rs.metrics.NDCG(k=k), STARS[:2], SCORES[:2])
    assert ours == pytest.approx(book, abs=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_recall_agrees_on_the_users_with_something_relevant(k):
    binary = (STARS > 0).astype(float)
    book, _ = mean_over_users(recall(SCORES, binary, k))
    ours = keras_rs_mean(keras_rs.metrics.RecallAtK(k=k), binary[:2], SCORES[:2])
    assert ours == pytest.approx(book, abs=1e-6)


def test_a_list_with_nothing_relevant_counts_as_zero_in_keras_rs():
    book, users = mean_over_users(ndcg(SCORES, exponential_gain(STARS) * (STARS > 0), 3))
    ours = keras_rs_mean(keras_rs.metrics.NDCG(k=3), STARS, SCORES)
    assert ours == pytest.approx(book * users / len(STARS), abs=1e-6)
    assert ours < 0.7 * book  # two users of three: 2/3 of the book's mean


def test_zero_sample_weight_leaves_that_list_out_as_the_book_does():
    book, _ = mean_over_users(ndcg(SCORES, exponential_gain(STARS) * (STARS > 0), 3))
    weights = (STARS > 0).any(axis=1).astype("float32")
    ours = keras_rs_mean(keras_rs.metrics.NDCG(k=3), STARS, SCORES, sample_weight=weights)
    assert ours == pytest.approx(book, abs=1e-6)


def test_gains_given_as_gains_need_the_identity_gain_fn():
    gains = exponential_gain(STARS[:2]) * (STARS[:2] > 0)
    book, _ = mean_over_users(ndcg(SCORES[:2], gains, 5))
    as_labels = keras_rs_mean(keras_rs.metrics.NDCG(k=5), gains, SCORES[:2])
    as_gains = keras_rs_mean(keras_rs.metrics.NDCG(k=5, gain_fn=lambda y: y), gains,
                             SCORES[:2])
    assert as_gains == pytest.approx(book, abs=1e-6)
    assert abs(as_labels - book) > 0.01  # 2**(2**r - 1) - 1 is another metric


def test_ties_are_one_random_draw_in_keras_rs_and_the_expectation_in_the_book():
    scores, labels = np.array([[2.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 0.0]])
    assert ndcg(scores, labels, 1)[0] == pytest.approx(1 / 3)
    draws = {keras_rs_mean(keras_rs.metrics.NDCG(k=1, seed=seed), labels, scores)
             for seed in range(12)}
    assert draws == {0.0, 1.0}
