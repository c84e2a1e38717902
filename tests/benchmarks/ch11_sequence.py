"""Leave-last-out on MovieLens 100K: the id-only two-tower model against history towers.

Every model is trained on all but each user's last two ratings; validation is each
user's second-to-last rating, test the last (both read the history before them), and
the id-only model is retrained on all but the last for the test. Histories are in the
book's time order (timestamp, ties by row); SECONDS=1 cuts them at the second instead
(same-second ratings left out). Run by hand, never collected::

    ID_LR=0.02 CONFIGS='[("gru", 10, 3, 0.01, "left")]' python tests/benchmarks/ch11_sequence.py 3

(the argument: the id-only model's epochs; ID_LR: its learning rate, 0.01 by default;
CONFIGS: encoder, N, epochs, learning rate, padding; BATCH: batch size, 1,024 by default).

Recorded 2026-12-04 on the shared 2-core machine (times are wall seconds of those runs).
The id-only model, validation recall@100: 5 epochs at 0.01, 0.582 (test 0.559); 3 epochs
at 0.01, 0.536; at 0.02, 0.577 (test 0.551); at 0.03, 0.569: 3 epochs at 0.02 chosen.
Sequence models, 3 epochs, test gains against the id-only model at 3 epochs and 0.02:

| encoder, padding, N, learning rate | valid recall@10 | valid recall@100 | test paired gain recall@100 (SE) | s |
| --- | ---: | ---: | ---: | ---: |
| GRU, left + mask, 10, 0.005 | 0.176 | 0.646 | +0.053 (0.018) | 8.9 |
| GRU, left + mask, 10, 0.01 | 0.172 | 0.650 | +0.078 (0.018) | 10.0 |
| GRU, left + mask, 10, 0.02 | 0.186 | 0.633 | +0.075 (0.018) | 9.5 |
| GRU, right, no mask, 10, 0.01 | 0.177 | 0.645 | +0.068 (0.018) | 8.5 |
| SASRec-style, 1 block, 10, 0.01 | 0.192 | 0.638 | +0.077 (0.018) | 11.9 |
| GRU, left + mask, 5, 0.01 | 0.181 | 0.648 | +0.075 (0.018) | 7.1 |
| GRU, left + mask, 20, 0.01 | 0.174 | 0.652 | +0.072 (0.018) | 19.2 |

With SECONDS=1 (same-second ratings left out of the history), GRU left + mask, 10, 0.01:
validation recall@100 0.617, test paired gain recall@100 +0.033 (SE 0.018).
Chosen on validation recall@100: the GRU with left padding and masking at 0.01; N = 20 is
0.002 above N = 10 (noise over 935 users) at twice the time, so the chapter keeps N = 10.
Parameters (Keras ``count_params``, 32 dimensions, N = 10): SelfAttention 5,728, its
tower with the title embeddings 59,040; the GRU layer 6,336.
"""
import sys

import helpers

helpers.setup(seed=42)
import numpy as np
import tensorflow as tf

from helpers.data import load_movielens, to_arrays, vocabularies, encode
from helpers.metrics import matrix, ndcg, recall, paired_difference
from helpers.retrieval import FullSoftmaxModel, build_towers
from helpers.sequence import SelfAttention, SequenceModel, histories, history_tower
from helpers.temporal import leave_last_out, time_order
from helpers.timing import Stopwatch
from helpers.train import fit

ratings, movies = load_movielens(verbose=False)
a = to_arrays(ratings, ["user_id", "movie_title", "timestamp"])
user_ids, titles = vocabularies(ratings, movies)
u, i, t = encode(a["user_id"], user_ids), encode(a["movie_title"], titles), a["timestamp"]
n_users, n_items = len(user_ids), len(titles)
if not __import__("os").environ.get("SECONDS"):  # history: strictly earlier in (time, row) order
    t = time_order(t)
train, valid, test = leave_last_out(u, t)
padded = np.append(titles, "")
BATCH = int(__import__("os").environ.get("BATCH", 1024))
ID_LR = float(__import__("os").environ.get("ID_LR", 0.01))


