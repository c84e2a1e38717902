"""Reproduces the numbers quoted in chapter 3's exercise solutions (run by hand).

Trains the recipe model as it is, then with one setting changed at a time and prints the
per-epoch loss and test top-10 / top-100 accuracy:

    TFDS_DATA_DIR=... python tests/benchmarks/ch3_exercise_sweep.py [--only-recipe]
"""
import helpers
helpers.setup(seed=42)
from helpers.data import classic_split, load_movielens, vocabularies
from helpers.retrieval import train_recipe_model
ratings, movies = load_movielens()
ratings = ratings.map(lambda x: {"movie_title": x["movie_title"], "user_id": x["user_id"]})
train, test = classic_split(ratings)
user_ids, movie_titles = vocabularies(ratings, movies)
import sys
settings = [dict(), dict(embedding_dim=8), dict(embedding_dim=64), dict(learning_rate=0.01),
            dict(learning_rate=0.5), dict(num_epochs=1), dict(num_epochs=10)]
for kw in settings[:1] if "--only-recipe" in sys.argv else settings:
    m = train_recipe_model(train, movies, user_ids, movie_titles, **kw)
    loss = [round(x) for x in m.history.history["loss"]]
    te = m.evaluate(test.batch(4096), return_dict=True, verbose=0)
    print(kw, "loss", loss, "test top10 %.4f top100 %.4f" % (te["factorized_top_k/top_10_categorical_accuracy"], te["factorized_top_k/top_100_categorical_accuracy"]), flush=True)
