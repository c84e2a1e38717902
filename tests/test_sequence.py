"""Histories and sequence towers on a hand-made timeline: no future ever enters a history."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.sequence import SelfAttention, SequenceModel, histories, history_tower

# User 0 rates items 0, 1 at t=10, 20, then items 2 and 3 in one second (t=30),
# then item 4 at t=40. User 1 rates item 5 at t=5 and item 0 at t=35.
USERS = np.array([0, 0, 0, 0, 0, 1, 1])
ITEMS = np.array([0, 1, 2, 3, 4, 5, 0])
TIMES = np.array([10, 20, 30, 30, 40, 5, 35])


def test_each_events_history_is_strictly_earlier_and_left_padded():
    h = histories(USERS, ITEMS, TIMES, 3)
    np.testing.assert_array_equal(h, [[-1, -1, -1], [-1, -1, 0], [-1, 0, 1], [-1, 0, 1],
                                      [1, 2, 3], [-1, -1, -1], [-1, -1, 5]])


def test_right_padding_keeps_the_same_items():
    h = histories(USERS, ITEMS, TIMES, 3, pad="right")
    np.testing.assert_array_equal(h[[2, 4, 6]], [[0, 1, -1], [1, 2, 3], [5, -1, -1]])


def test_no_history_holds_an_item_rated_at_or_after_its_time():
    rng = np.random.default_rng(0)
    users, times = rng.integers(0, 5, 300), rng.integers(0, 40, 300)
    items = np.arange(300)  # an item is its row: the history says which events it used
    for pad in ("left", "right"):
        h = histories(users, items, times, 4, pad=pad)
        used = h >= 0
        rows = np.nonzero(used)[0]
        assert (times[h[used]] < times[rows]).all()
        assert (users[h[used]] == users[rows]).all()
        # and nothing earlier was skipped: the history has min(4, #earlier) items
        earlier = ((users[None, :] == users[:, None]) & (times[None, :] < times[:, None])).sum(1)
        np.testing.assert_array_equal(used.sum(1), np.minimum(earlier, 4))


def test_a_query_reads_the_history_before_its_own_time():
    h = histories(USERS, ITEMS, TIMES, 2, query_users=np.array([0, 0, 1]),
                  query_times=np.array([30, 100, 35]))
    np.testing.assert_array_equal(h, [[0, 1], [3, 4], [-1, 5]])


def test_histories_refuse_mismatched_times():
    with pytest.raises(ValueError, match="one time per event"):
        histories(USERS, ITEMS, TIMES[:3], 2)


TITLES = np.array(["a", "b", "c", "d"])


def test_the_history_tower_masks_padding_and_has_an_unknown_row():
    tf.keras.utils.set_random_seed(0)
    tower = history_tower(TITLES, 4, tf.keras.layers.GRU(4))
    out = tower(tf.constant([["", "", "a", "b"], ["", "", "", "a"],
                             ["a", "b", "c", "d"]])).numpy()
    padded_more = tower(tf.constant([["", "", "", "", "", "a"]])).numpy()
    np.testing.assert_allclose(out[1], padded_more[0], atol=1e-6)  # left pads change nothing
    unknown = tower(tf.constant([["", "", "", "zzz"], ["", "", "", "yyy"]])).numpy()
    np.testing.assert_allclose(unknown[0], unknown[1], atol=1e-6)  # one out-of-vocabulary row
    assert not np.allclose(unknown[0], out[1])


def test_self_attention_ignores_padding_and_reads_every_title():
    tf.keras.utils.set_random_seed(0)
    tower = history_tower(TITLES, 4, SelfAttention(4, 4))
    history = tf.constant([["", "", "a", "b"]])
    before = tower(history).numpy()
    embedding = tower.layers[1]
    table = embedding.get_weights()[0]
    table[0] += 5.0  # move the padding's vector: a masked model must not notice
    embedding.set_weights([table])
    np.testing.assert_allclose(tower(history).numpy(), before, atol=1e-5)
    longer = tower(tf.constant([["", "c", "a", "b"]])).numpy()
    assert not np.allclose(before, longer)  # every earlier title counts


def test_the_sequence_model_trains_on_a_full_softmax():
    tf.keras.utils.set_random_seed(0)
    query = history_tower(TITLES, 4, tf.keras.layers.GRU(4))
    movie = tf.keras.Sequential([tf.keras.layers.StringLookup(vocabulary=TITLES, mask_token=None),
                                 tf.keras.layers.Embedding(5, 4)])
    model = SequenceModel(query, movie, TITLES)
    loss = model.compute_loss({"history": tf.constant([["", "a"], ["a", "b"]]),
                               "movie_title": tf.constant(["b", "c"])})
    assert abs(float(loss) - np.log(4)) < 0.1  # near-uniform over 4 titles at the start


def test_in_the_time_order_a_same_second_rating_precedes_by_row():
    from helpers.temporal import time_order
    h = histories(USERS, ITEMS, time_order(TIMES), 3)
    np.testing.assert_array_equal(h[[2, 3, 4]], [[-1, 0, 1], [0, 1, 2], [1, 2, 3]])
