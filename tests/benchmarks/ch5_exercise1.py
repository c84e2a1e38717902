"""Reproduces chapter 5's exercise 1 solution (run by hand): the logQ
correction applied to the recipe's own settings (Adagrad 0.1, batch 8,192,
3 epochs). Prints the training time and test top-k accuracy:

    TFDS_DATA_DIR=... python tests/benchmarks/ch5_exercise1.py
"""
import helpers

helpers.setup(seed=42)

import tensorflow as tf  # noqa: E402

from helpers.data import classic_split, encode_split, load_movielens, vocabularies  # noqa: E402
from helpers.metrics import top_k_accuracy  # noqa: E402
from helpers.retrieval import (  # noqa: E402
    LogQRetrievalModel,
    build_towers,
    candidate_probability,
    embeddings,
    training_pairs,
)
from helpers.train import fit  # noqa: E402

ratings, movies = load_movielens()
train, test = classic_split(ratings)
user_ids, movie_titles = vocabularies(ratings, movies)
split = encode_split(train, test, user_ids, movie_titles)

tf.keras.utils.set_random_seed(42)
user_model, movie_model = build_towers(user_ids, movie_titles, 32)
model = LogQRetrievalModel(
    user_model, movie_model, movie_titles,
    candidate_probability(split.train_items, split.n_items),
)
info = fit(model, training_pairs(split), optimizer=tf.keras.optimizers.Adagrad(0.1), epochs=3,
           batch_size=8192)
U, V = embeddings(model, user_ids, movie_titles)
accuracy = top_k_accuracy(U @ V.T, split.test_users, split.test_items)
print(f"trained in {info['seconds']:.1f} s; test top-k accuracy:",
      {k: round(v, 3) for k, v in accuracy.items()})
