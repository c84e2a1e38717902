"""Chapter 12, exercise 1: the Keras 3 full-softmax model on the JAX backend.

Run by hand, never collected, in an environment with only Keras 3, Keras RS and
JAX (the book's environment has TensorFlow's backend), from a folder holding
split.npz, which the book's environment writes (see the exercise):

    python -m venv jaxenv && . jaxenv/bin/activate
    pip install "jax[cpu]" "keras==3.15.*" keras-rs==0.4.0
    KERAS_BACKEND=jax python tests/benchmarks/ch12_full_softmax_jax.py

With jax 0.10.2, Keras 3.15.1 and Python 3.11 it printed
``keras 3.15.1 on the jax backend`` and ``{10: 0.062, 100: 0.404}``.
"""
import keras
import numpy as np

print(f"keras {keras.__version__} on the {keras.backend.backend()} backend")


class FullSoftmaxRetrieval(keras.Model):
    """Two towers; softmax cross-entropy over every title, plus L2 on the vectors."""

    def __init__(self, n_users, n_items, embedding_dim=32, l2=0.0):
        super().__init__()
        self.user_model = keras.layers.Embedding(n_users, embedding_dim)
        self.movie_model = keras.layers.Embedding(n_items, embedding_dim)
        self.all_items, self.l2 = keras.ops.arange(n_items), l2

    def call(self, users):
        u, v = self.user_model(users), self.movie_model(self.all_items)
        return keras.ops.matmul(u, keras.ops.transpose(v)), u, v

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        logits, u, v = y_pred  # y: the column of each user's watched title
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True))
        squared = lambda e: keras.ops.mean(keras.ops.sum(e * e, axis=1))  # noqa: E731
        return loss + self.l2 * (squared(u) + squared(v))


def shuffled_once(users, items, seed=42):
    order = np.random.default_rng(seed).permutation(len(users))
    return users[order], items[order]


data = np.load("split.npz")
keras.utils.set_random_seed(42)
model = FullSoftmaxRetrieval(943, 1664, 32, l2=0.1)
model.compile(optimizer=keras.optimizers.Adam(0.01))
users, items = shuffled_once(data["train_users"], data["train_items"])
model.fit(users, items, batch_size=1024, epochs=6, shuffle=False, verbose=0)
U = keras.ops.convert_to_numpy(model.user_model.embeddings)
V = keras.ops.convert_to_numpy(model.movie_model.embeddings)
S = U @ V.T
own = S[data["test_users"], data["test_items"]]  # each test pair's score
above = (S[data["test_users"]] > own[:, None]).sum(axis=1)  # titles ranked above it
print({k: round(float((above < k).mean()), 3) for k in (10, 100)})
