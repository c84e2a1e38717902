"""Two stages together: retrieve candidates, re-rank them, measure the lists.

A deployed recommender is a cascade: a cheap first stage (a two-tower model and
an index) picks a few hundred candidates out of the catalogue, a second stage
re-orders them, and the user sees the top of the result. This module holds the
pieces chapter 8 measures end to end, on integer positions as in
:mod:`helpers.evaluate` (rows of a score matrix are users, columns titles):

* :func:`seen_matrix`, :func:`top_candidates`: the first stage's top ``k``
  for every user, titles the user rated in train left out;
* :func:`rerank`: re-order each user's candidates by a second-stage score;
* :func:`relevance_matrix`, :func:`recall_of_lists`, :func:`ndcg_of_lists`,
  :func:`evaluate_lists`: per-user recall@k and NDCG@k (graded or binary) of
  explicit lists, and the candidate recall that bounds any re-ranker;
* :func:`listwise_softmax_loss`: a softmax over each user's candidates, the
  listwise loss written by hand (``tensorflow-ranking`` does not install with
  TensorFlow 2.20);
* :func:`make_reranker`, :func:`fit_reranker`: a small network that scores
  every candidate from its features, trained pointwise or listwise;
* :class:`MultitaskModel`, :func:`fit_multitask`: one model with shared
  embeddings and both a retrieval and a rating task (the TFRS multitask
  guide), with a weight on each.

Defined behaviour at the edges (no crash, no division by zero):

* a user with fewer than ``k`` unseen titles (every candidate seen) gets a
  shorter list, padded with ``-1``; padding is never relevant;
* a user with no relevant test title (no test ratings, or only titles already
  seen in train) has no recall or NDCG: their per-user value is ``NaN`` and
  they are left out of the averages, which say how many users they cover.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks
from helpers.timing import Stopwatch

__all__ = [
    "PAD",
    "seen_matrix",
    "top_candidates",
    "rerank",
    "relevance_matrix",
    "recall_of_lists",
    "ndcg_of_lists",
    "evaluate_lists",
    "listwise_softmax_loss",
    "make_reranker",
    "fit_reranker",
    "MultitaskModel",
    "fit_multitask",
]

#: The position that pads a list shorter than asked for.
PAD = -1


# --------------------------------------------------------------- lists of titles


def seen_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> np.ndarray:
    """``(n_users, n_items)`` booleans: ``True`` where the user rated the title.

    Args:
        users, items: positions of the (training) pairs, one entry per pair.
        n_users, n_items: the size of the score matrix.

    Raises:
        TypeError, ValueError: sizes not positive ints, positions out of range
            or arrays of different lengths.
    """
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    users, items = _checks.pairs(users, items, n_users, n_items)
    seen = np.zeros((n_users, n_items), dtype=bool)
    seen[users, items] = True
    return seen


def _score_matrix(scores: np.ndarray, seen: np.ndarray | None) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        if seen is None:
            scores = scores[np.newaxis, :]
        else:
            scores = np.broadcast_to(scores, (np.shape(seen)[0], scores.shape[0]))
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(
            f"scores must be (n_users, n_items) or (n_items,), got shape {scores.shape}"
        )
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: the model diverged or was not trained")
    return scores


def top_candidates(
    scores: np.ndarray, k: int, *, seen: np.ndarray | None = None
) -> np.ndarray:
    """Each user's ``k`` best-scored titles, best first, seen titles left out.

    This is what a first stage hands to the second: for every user, the
    positions of the ``k`` titles with the highest scores among those the user
    has not rated (``seen``). Ties go to the lower position, so the lists are
    the same on every machine. A user with fewer than ``k`` unseen titles gets
    them all, then :data:`PAD` (``-1``).

    Args:
        scores: ``(n_users, n_items)`` scores, or ``(n_items,)`` shared by all
            users (popularity; then ``seen`` gives the number of users).
        k: list length, from 1 to ``n_items``.
        seen: ``(n_users, n_items)`` booleans from :func:`seen_matrix`, or
            ``None`` to keep every title.

    Returns:
        ``int64`` array of shape ``(n_users, k)``.

    Raises:
        ValueError: shapes that do not fit, NaN scores, ``k`` out of range.
        TypeError: ``k`` not an int.
    """
    scores = _score_matrix(scores, seen)
    n_users, n_items = scores.shape
    k = _checks.positive_int("k", k)
    if k > n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    if seen is not None:
        seen = np.asarray(seen, dtype=bool)
        if seen.shape != scores.shape:
            raise ValueError(f"seen has shape {seen.shape}, scores {scores.shape}")
        scores = np.where(seen, -np.inf, scores)
    # A stable sort of the negated scores: ties keep the lower position first.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    if seen is not None:
        order = np.where(np.take_along_axis(seen, order, axis=1), PAD, order)
    return order.astype(np.int64)


def rerank(candidates: np.ndarray, candidate_scores: np.ndarray) -> np.ndarray:
    """Re-order each user's candidates by a second-stage score, best first.

    Ties keep the first stage's order (a stable sort), and padding
    (:data:`PAD`) stays at the end whatever its score.

    Args:
        candidates: ``(n_users, k)`` positions from :func:`top_candidates`.
        candidate_scores: ``(n_users, k)``: the second stage's score of each
            candidate, in the same places.

    Returns:
        ``int64`` array of shape ``(n_users, k)``: the same candidates, re-ordered.

    Raises:
        ValueError: shapes differ, or a real candidate's score is NaN.
    """
    candidates = np.asarray(candidates)
    candidate_scores = np.asarray(candidate_scores, dtype=np.float64)
    if candidates.ndim != 2 or candidates.shape != candidate_scores.shape:
        raise ValueError(
            f"candidates and candidate_scores must be 2-D and of one shape, got "
            f"{candidates.shape} and {candidate_scores.shape}"
        )
    real = candidates != PAD
    if np.isnan(candidate_scores[real]).any():
        raise ValueError("candidate_scores contain NaN for real candidates")
    keyed = np.where(real, candidate_scores, -np.inf)
    order = np.argsort(-keyed, axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1).astype(np.int64)


# --------------------------------------------------------------------- metrics


def relevance_matrix(
    users: np.ndarray,
    items: np.ndarray,
    n_users: int,
    n_items: int,
    *,
    gains: np.ndarray | None = None,
    seen: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_users, n_items)`` gains of the held-out titles; 0 = not relevant.

    Args:
        users, items: positions of the held-out (test or validation) pairs.
        n_users, n_items: the size of the matrix.
        gains: one positive gain per pair (e.g. the test rating, for graded
            NDCG); ``None`` gives every pair gain 1 (binary relevance). A title
            held out twice for one user counts once, with its larger gain.
        seen: titles rated in train (:func:`seen_matrix`); they can never be
            recommended, so they are not relevant either.

    Raises:
        TypeError, ValueError: bad positions, sizes or shapes, gains not > 0.
    """
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    users, items = _checks.pairs(users, items, n_users, n_items)
    if gains is None:
        gains = np.ones(len(users))
    gains = np.asarray(gains, dtype=np.float64)
    if gains.shape != users.shape:
        raise ValueError(f"gains needs one value per pair: {gains.shape} for {users.shape}")
    if gains.size and not (gains > 0).all():
        raise ValueError("gains must be > 0 (a relevant title gains something)")
    relevance = np.zeros((n_users, n_items))
    np.maximum.at(relevance, (users, items), gains)
    if seen is not None:
        seen = np.asarray(seen, dtype=bool)
        if seen.shape != relevance.shape:
            raise ValueError(f"seen has shape {seen.shape}, expected {relevance.shape}")
        relevance[seen] = 0.0
    return relevance


