"""Chapter 12's noise: the TFRS and the Keras 3 (Keras RS) retrieval models, three seeds each.

Run by hand (never collected):
    PYTHONPATH=. TFDS_DATA_DIR=... python tests/benchmarks/ch12_keras_rs.py [--exercise2]
It trains chapter 5's two best retrieval models (full softmax, L2 0.1, Adam 0.01,
6 epochs; in-batch softmax with logQ and accidental hits removed, Adagrad 0.1,
2 epochs; embeddings of 32, batches of 1,024) with both libraries and seeds 42, 43
and 44, and prints each run's test top-10 and top-100 accuracy, and each
library's mean and spread (max - min) over the seeds: the noise that chapter 12's
side-by-side table is read against. The two Keras 3 models are the chapter's
(`FullSoftmaxRetrieval`, `InBatchRetrieval`), written here again so that the
script runs on its own. Its run of 2026-12-04 (seed: top-10, top-100):

    full softmax     TFRS      42: 0.0607 0.4024  43: 0.0625 0.4032  44: 0.0615 0.4022
    full softmax     Keras RS  42: 0.0625 0.4055  43: 0.0631 0.4032  44: 0.0602 0.4042
    in-batch + logQ  TFRS      42: 0.0527 0.3956  43: 0.0551 0.3945  44: 0.0539 0.3938
    in-batch + logQ  Keras RS  42: 0.0541 0.3982  43: 0.0537 0.3974  44: 0.0531 0.3956

Spread over the seeds at most 0.0029 (top-10) and 0.0026 (top-100); the
libraries' means differ by at most 0.0004 (top-10) and 0.0024 (top-100).
With --exercise2 it measures exercise 2 instead; it printed top-10 0.0255 and
top-100 0.2519 without both layers, and 0.0541 and 0.3982 with the logQ
correction alone (the model with both layers, seed 42: 0.0541 and 0.3982).
"""

import sys

import helpers

helpers.setup(seed=42)

import keras  # noqa: E402  (Keras 3: TF_USE_LEGACY_KERAS only changes tf.keras)
import keras_rs  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers.data import classic_split, encode_split, load_movielens, vocabularies  # noqa: E402
from helpers.metrics import top_k_accuracy  # noqa: E402
from helpers.retrieval import (FullSoftmaxModel, LogQRetrievalModel, build_towers,  # noqa: E402
                               candidate_probability, embeddings, training_pairs)
from helpers.train import fit  # noqa: E402

EMBEDDING_DIM, BATCH = 32, 1024


class FullSoftmax(keras.Model):
    def __init__(self, n_users, n_items, l2=0.1):
        super().__init__()
        self.user_model = keras.layers.Embedding(n_users, EMBEDDING_DIM)
        self.movie_model = keras.layers.Embedding(n_items, EMBEDDING_DIM)
        self.all_items, self.l2 = keras.ops.arange(n_items), l2

    def call(self, users):
        u, v = self.user_model(users), self.movie_model(self.all_items)
        return keras.ops.matmul(u, keras.ops.transpose(v)), u, v

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits, u, v = y_pred
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True))
        sq = lambda e: keras.ops.mean(keras.ops.sum(keras.ops.square(e), axis=1))  # noqa: E731
        return loss + self.l2 * (sq(u) + sq(v))


class InBatchLogQ(keras.Model):
    def __init__(self, n_users, n_items, probability):
        super().__init__()
        self.user_model = keras.layers.Embedding(n_users, EMBEDDING_DIM)
        self.movie_model = keras.layers.Embedding(n_items, EMBEDDING_DIM)
        self.log_q = keras_rs.layers.SamplingProbabilityCorrection()
        self.hits = keras_rs.layers.RemoveAccidentalHits()
        self.probability = keras.ops.convert_to_tensor(probability, "float32")

    def call(self, inputs):
        users, items = inputs["user"], inputs["item"]
        logits = keras.ops.matmul(self.user_model(users),
                                  keras.ops.transpose(self.movie_model(items)))
        logits = self.log_q(logits, keras.ops.take(self.probability, items))
        labels = keras.ops.eye(keras.ops.shape(items)[0])
        return self.hits(logits, labels, items), labels

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits, labels = y_pred
        return keras.ops.sum(keras.losses.categorical_crossentropy(
            labels, logits, from_logits=True))


def shuffled(split, seed):
    order = np.random.default_rng(seed).permutation(len(split.train_items))
    return split.train_users[order], split.train_items[order]


