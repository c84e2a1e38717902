"""The two stages on a tiny hand-made case whose lists are known: helpers.ranking's
lists and re-rankers, helpers.metrics' list metrics.

Five users, twelve titles:

* user 0 rated title 0 in train; first-stage scores fall with the position, so
  the top 10 is titles 1..10; held out: title 2 (5 stars), title 4 (3 stars)
  and title 0 (also rated in train, so it can never be recommended);
* user 1 rated every title in train: no candidate at all;
* user 2 has no held-out rating;
* user 3 rated title 3; titles 0 and 1 tie; held out: title 1 (4 stars);
* user 4 rated nothing; held out: title 11 (2 stars), the worst-scored.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import helpers  # noqa: F401
import tensorflow as tf

from helpers import ranking
from helpers.metrics import evaluate_lists, list_scores, matrix, ndcg, recall
from helpers.ranking import PAD, rerank, top_candidates
from helpers.train import fit

N_USERS, N_ITEMS = 5, 12


def seen_matrix(users, items, n_users, n_items):
    return matrix(users, items, (n_users, n_items)) > 0


def relevance_matrix(users, items, n_users, n_items, gains, seen=None):
    out = matrix(users, items, (n_users, n_items), gains)
    return out if seen is None else np.where(seen, 0.0, out)


def recall_of_lists(lists, relevance, k):
    return recall(list_scores(lists, relevance.shape[1]), relevance, k)


def ndcg_of_lists(lists, relevance, k):
    return ndcg(list_scores(lists, relevance.shape[1]), relevance, k)


@pytest.fixture
def case():
    scores = np.tile(np.arange(N_ITEMS, 0, -1, dtype=float), (N_USERS, 1))
    scores[3] = [5, 5, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0]
    train_users = np.array([0] + [1] * N_ITEMS + [3])
    train_items = np.array([0] + list(range(N_ITEMS)) + [3])
    seen = seen_matrix(train_users, train_items, N_USERS, N_ITEMS)
    test_users = np.array([0, 0, 0, 3, 4])
    test_items = np.array([2, 4, 0, 1, 11])
    ratings = np.array([5.0, 3.0, 4.0, 4.0, 2.0])
    graded = relevance_matrix(test_users, test_items, N_USERS, N_ITEMS,
                              gains=ratings, seen=seen)
    return scores, seen, graded


def test_top_10_is_known(case):
    scores, seen, _ = case
    top = top_candidates(scores, 10, seen=seen)
    assert top.shape == (N_USERS, 10) and np.issubdtype(top.dtype, np.integer)
    assert top[0].tolist() == list(range(1, 11))  # title 0 seen: left out
    assert top[1].tolist() == [PAD] * 10  # every candidate seen: an empty list
    assert top[2].tolist() == list(range(10))
    assert top[3].tolist()[:3] == [0, 1, 2]  # tie 0/1: lower position first; 3 seen
    assert top[4].tolist() == list(range(10))


def test_top_candidates_without_seen_and_shared_scores(case):
    scores, seen, _ = case
    assert top_candidates(scores[:1], 3).tolist() == [[0, 1, 2]]
    shared = top_candidates(scores[0], 2, seen=seen)  # popularity: one row for all
    assert shared.tolist() == [[1, 2], [PAD, PAD], [0, 1], [0, 1], [0, 1]]


def test_top_candidates_rejects_bad_input(case):
    scores, seen, _ = case
    with pytest.raises(ValueError):
        top_candidates(scores, N_ITEMS + 1)
    with pytest.raises(ValueError):
        top_candidates(scores, 0)
    with pytest.raises(TypeError):
        top_candidates(scores, 2.0)
    with pytest.raises(ValueError):
        top_candidates(scores[:2], 2, seen=seen)
    bad = scores.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        top_candidates(bad, 2)


def test_rerank_orders_by_second_stage_keeps_ties_and_padding():
    candidates = np.array([[1, 2, 3], [PAD, PAD, PAD], [4, 5, PAD]])
    second = np.array([[0.1, 0.3, 0.2], [9.0, 9.0, 9.0], [1.0, 1.0, 99.0]])
    out = rerank(candidates, second)
    assert out.tolist() == [[2, 3, 1], [PAD, PAD, PAD], [4, 5, PAD]]
    with pytest.raises(ValueError):
        rerank(candidates, second[:, :2])


def test_relevance_drops_seen_and_keeps_larger_duplicate(case):
    _, seen, graded = case
    assert graded[0, 2] == 5 and graded[0, 4] == 3
    assert graded[0, 0] == 0  # held out but seen in train
    assert graded[1].sum() == 0 and graded[2].sum() == 0
    twice = relevance_matrix(np.array([0, 0]), np.array([5, 5]), 1, N_ITEMS,
                             gains=np.array([2.0, 4.0]))
    assert twice[0, 5] == 4


def test_recall_and_ndcg_by_hand(case):
    scores, seen, graded = case
    lists = top_candidates(scores, 10, seen=seen)
    recall = recall_of_lists(lists, graded, 2)
    assert recall[0] == pytest.approx(0.5)  # title 2 at rank 2; title 4 at rank 4
    assert math.isnan(recall[1]) and math.isnan(recall[2])  # nothing relevant
    assert recall[3] == pytest.approx(1.0)
    assert recall[4] == pytest.approx(0.0)
    ndcg = ndcg_of_lists(lists, graded, 2)
    ideal0 = 5 + 3 / math.log2(3)
    assert ndcg[0] == pytest.approx((5 / math.log2(3)) / ideal0)
    assert ndcg[3] == pytest.approx(1 / math.log2(3))
    assert ndcg[4] == 0.0 and math.isnan(ndcg[1]) and math.isnan(ndcg[2])
    binary = ndcg_of_lists(lists, (graded > 0).astype(float), 2)
    assert binary[0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg_of_lists(lists, graded, 10)[0] == pytest.approx(
        (5 / math.log2(3) + 3 / math.log2(5)) / ideal0)


def test_a_perfect_list_scores_one(case):
    _, seen, graded = case
    lists = np.full((N_USERS, 3), PAD)
    lists[0, :2] = [2, 4]
    lists[3, 0] = 1
    lists[4, 0] = 11
    assert np.nanmin(ndcg_of_lists(lists, graded, 3)) == pytest.approx(1.0)
    assert np.nanmin(recall_of_lists(lists, graded, 3)) == pytest.approx(1.0)


def test_evaluate_lists_averages_users_with_something_relevant(case):
    scores, seen, graded = case
    candidates = top_candidates(scores, 10, seen=seen)
    row = evaluate_lists(candidates, graded, k=2, candidates=candidates)
    assert row["users"] == 3  # users 1 and 2 have nothing to recall
    assert row["recall@2"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert row["candidate recall@10"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    assert 0 < row["NDCG@2 binary"] < 1 and 0 < row["NDCG@2"] < 1
    with pytest.raises(ValueError):
        evaluate_lists(candidates, np.zeros_like(graded))


def test_seen_matrix_checks_positions():
    with pytest.raises(ValueError):
        seen_matrix(np.array([0]), np.array([N_ITEMS]), 1, N_ITEMS)
    with pytest.raises(TypeError):
        seen_matrix(np.array([0.0]), np.array([1]), 1, N_ITEMS)


def test_listwise_loss_by_hand():
    logits = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 5.0]], dtype=np.float32)
    labels = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    value = float(ranking.listwise_softmax_loss(labels, logits))
    first = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert value == pytest.approx(first / 2, rel=1e-5)  # no positive: list adds 0
    mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=np.float32)
    masked = float(ranking.listwise_softmax_loss(labels, logits, mask))
    assert masked == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 1)) / 2, rel=1e-5)


def test_listwise_loss_is_normalised_by_the_labels_of_each_list():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]], dtype=np.float32)
    labels = np.array([[1.0, 1.0, 0.0], [0.0, 4.0, 1.0]], dtype=np.float32)  # two, graded
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    by_hand = [-(log_p[0, 0] + log_p[0, 1]) / 2, -(4 * log_p[1, 1] + log_p[1, 2]) / 5]
    value = float(ranking.listwise_softmax_loss(labels, logits))
    assert value == pytest.approx(np.mean(by_hand), rel=1e-5)


def test_reranker_learns_an_obvious_signal():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 20, 2)).astype(np.float32)
    labels = (features[..., 0] > 1.0).astype(np.float32)
    mask = np.ones_like(labels)
    for loss in ("listwise", "pointwise"):
        model = ranking.Reranker(2, hidden=(8,), loss=loss)
        run = fit(model, ranking.reranker_examples(features, labels, mask),
                  optimizer=tf.keras.optimizers.Adam(0.03), epochs=30, batch_size=16)
        assert run["history"]["loss"][-1] < run["history"]["loss"][0]
        order = rerank(np.tile(np.arange(20), (64, 1)), model(features).numpy())
        assert np.nanmean(recall_of_lists(order, labels.astype(float), 5)) > 0.9
    with pytest.raises(ValueError):
        ranking.Reranker(2, loss="pairwise")
    with pytest.raises(ValueError):
        ranking.reranker_examples(features, labels[:, :3], mask)


def test_multitask_model_checks_weights_and_stops_on_validation_loss():
    from helpers.retrieval import build_towers

    users, titles = np.array(["1", "2"]), np.array(["a", "b", "c"])
    user_model, movie_model = build_towers(users, titles, 4)
    with pytest.raises(ValueError):
        ranking.MultitaskModel(user_model, movie_model, titles, 0.0, 0.0)
    with pytest.raises(ValueError):
        ranking.MultitaskModel(user_model, movie_model, titles, -1.0, 1.0)
    model = ranking.MultitaskModel(user_model, movie_model, titles, 1.0, 1.0)
    data = tf.data.Dataset.from_tensor_slices(
        {"user_id": np.array(["1", "2", "1"]), "movie_title": np.array(["a", "b", "c"]),
         "user_rating": np.array([5.0, 1.0, 3.0], np.float32)})
    run = fit(model, data, optimizer=tf.keras.optimizers.Adam(0.01), epochs=2, batch_size=2,
              validation_data=data, monitor="val_loss", mode="min", patience=1)
    assert run["epochs"] >= 1 and len(run["validation"]) == run["epochs"]
    assert run["validation"] == run["history"]["val_loss"]