def _list_gains(lists: np.ndarray, relevance: np.ndarray, k: int) -> np.ndarray:
    lists = np.asarray(lists)
    if lists.ndim != 2 or lists.shape[0] != relevance.shape[0]:
        raise ValueError(
            f"lists must be (n_users, length) with n_users = {relevance.shape[0]}, "
            f"got shape {lists.shape}"
        )
    if lists.size and not np.issubdtype(lists.dtype, np.integer):
        raise TypeError(f"lists must hold integer positions, got dtype {lists.dtype}")
    if lists.size and (lists.min() < PAD or lists.max() >= relevance.shape[1]):
        raise ValueError(f"list entries must lie in [0, {relevance.shape[1]}) or be -1")
    k = _checks.positive_int("k", k)
    top = lists[:, :k]
    gains = np.take_along_axis(relevance, np.maximum(top, 0), axis=1)
    return np.where(top == PAD, 0.0, gains)


def recall_of_lists(lists: np.ndarray, relevance: np.ndarray, k: int) -> np.ndarray:
    """Per user: share of their relevant titles among the first ``k`` of their list.

    Returns:
        ``float64`` array, one value per user; ``NaN`` for a user with no
        relevant title (nothing to recall).
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    hits = (_list_gains(lists, relevance, k) > 0).sum(axis=1)
    relevant = (relevance > 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(relevant > 0, hits / np.maximum(relevant, 1), np.nan)


def ndcg_of_lists(lists: np.ndarray, relevance: np.ndarray, k: int) -> np.ndarray:
    """Per user: NDCG@``k`` of their list, with the gains in ``relevance``.

    ``DCG@k = sum over ranks r = 1..k of gain(r) / log2(r + 1)``, divided by
    the DCG of the best possible list (the user's relevant titles sorted by
    gain), so 1 is a perfect top ``k`` and 0 a top ``k`` with nothing
    relevant. With 0/1 gains it is binary NDCG.

    Returns:
        ``float64`` array, one value per user; ``NaN`` for a user with no
        relevant title.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    gains = _list_gains(lists, relevance, k)
    discount = 1.0 / np.log2(np.arange(2, gains.shape[1] + 2))
    dcg = gains @ discount
    n_ideal = min(int(k), relevance.shape[1])
    ideal = -np.sort(-relevance, axis=1)[:, :n_ideal]
    idcg = ideal @ (1.0 / np.log2(np.arange(2, n_ideal + 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), np.nan)


def evaluate_lists(
    lists: np.ndarray,
    relevance: np.ndarray,
    *,
    k: int = 10,
    candidates: np.ndarray | None = None,
) -> dict[str, float]:
    """The row of an end-to-end table: means over users with a relevant title.

    Args:
        lists: ``(n_users, length)`` the final lists, best first (``-1`` pads).
        relevance: graded gains (e.g. ratings) from :func:`relevance_matrix`;
            binary NDCG and recall use "gain > 0".
        k: the cut-off of recall and NDCG.
        candidates: the first stage's lists; adds their recall at their full
            length (the most any re-ranker of them can reach).

    Returns:
        ``{"recall@k", "NDCG@k", "NDCG@k binary"[, "candidate recall@m"],
        "users"}``: the means and the number of users they average over.

    Raises:
        ValueError: no user has a relevant title (nothing to average).
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    binary = (relevance > 0).astype(np.float64)
    has = binary.sum(axis=1) > 0
    if not has.any():
        raise ValueError("no user has a relevant title: nothing to evaluate")
    out = {
        f"recall@{k}": float(np.mean(recall_of_lists(lists, relevance, k)[has])),
        f"NDCG@{k}": float(np.mean(ndcg_of_lists(lists, relevance, k)[has])),
        f"NDCG@{k} binary": float(np.mean(ndcg_of_lists(lists, binary, k)[has])),
    }
    if candidates is not None:
        m = np.shape(candidates)[1]
        out[f"candidate recall@{m}"] = float(
            np.mean(recall_of_lists(candidates, relevance, m)[has])
        )
    out["users"] = int(has.sum())
    return out


# ------------------------------------------------------------ second stage (TF)


def listwise_softmax_loss(labels, logits, mask=None):
    """Softmax cross-entropy over each user's candidates (a listwise loss).

    For one user with candidate logits ``s_1..s_m`` and labels ``y_i >= 0``
    (1 for a title the user watched, 0 otherwise, or graded gains), the loss is

        ``- sum_i y_i * log softmax(s)_i / sum_i y_i``,

    the cross-entropy between the labels, normalised to a distribution, and
    the softmax of the scores over that user's own list: it rewards putting
    the watched titles above the user's *other candidates*, exactly the
    comparison a re-ranker has to get right. A list with no positive label
    contributes 0. Padded candidates (``mask`` 0) are left out of the softmax.

    Args:
        labels, logits: ``(batch, m)`` tensors.
        mask: ``(batch, m)``, 1 for real candidates, 0 for padding; ``None``
            means all real.

    Returns:
        A scalar tensor: the mean over the lists of the batch.
    """
    labels = tf.cast(labels, tf.float32)
    logits = tf.cast(logits, tf.float32)
    if mask is not None:
        mask = tf.cast(mask, tf.float32)
        logits = logits + (mask - 1.0) * 1e9  # padding: -1e9, out of the softmax
        labels = labels * mask
    log_p = tf.nn.log_softmax(logits, axis=-1)
    total = tf.reduce_sum(labels, axis=-1)
    per_list = -tf.reduce_sum(labels * log_p, axis=-1) / tf.maximum(total, 1.0)
    return tf.reduce_mean(per_list)


def make_reranker(n_features: int, hidden: Sequence[int] = (32, 16), seed: int = 42):
    """A small network that scores every candidate of a list from its features.

    Input ``(batch, m, n_features)``; the same dense layers are applied to
    each candidate (Keras ``Dense`` acts on the last axis), output
    ``(batch, m)`` logits. Features should be standardised first.

    Raises:
        TypeError, ValueError: ``n_features`` or a layer width not a positive int.
    """
    n_features = _checks.positive_int("n_features", n_features)
    hidden = [_checks.positive_int("hidden width", h) for h in hidden]
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input(shape=(None, n_features))
    x = inputs
    for width in hidden:
        x = tf.keras.layers.Dense(width, activation="relu")(x)
    logits = tf.keras.layers.Dense(1)(x)
    return tf.keras.Model(inputs, tf.squeeze(logits, axis=-1))


def _pointwise_loss(labels, logits, mask):
    labels = tf.cast(labels > 0, tf.float32)
    per = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_sum(per * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def fit_reranker(
    model,
    features: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    *,
    loss: str = "listwise",
    num_epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 0.01,
    seed: int = 42,
) -> dict:
    """Train a :func:`make_reranker` network on users' candidate lists.

    Args:
        model: from :func:`make_reranker`.
        features: ``(n_users, m, n_features)`` float features of each candidate.
        labels: ``(n_users, m)``: 1 (or a gain) where the candidate is a
            held-out title of the user, 0 otherwise.
        mask: ``(n_users, m)``: 1 for real candidates, 0 for padding.
        loss: ``"listwise"`` (:func:`listwise_softmax_loss`) or
            ``"pointwise"`` (binary cross-entropy of "will watch" on every
            candidate: the first stage's misses are the hard negatives).
        num_epochs, batch_size, learning_rate, seed: training settings (Adam,
            users shuffled with ``seed`` every epoch).

    Returns:
        ``{"seconds", "cpu_seconds", "loss"}``: wall-clock and CPU time, and
        per-epoch mean loss.
    """
    loss = _checks.one_of("loss", loss, ("listwise", "pointwise"))
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    batch_size = _checks.positive_int("batch_size", batch_size)
    learning_rate = _checks.number("learning_rate", learning_rate, low=0, low_open=True)
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float32)
    mask = np.asarray(mask, dtype=np.float32)
    if features.ndim != 3 or labels.shape != features.shape[:2] or mask.shape != labels.shape:
        raise ValueError(
            f"features must be (n_users, m, n_features) and labels, mask (n_users, m); "
            f"got {features.shape}, {labels.shape}, {mask.shape}"
        )
    loss_fn = listwise_softmax_loss if loss == "listwise" else _pointwise_loss
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function(reduce_retracing=True)
    def step(x, y, m):
        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=True), m)
        grads = tape.gradient(value, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return value

    rng = np.random.default_rng(seed)
    history = []
    clock = Stopwatch()
    for _ in range(num_epochs):
        order = rng.permutation(len(features))
        values = []
        for s in range(0, len(order), batch_size):
            b = order[s : s + batch_size]
            values.append(float(step(features[b], labels[b], mask[b])))
        history.append(float(np.mean(values)))
    clock.stop()
    return {"seconds": clock.seconds, "cpu_seconds": clock.cpu_seconds, "loss": history}


# ------------------------------------------------------------------- multitask


class MultitaskModel(tfrs.Model):
    """Shared embeddings, two tasks: retrieval and rating (TFRS multitask guide).

    The towers (:func:`helpers.retrieval.build_towers`) are shared. The
    retrieval task is chapter 5's softmax over the whole catalogue on the
    dot product of the two embeddings; the rating task is the guide's: an
    MLP on the concatenated embeddings predicts the star rating, with a
    mean squared error. The loss is
    ``retrieval_weight * retrieval loss + rating_weight * rating loss``.

    Args:
        user_model, movie_model: the shared towers.
        movie_titles: every title (the columns of the softmax).
        retrieval_weight, rating_weight: the weights of the two losses
            (each >= 0, not both 0).
        hidden: widths of the rating MLP's hidden layers.
    """

    def __init__(
        self,
        user_model,
        movie_model,
        movie_titles,
        retrieval_weight: float = 1.0,
        rating_weight: float = 1.0,
        hidden: Sequence[int] = (64, 32),
    ) -> None:
        super().__init__()
        self.retrieval_weight = _checks.number("retrieval_weight", retrieval_weight, low=0)
        self.rating_weight = _checks.number("rating_weight", rating_weight, low=0)
        if self.retrieval_weight == 0 and self.rating_weight == 0:
            raise ValueError("at least one of the two weights must be > 0")
        movie_titles = np.asarray(movie_titles)
        self.user_model = user_model
        self.movie_model = movie_model
        self.all_titles = tf.constant(movie_titles)
        self.title_index = tf.keras.layers.StringLookup(
            vocabulary=movie_titles, mask_token=None, num_oov_indices=0
        )
        self.rating_model = tf.keras.Sequential(
            [tf.keras.layers.Dense(h, activation="relu") for h in hidden]
            + [tf.keras.layers.Dense(1)]
        )
        self.softmax = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.mse = tf.keras.losses.MeanSquaredError()

    def predict_rating(self, user_embeddings, movie_embeddings):
        """Predicted stars for matching rows of user and title embeddings."""
        joint = tf.concat([user_embeddings, movie_embeddings], axis=1)
        return tf.squeeze(self.rating_model(joint), axis=-1)

    def compute_loss(self, features, training=False):
        user_embeddings = self.user_model(features["user_id"])
        movie_embeddings = self.movie_model(features["movie_title"])
        # Both losses are always computed (as in the TFRS guide), so both heads
        # exist whatever the weights; a weight of 0 switches a task off.
        all_movies = self.movie_model(self.all_titles)
        logits = tf.matmul(user_embeddings, all_movies, transpose_b=True)
        retrieval_loss = self.softmax(self.title_index(features["movie_title"]), logits)
        predicted = self.predict_rating(user_embeddings, movie_embeddings)
        rating_loss = self.mse(features["user_rating"], predicted)
        loss = self.retrieval_weight * retrieval_loss + self.rating_weight * rating_loss
        return loss


def fit_multitask(
    model,
    train: dict[str, np.ndarray],
    validation: dict[str, np.ndarray],
    *,
    learning_rate: float = 0.01,
    num_epochs: int = 10,
    batch_size: int = 1024,
    patience: int = 1,
    seed: int = 42,
) -> dict:
    """Fit a :class:`MultitaskModel` with early stopping on its validation loss.

    The model's own weighted loss on the validation pairs is the criterion, so
    each weighting is stopped where *its* objective is best; the best epoch's
    weights are kept.

    Args:
        model: a :class:`MultitaskModel`.
        train, validation: ``{"user_id", "movie_title", "user_rating"}`` arrays.
        learning_rate: Adam's.
        num_epochs, batch_size, patience, seed: training settings.

    Returns:
        ``{"seconds", "cpu_seconds", "epochs", "best_epoch", "loss", "validation"}``.
    """
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    batch_size = _checks.positive_int("batch_size", batch_size)
    patience = _checks.positive_int("patience", patience)
    learning_rate = _checks.number("learning_rate", learning_rate, low=0, low_open=True)
    names = ("user_id", "movie_title", "user_rating")
    for part, data in (("train", train), ("validation", validation)):
        missing = [n for n in names if n not in data]
        if missing:
            raise KeyError(f"{part} lacks {missing}; it needs {list(names)}")

    def dataset(data, shuffle):
        columns = {n: np.asarray(data[n]) for n in names}
        columns["user_rating"] = columns["user_rating"].astype(np.float32)
        ds = tf.data.Dataset.from_tensor_slices(columns)
        if shuffle:
            ds = ds.shuffle(len(columns["user_id"]), seed=seed)
        return ds.batch(batch_size).cache()

    tf.keras.utils.set_random_seed(seed)
    stop = tf.keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    with Stopwatch() as clock:
        history = model.fit(
            dataset(train, True),
            validation_data=dataset(validation, False),
            epochs=num_epochs,
            verbose=0,
            callbacks=[stop],
        )
    val = [float(v) for v in history.history["val_loss"]]
    return {
        "seconds": clock.seconds,
        "cpu_seconds": clock.cpu_seconds,
        "epochs": len(val),
        "best_epoch": int(np.argmin(val)) + 1,
        "loss": [float(v) for v in history.history["loss"]],
        "validation": val,
    }