def per_user(S, held, seen):
    gains = matrix(u[held], i[held], S.shape)
    mask = matrix(u[seen], i[seen], S.shape) > 0
    S, gains = np.where(mask, -np.inf, S), np.where(mask, 0.0, gains)
    return {"recall@10": recall(S, gains, 10), "recall@100": recall(S, gains, 100),
            "NDCG@10": ndcg(S, gains, 10)}


def query_histories(rows, held, n, pad="left"):
    """History of each held event (one per user, in user order) from the events ``rows``."""
    h = histories(u[rows], i[rows], t[rows], n, query_users=u[held], query_times=t[held], pad=pad)
    out = np.full((n_users, n), -1)
    out[u[held]] = h
    return padded[out]


def train_id(rows, epochs, lr=0.01, dim=32):
    tf.keras.utils.set_random_seed(42)
    um, mm = build_towers(user_ids, titles, dim)
    model = FullSoftmaxModel(um, mm, titles)
    data = tf.data.Dataset.from_tensor_slices({"user_id": user_ids[u[rows]], "movie_title": titles[i[rows]]})
    info = fit(model, data, optimizer=tf.keras.optimizers.Adam(lr), epochs=epochs, batch_size=BATCH)
    return model, info


def train_seq(rows, kind, n, epochs, lr=0.005, dim=32, pad="left"):
    h = histories(u[rows], i[rows], t[rows], n, pad=pad)
    keep = (h >= 0).any(1)
    data = tf.data.Dataset.from_tensor_slices({"history": padded[h[keep]], "movie_title": titles[i[rows][keep]]})
    tf.keras.utils.set_random_seed(42)
    enc = tf.keras.layers.GRU(dim, unroll=True) if kind == "gru" else SelfAttention(n, dim)
    q = history_tower(titles, dim, enc, masking=(pad == "left"))
    _, mm = build_towers(user_ids, titles, dim)
    model = SequenceModel(q, mm, titles)
    info = fit(model, data, optimizer=tf.keras.optimizers.Adam(lr), epochs=epochs, batch_size=BATCH)
    return model, info, int(keep.sum())


seen_v, seen_t = train, np.concatenate([train, valid])
res = {}
import os
for epochs in [int(x) for x in sys.argv[1:2]] or [5]:
    m, info = train_id(train, epochs, ID_LR)
    U, V = m.user_model(user_ids).numpy(), m.movie_model(titles).numpy()
    res["id", epochs] = per_user(U @ V.T, valid, seen_v)
    print("id", epochs, {k: round(float(np.nanmean(v)), 4) for k, v in res["id", epochs].items()},
          f"{info['seconds']:.1f}s")
    m, info = train_id(seen_t, epochs, ID_LR)
    U, V = m.user_model(user_ids).numpy(), m.movie_model(titles).numpy()
    r = per_user(U @ V.T, test, seen_t)
    print("  test", {k: round(float(np.nanmean(v)), 4) for k, v in r.items()})
    res["id-test"] = r
configs = eval(__import__("os").environ.get("CONFIGS", "[]"))
for kind, n, epochs, lr, pad in configs:
    m, info, n_ex = train_seq(train, kind, n, epochs, lr, pad=pad)
    V = m.movie_model(titles).numpy()
    Q = m.query_model(tf.constant(query_histories(train, valid, n, pad))).numpy()
    rv = per_user(Q @ V.T, valid, seen_v)
    Q = m.query_model(tf.constant(query_histories(seen_t, test, n, pad))).numpy()
    rt = per_user(Q @ V.T, test, seen_t)
    print(kind, pad, n, epochs, lr, n_ex, "valid", {k: round(float(np.nanmean(v)), 4) for k, v in rv.items()},
          f"{info['seconds']:.1f}s")
    print("  test", {k: round(float(np.nanmean(v)), 4) for k, v in rt.items()})
    for k in rt:
        d = paired_difference(rt[k], res["id-test"][k])
        print(f"  paired {k}: {d[0]:+.3f} (SE {d[1]:.3f}) n={d[2]}")
