"""Sequential retrieval: a query tower that reads the user's last titles, not the user's id.

A history: the user's ``n`` latest items strictly earlier in ``times`` than the request
(places in :func:`helpers.temporal.time_order`: same-second ratings ordered by row; raw
seconds: left out), oldest first, ``-1`` padding on the left (or the right)."""

from __future__ import annotations

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks
from helpers.retrieval import full_softmax_loss


def _histories(users, items, times, query_users, query_times, n, left):
    """The last ``n`` items before each query (-1 pads), events sorted by user, time."""
    key = users * 2**32 + times  # times fit in 32 bits (seconds, until 2106)
    order = np.lexsort((np.arange(len(key)), key))
    key, items = key[order], items[order]
    end = np.searchsorted(key, query_users * 2**32 + query_times, side="left")
    start = np.searchsorted(key, query_users * 2**32, side="left")
    length = np.minimum(end - start, n)
    place = np.arange(n) - (n - length[:, None] if left else 0)  # 0: the oldest kept
    rows = end[:, None] - length[:, None] + place
    inside = (place >= 0) & (place < length[:, None])
    return np.where(inside, items[np.clip(rows, 0, len(items) - 1)], -1)


def histories(users, items, times, n: int, *, query_users=None, query_times=None,
              pad: str = "left") -> np.ndarray:
    """``(queries, n)`` item positions: each query's history (default: each event's own)."""
    n, pad = _checks.positive_int("n", n), _checks.one_of("pad", pad, ("left", "right"))
    users, items = _checks.pairs(users, items, 2**31, 2**31)
    times = np.asarray(times, dtype=np.int64)
    query_users = users if query_users is None else np.asarray(query_users, dtype=np.int64)
    query_times = times if query_times is None else np.asarray(query_times, dtype=np.int64)
    if times.shape != users.shape or query_times.shape != query_users.shape:
        raise ValueError("one time per event and one time per query are needed")
    return _histories(users, items, times, query_users, query_times, n, pad == "left")


class SelfAttention(tf.keras.layers.Layer):
    """SASRec-style encoder: positions added, causal self-attention blocks, the last place out."""

    def __init__(self, length: int, dim: int, heads: int = 2, blocks: int = 1, dropout=0.1):
        super().__init__()
        self.supports_masking = True
        self.positions = tf.keras.layers.Embedding(length, dim)
        self.blocks = [(tf.keras.layers.MultiHeadAttention(heads, dim // heads, dropout=dropout),
                        tf.keras.layers.LayerNormalization(), tf.keras.layers.Dense(dim, "relu"),
                        tf.keras.layers.LayerNormalization()) for _ in range(blocks)]

    def call(self, x, mask=None, training=False):
        x = x + self.positions(tf.range(tf.shape(x)[1]))
        keep = None if mask is None else mask[:, None, :]
        for attend, norm1, feed, norm2 in self.blocks:
            x = norm1(x + attend(x, x, attention_mask=keep, use_causal_mask=True, training=training))
            x = norm2(x + feed(x))
        return x[:, -1]


def history_tower(movie_titles, embedding_dim: int, encoder, *, masking: bool = True):
    """Titles (``""`` pads) -> ``StringLookup`` (0: pad, 1: unknown) -> ``Embedding`` -> encoder."""
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    return tf.keras.Sequential([
        tf.keras.layers.StringLookup(vocabulary=np.asarray(movie_titles), mask_token=""),
        tf.keras.layers.Embedding(len(movie_titles) + 2, embedding_dim, mask_zero=masking),
        encoder])


class SequenceModel(tfrs.Model):
    """A history tower and a title tower, trained with the softmax over the whole catalogue."""

    def __init__(self, query_model, movie_model, movie_titles):
        super().__init__()
        self.query_model, self.movie_model = query_model, movie_model
        self.all_titles = tf.constant(np.asarray(movie_titles))
        self.title_index = tf.keras.layers.StringLookup(
            vocabulary=np.asarray(movie_titles), mask_token=None, num_oov_indices=0)

    def compute_loss(self, features, training=False):
        queries = self.query_model(features["history"], training=training)
        labels = self.title_index(features["movie_title"])
        return full_softmax_loss(queries, self.movie_model(self.all_titles), labels)