def keras3(kind, split, seed):
    keras.utils.set_random_seed(seed)
    users, items = shuffled(split, seed)
    if kind == "full softmax":
        model = FullSoftmax(split.n_users, split.n_items)
        model.compile(optimizer=keras.optimizers.Adam(0.01))
        model.fit(users, items, batch_size=BATCH, epochs=6, shuffle=False, verbose=0)
    else:
        q = candidate_probability(split.train_items, split.n_items)
        model = InBatchLogQ(split.n_users, split.n_items, q)
        model.compile(optimizer=keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.1))
        model.fit({"user": users, "item": items}, batch_size=BATCH, epochs=2, shuffle=False,
                  verbose=0)
    U = keras.ops.convert_to_numpy(model.user_model.embeddings)
    V = keras.ops.convert_to_numpy(model.movie_model.embeddings)
    return U, V


def tfrs_model(kind, split, seed, user_ids, movie_titles):
    tf.keras.utils.set_random_seed(seed)
    user_model, movie_model = build_towers(user_ids, movie_titles, EMBEDDING_DIM)
    if kind == "full softmax":
        model = FullSoftmaxModel(user_model, movie_model, movie_titles, l2=0.1)
        optimizer, epochs = tf.keras.optimizers.Adam(0.01), 6
    else:
        q = candidate_probability(split.train_items, split.n_items)
        model = LogQRetrievalModel(user_model, movie_model, movie_titles, q,
                                   remove_accidental_hits=True)
        optimizer, epochs = tf.keras.optimizers.Adagrad(0.1), 2
    fit(model, training_pairs(split), optimizer=optimizer, epochs=epochs, batch_size=BATCH,
        seed=seed)
    return embeddings(model, user_ids, movie_titles)


def exercise2(split):
    """Chapter 12, exercise 2: the in-batch model without the Keras RS layers, and
    with the logQ correction but without RemoveAccidentalHits (seed 42)."""
    q = candidate_probability(split.train_items, split.n_items)
    for variant in ("neither layer", "logQ, no hits removal"):
        class Variant(InBatchLogQ):
            def call(self, inputs):
                users, items = inputs["user"], inputs["item"]
                logits = keras.ops.matmul(self.user_model(users),
                                          keras.ops.transpose(self.movie_model(items)))
                if variant != "neither layer":
                    logits = self.log_q(logits, keras.ops.take(self.probability, items))
                return logits, keras.ops.eye(keras.ops.shape(items)[0])

        keras.utils.set_random_seed(42)
        users, items = shuffled(split, 42)
        model = Variant(split.n_users, split.n_items, q)
        model.compile(optimizer=keras.optimizers.Adagrad(0.1))
        model.fit({"user": users, "item": items}, batch_size=BATCH, epochs=2, shuffle=False,
                  verbose=0)
        U = keras.ops.convert_to_numpy(model.user_model.embeddings)
        V = keras.ops.convert_to_numpy(model.movie_model.embeddings)
        acc = top_k_accuracy(U @ V.T, split.test_users, split.test_items, (10, 100))
        print(f"exercise 2, {variant}: top-10 {acc[10]:.4f} top-100 {acc[100]:.4f}", flush=True)


def main():
    ratings, movies = load_movielens()
    ratings = ratings.map(lambda x: {"movie_title": x["movie_title"], "user_id": x["user_id"]})
    train, test = classic_split(ratings)
    user_ids, movie_titles = vocabularies(ratings, movies)
    split = encode_split(train, test, user_ids, movie_titles)
    if "--exercise2" in sys.argv:
        return exercise2(split)
    for kind in ("full softmax", "in-batch + logQ"):
        for library in ("TFRS", "Keras RS"):
            runs = []
            for seed in (42, 43, 44):
                if library == "TFRS":
                    U, V = tfrs_model(kind, split, seed, user_ids, movie_titles)
                else:
                    U, V = keras3(kind, split, seed)
                acc = top_k_accuracy(U @ V.T, split.test_users, split.test_items, (10, 100))
                runs.append((acc[10], acc[100]))
                print(f"{kind:>16} {library:>8} seed {seed}: top-10 {acc[10]:.4f} "
                      f"top-100 {acc[100]:.4f}", flush=True)
            runs = np.array(runs)
            print(f"{kind:>16} {library:>8} mean top-10 {runs[:, 0].mean():.4f} "
                  f"(spread {np.ptp(runs[:, 0]):.4f}), top-100 {runs[:, 1].mean():.4f} "
                  f"(spread {np.ptp(runs[:, 1]):.4f})", flush=True)


if __name__ == "__main__":
    main()
