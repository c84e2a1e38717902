"""Ranking: predicting a star rating, and judging the order it gives (chapter 7).

Retrieval (chapters 3-5) narrows the catalogue to a few hundred candidates;
ranking orders those few with a model that predicts how much the user will
like each one. On MovieLens the target is the star rating ``user_rating``
(1-5). This module holds what chapter 7 builds on it:

* the data: :func:`split_rows` (the classic split and a validation split as
  row numbers, so every column of the ratings, not only the ids, can be split)
  and :func:`pair_features` (per-rating features looked up in the tables of
  :mod:`helpers.features`);
* the metrics: :func:`rmse`, :func:`mae`, and :func:`ndcg_at_k`, the quality
  of the order a model gives each user's rated test movies;
* the baselines, in NumPy: :func:`fit_biases` (damped user and item biases)
  and :func:`biased_mf` (biased matrix factorization, the "SVD" of the Netflix
  prize, solved by alternating least squares);
* one TFRS ranking model, :class:`RatingModel`: feature encodings
  concatenated, an optional ``tfrs.layers.dcn.Cross`` layer, ``Dense`` layers,
  one output; :func:`fit_ranking` trains it (with early stopping on a
  validation RMSE), :func:`predict_ratings` reads it, and
  :func:`cross_block_norms` says which feature pairs its cross layer weighs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

import helpers  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from helpers import _checks
from helpers.timing import Stopwatch
from helpers.data import EncodedSplit, classic_split, to_arrays, validation_split

__all__ = [
    "split_rows",
    "pair_features",
    "rmse",
    "mae",
    "ndcg_at_k",
    "Biases",
    "fit_biases",
    "BiasedMF",
    "biased_mf",
    "mf_objective",
    "RatingModel",
    "fit_ranking",
    "predict_ratings",
    "cross_block_norms",
]

#: Ratings are whole stars from 1 to 5; predictions are clipped to this range.
RATING_RANGE: tuple[float, float] = (1.0, 5.0)


# ------------------------------------------------------------------ data


def split_rows(
    n: int = 100_000, *, fraction: float = 0.1, seed: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The classic split and its validation split, as row numbers of the ratings.

    :func:`helpers.data.classic_split` shuffles the ratings with fixed seeds;
    the order it gives depends only on the seeds and the number of elements,
    so applying it to the row numbers ``0..n-1`` says which row of the
    ratings (read once, in order, with :func:`helpers.data.to_arrays`) went to
    train and which to test. The validation rows are the training rows that
    :func:`helpers.data.validation_split` holds out.

    Returns:
        ``(train, test, fit, validation)``: row numbers of the ratings, each in
        the order of its split; ``fit`` and ``validation`` split ``train``
        (validation: the pairs :func:`helpers.data.validation_split` holds out).
    """
    n = _checks.positive_int("n", n)
    rows = tf.data.Dataset.range(n).map(lambda i: {"row": i})
    train, test = (to_arrays(part, ["row"])["row"] for part in classic_split(rows))
    if len(train) + len(test) != n:
        raise ValueError(f"the classic split needs 100,000 rows (80,000 + 20,000), got n={n}")
    # validation_split permutes *positions* of the training pairs; give it the
    # positions themselves as "users" and read back which ones it held out.
    positions = np.arange(len(train))
    held = validation_split(
        EncodedSplit(np.arange(1), np.arange(1), positions, positions, positions[:0], positions[:0]),
        fraction=fraction,
        seed=seed,
    )
    return train, test, train[held.train_users], train[held.test_users]


def pair_features(
    users: np.ndarray,
    items: np.ndarray,
    user_table: Mapping[str, np.ndarray],
    movie_table: Mapping[str, np.ndarray],
    *,
    names: Sequence[str],
    extra: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The features of each (user, movie) pair, looked up in the two tables.

    Args:
        users, items: integer positions of the pairs (rows of the tables, which
            are in the order of the sorted vocabularies).
        user_table, movie_table: :func:`helpers.features.user_table` and
            :func:`helpers.features.movie_table`.
        names: the features wanted, each a column of one of the tables or of
            ``extra``.
        extra: per-pair columns, e.g. ``{"timestamp": ...}``, aligned with
            ``users``.

    Raises:
        KeyError: a name is in no table.
        ValueError: positions outside a table, or ``extra`` of another length.
    """
    n_users = len(user_table["user_id"])
    n_items = len(movie_table["movie_title"])
    users, items = _checks.pairs(users, items, n_users, n_items)
    extra = dict(extra or {})
    out = {}
    for name in names:
        if name in extra:
            column = np.asarray(extra[name])
            if len(column) != len(users):
                raise ValueError(f"extra column {name!r} has {len(column)} rows, want {len(users)}")
            out[name] = column
        elif name in user_table:
            out[name] = np.asarray(user_table[name])[users]
        elif name in movie_table:
            out[name] = np.asarray(movie_table[name])[items]
        else:
            known = sorted({*user_table, *movie_table, *extra})
            raise KeyError(f"unknown feature {name!r}; known: {known}")
    return out


# ------------------------------------------------------------------ metrics


def _predictions_and_ratings(predictions: object, ratings: object) -> tuple[np.ndarray, np.ndarray]:
    predictions = np.asarray(predictions, dtype=np.float64)
    ratings = np.asarray(ratings, dtype=np.float64)
    if predictions.ndim != 1 or predictions.shape != ratings.shape:
        raise ValueError(
            "predictions and ratings must be 1-D and of equal length, got shapes "
            f"{predictions.shape} and {ratings.shape}"
        )
    if predictions.size == 0:
        raise ValueError("no ratings to measure")
    return predictions, ratings


def rmse(predictions: object, ratings: object) -> float:
    """Root mean squared error, in stars: ``sqrt(mean((prediction - rating)²))``."""
    predictions, ratings = _predictions_and_ratings(predictions, ratings)
    return float(np.sqrt(np.mean((predictions - ratings) ** 2)))


def mae(predictions: object, ratings: object) -> float:
    """Mean absolute error, in stars: ``mean(|prediction - rating|)``."""
    predictions, ratings = _predictions_and_ratings(predictions, ratings)
    return float(np.mean(np.abs(predictions - ratings)))


def _dcg(gains_in_order: np.ndarray, discounts: np.ndarray) -> float:
    return float(np.sum(gains_in_order[: len(discounts)] * discounts[: len(gains_in_order)]))


def ndcg_at_k(
    predictions: object,
    ratings: object,
    users: object,
    k: int = 10,
    *,
    gain: str = "exponential",
    per_user: bool = False,
) -> float | np.ndarray:
    """NDCG@k of the order the predictions give each user's rated movies.

    For each user, sort the user's test movies by predicted rating, best
    first. The movie at position ``i`` (0-based) earns its gain,
    ``2**rating - 1`` (or the rating itself with ``gain="linear"``),
    discounted by ``log2(i + 2)``; DCG@k sums the first ``k``. NDCG@k divides
    it by the DCG@k of the best possible order (the movies sorted by their
    true ratings), so it lies in (0, 1] and 1 is a perfect order. The result
    is the mean over users.

    Ties in the predictions are broken at random, and the *expected* DCG is
    used: every position held by a group of tied movies earns the group's mean
    gain. So a model that predicts the same number for everything (the global
    mean) scores exactly what a random order scores on average.

    A user with a single test rating (or whose test ratings are all equal)
    scores 1 whatever the model: there is no order to get wrong. Such users
    are kept in the mean, as ranking libraries do; they lift every model alike.

    Args:
        predictions: predicted ratings, one per test pair.
        ratings: the true ratings, aligned with ``predictions``.
        users: the user of each pair (any hashable ids or integer positions).
        k: the cut-off.
        gain: ``"exponential"`` (``2**r - 1``) or ``"linear"`` (``r``).
        per_user: return each user's NDCG@k (in the order of ``np.unique(users)``)
            instead of their mean.

    Raises:
        ValueError: shapes that do not match, a bad ``k`` or ``gain``, or a
            rating that gives a negative gain.
    """
    predictions, ratings = _predictions_and_ratings(predictions, ratings)
    users = np.asarray(users)
    if users.shape != ratings.shape:
        raise ValueError(f"users must be aligned with ratings, got shapes {users.shape} and {ratings.shape}")
    k = _checks.positive_int("k", k)
    _checks.one_of("gain", gain, ("exponential", "linear"))
    gains = 2.0**ratings - 1.0 if gain == "exponential" else ratings.copy()
    if (gains < 0).any():
        raise ValueError("ratings must give non-negative gains (ratings >= 0)")
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)

    order = np.argsort(users, kind="stable")
    _, starts = np.unique(users[order], return_index=True)
    values = []
    for group in np.split(order, starts[1:]):
        g, p = gains[group], predictions[group]
        ideal = _dcg(np.sort(g)[::-1], discounts)
        if ideal == 0.0:  # nothing to gain (all gains zero): a perfect order
            values.append(1.0)
            continue
        by_prediction = np.argsort(-p, kind="stable")
        g, p = g[by_prediction], p[by_prediction]
        # expected gain at each position under a random tie-break
        _, tie_start, tie_count = np.unique(-p, return_index=True, return_counts=True)
        expected = np.repeat(np.add.reduceat(g, tie_start) / tie_count, tie_count)
        values.append(_dcg(expected, discounts) / ideal)
    per = np.asarray(values)
    return per if per_user else float(per.mean())


# ------------------------------------------------------------------ baselines


def _rating_triples(
    users: object, items: object, ratings: object, n_users: int, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_users = _checks.positive_int("n_users", n_users)
    n_items = _checks.positive_int("n_items", n_items)
    users, items = _checks.pairs(users, items, n_users, n_items)
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.shape != users.shape:
        raise ValueError(f"ratings must be aligned with users, got shapes {ratings.shape} and {users.shape}")
    if users.size == 0:
        raise ValueError("no ratings to fit")
    if not np.isfinite(ratings).all():
        raise ValueError("ratings must be finite numbers")
    return users, items, ratings


def _clip(values: np.ndarray, clip: bool) -> np.ndarray:
    return np.clip(values, *RATING_RANGE) if clip else values


@dataclass(frozen=True)
class Biases:
    """``r̂(u, i) = mean + user[u] + item[i]``: the baseline predictor."""

    mean: float
    user: np.ndarray
    item: np.ndarray

    def predict(self, users: object, items: object, *, clip: bool = True) -> np.ndarray:
        """Predicted ratings of the pairs, clipped to 1-5 unless ``clip=False``."""
        users, items = _checks.pairs(users, items, len(self.user), len(self.item))
        return _clip(self.mean + self.user[users] + self.item[items], clip)


def fit_biases(
    users: object,
    items: object,
    ratings: object,
    n_users: int,
    n_items: int,
    *,
    reg_user: float = 5.0,
    reg_item: float = 5.0,
    num_iterations: int = 1,
) -> Biases:
    """Damped user and item biases (Koren's baseline predictor).

    ``mean`` is the mean training rating. Each item's bias is the mean of its
    residuals ``r - mean``, *damped* towards 0 by ``reg_item`` pseudo-ratings;
    then each user's bias is the damped mean of ``r - mean - item[i]``:

        item[i] = Σ_u (r_ui - mean) / (reg_item + n_i)
        user[u] = Σ_i (r_ui - mean - item[i]) / (reg_user + n_u)

    A movie rated twice keeps little of its two ratings' deviation; one rated
    500 times keeps almost all of it. With ``num_iterations > 1`` the two
    steps alternate (the item step then uses the user biases too), which
    minimises ``Σ (r - mean - b_u - b_i)² + reg_user Σ b_u² + reg_item Σ b_i²``
    exactly in the limit.

    Args:
        users, items: integer positions of the training pairs.
        ratings: their ratings.
        n_users, n_items: sizes of the vocabularies (ids never rated get 0).
        reg_user, reg_item: the damping, in pseudo-ratings (>= 0).
        num_iterations: item-then-user sweeps (1: the formulas above).
    """
    users, items, ratings = _rating_triples(users, items, ratings, n_users, n_items)
    reg_user = _checks.number("reg_user", reg_user, low=0.0)
    reg_item = _checks.number("reg_item", reg_item, low=0.0)
    num_iterations = _checks.positive_int("num_iterations", num_iterations)
    mean = float(ratings.mean())
    n_u = np.bincount(users, minlength=n_users)
    n_i = np.bincount(items, minlength=n_items)
    user, item = np.zeros(n_users), np.zeros(n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(num_iterations):
            item = np.bincount(items, ratings - mean - user[users], n_items) / (reg_item + n_i)
            item = np.nan_to_num(item)  # unrated item with reg 0: 0/0
            user = np.bincount(users, ratings - mean - item[items], n_users) / (reg_user + n_u)
            user = np.nan_to_num(user)
    return Biases(mean, user, item)


@dataclass(frozen=True)
class BiasedMF:
    """``r̂(u, i) = mean + b_u + b_i + p_u · q_i``: biased matrix factorization.

    ``losses[t]`` is :func:`mf_objective` after sweep ``t + 1``.
    """

    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    losses: list[float] = field(default_factory=list)

    def predict(self, users: object, items: object, *, clip: bool = True) -> np.ndarray:
        """Predicted ratings of the pairs, clipped to 1-5 unless ``clip=False``."""
        users, items = _checks.pairs(users, items, len(self.P), len(self.Q))
        raw = (
            self.mean
            + self.user_bias[users]
            + self.item_bias[items]
            + np.einsum("ij,ij->i", self.P[users], self.Q[items])
        )
        return _clip(raw, clip)


def mf_objective(model: BiasedMF, users: object, items: object, ratings: object, reg: float) -> float:
    """``Σ (r - r̂)² + reg (‖P‖² + ‖Q‖² + ‖b_user‖² + ‖b_item‖²)``, unclipped r̂."""
    reg = _checks.number("reg", reg, low=0.0)
    error = np.asarray(ratings, dtype=np.float64) - model.predict(users, items, clip=False)
    penalty = sum(float(np.sum(a**2)) for a in (model.P, model.Q, model.user_bias, model.item_bias))
    return float(np.sum(error**2) + reg * penalty)


def _pointers(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A stable order grouping ``index`` and the start of each group (CSR)."""
    order = np.argsort(index, kind="stable")
    return order, np.concatenate([[0], np.cumsum(np.bincount(index, minlength=n))])


def _ridge_rows(
    order: np.ndarray,
    ptr: np.ndarray,
    other: np.ndarray,
    target: np.ndarray,
    F: np.ndarray,
    reg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For each row r: argmin over (p, b) of Σ (target - F[j]·p - b)² + reg (|p|² + b²)."""
    n_rows, d = len(ptr) - 1, F.shape[1]
    X_all = np.hstack([F, np.ones((len(F), 1))])
    lhs = np.empty((n_rows, d + 1, d + 1))
    rhs = np.empty((n_rows, d + 1))
    for r in range(n_rows):  # each step is one small BLAS product
        rows = order[ptr[r] : ptr[r + 1]]
        X = X_all[other[rows]]
        lhs[r] = X.T @ X
        rhs[r] = target[rows] @ X
    lhs += reg * np.eye(d + 1)
    try:
        solution = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # reg = 0 and a row with too few ratings
        solution = (np.linalg.pinv(lhs) @ rhs[:, :, None])[:, :, 0]
    return solution[:, :d], solution[:, d]


def biased_mf(
    users: object,
    items: object,
    ratings: object,
    n_users: int,
    n_items: int,
    *,
    embedding_dim: int,
    reg: float,
    num_iterations: int = 15,
    seed: int = 42,
    init_std: float = 0.1,
) -> BiasedMF:
    """Biased matrix factorization by alternating least squares.

    The model of Koren, Bell and Volinsky (the "SVD" of the Netflix prize),
    ``r̂ = mean + b_u + b_i + p_u · q_i``, minimising :func:`mf_objective`
    on the observed ratings only. With the items fixed, each user's
    ``(p_u, b_u)`` is a ridge regression on the user's ratings (features: the
    rated items' ``q_i`` and a constant 1), solved exactly; then the same for
    every item with the users fixed. No sweep increases the objective.
    (Koren et al. minimise the same objective by stochastic gradient descent.)

    Args:
        users, items: integer positions of the training pairs; ratings: theirs.
        n_users, n_items: sizes of the vocabularies.
        embedding_dim: the width ``d`` of ``p_u`` and ``q_i``.
        reg: the L2 penalty ``λ`` on factors and biases.
        num_iterations: sweeps (users, then items).
        seed, init_std: the normal random start of ``P`` and ``Q``.
    """
    users, items, ratings = _rating_triples(users, items, ratings, n_users, n_items)
    embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
    reg = _checks.number("reg", reg, low=0.0)
    num_iterations = _checks.positive_int("num_iterations", num_iterations)
    seed = _checks.non_negative_int("seed", seed)
    init_std = _checks.number("init_std", init_std, low=0.0)
    rng = np.random.default_rng(seed)
    P = rng.normal(0.0, init_std, (n_users, embedding_dim))
    Q = rng.normal(0.0, init_std, (n_items, embedding_dim))
    user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
    mean = float(ratings.mean())
    by_user, by_item = _pointers(users, n_users), _pointers(items, n_items)
    losses = []
    for _ in range(num_iterations):
        P, user_bias = _ridge_rows(*by_user, items, ratings - mean - item_bias[items], Q, reg)
        Q, item_bias = _ridge_rows(*by_item, users, ratings - mean - user_bias[users], P, reg)
        model = BiasedMF(mean, user_bias, item_bias, P, Q)
        losses.append(mf_objective(model, users, items, ratings, reg))
    return BiasedMF(mean, user_bias, item_bias, P, Q, losses)


# ------------------------------------------------------------------ TFRS model


class RatingModel(tfrs.Model):
    """A TFRS ranking model: features in, one predicted rating out.

    Each feature goes through its encoder (a Keras layer: an id embedding, a
    pooled genre embedding, ...); the encodings are concatenated into ``x0``;
    with ``cross=True`` a ``tfrs.layers.dcn.Cross`` layer computes
    ``x0 ∘ (W x0 + b) + x0``, whose weight ``W[a, b]`` multiplies feature
    ``a``'s encoding by feature ``b``'s (a deep & cross network, DCN); then
    ``Dense`` layers with ReLU and a ``Dense(1)`` output whose bias starts at
    ``mean``. The task is ``tfrs.tasks.Ranking`` with the mean squared error
    as loss and RMSE as metric.

    With two id encoders (``user_id``, ``movie_title``, 32 each),
    ``layer_sizes=(256, 64)``, ``cross=False`` and ``mean=0`` this is exactly
    the model of the TFRS basic-ranking guide.

    Args:
        encoders: ``{feature name: layer}``; every layer already adapted.
        layer_sizes: the hidden ``Dense`` layers.
        cross: put a full-rank ``Cross`` layer before the ``Dense`` layers.
        mean: the initial output (the training mean is a good start).
        label: the name of the rating in the feature dictionary.
    """

    def __init__(
        self,
        encoders: Mapping[str, tf.keras.layers.Layer],
        *,
        layer_sizes: Sequence[int] = (256, 64),
        cross: bool = False,
        mean: float = 0.0,
        label: str = "user_rating",
    ) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("encoders must name at least one feature")
        self.feature_names = list(encoders)
        self.encoders = dict(encoders)
        self.label = label
        self.cross = tfrs.layers.dcn.Cross(kernel_initializer="glorot_uniform") if cross else None
        self.hidden = [
            tf.keras.layers.Dense(_checks.positive_int("layer size", s), activation="relu")
            for s in layer_sizes
        ]
        mean = _checks.number("mean", mean)
        self.output_layer = tf.keras.layers.Dense(
            1, bias_initializer=tf.keras.initializers.Constant(mean)
        )
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError()],
        )

    def encode(self, features: Mapping[str, tf.Tensor]) -> list[tf.Tensor]:
        """Each feature's encoding, in the order of ``feature_names``."""
        missing = [n for n in self.feature_names if n not in features]
        if missing:
            raise KeyError(f"missing feature(s) {missing}; this model reads {self.feature_names}")
        return [self.encoders[n](features[n]) for n in self.feature_names]

    def call(self, features: Mapping[str, tf.Tensor]) -> tf.Tensor:
        x0 = tf.concat(self.encode(features), axis=1)
        x = self.cross(x0) if self.cross is not None else x0
        for layer in self.hidden:
            x = layer(x)
        return self.output_layer(x)

    def compute_loss(self, features: Mapping[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        return self.task(labels=features[self.label], predictions=self(features)[:, 0])


def _dataset(features: Mapping[str, np.ndarray]) -> tf.data.Dataset:
    lengths = {len(v) for v in features.values()}
    if len(lengths) != 1:
        raise ValueError(f"feature columns must have equal lengths, got {sorted(lengths)}")
    return tf.data.Dataset.from_tensor_slices(dict(features))


def predict_ratings(
    model: RatingModel, features: Mapping[str, np.ndarray], *, batch_size: int = 8192, clip: bool = True
) -> np.ndarray:
    """The model's predicted ratings as a NumPy array, clipped to 1-5 unless ``clip=False``."""
    batch_size = _checks.positive_int("batch_size", batch_size)
    inputs = {n: features[n] for n in model.feature_names}
    out = [model(batch).numpy()[:, 0] for batch in _dataset(inputs).batch(batch_size)]
    return _clip(np.concatenate(out).astype(np.float64), clip)


def fit_ranking(
    model: RatingModel,
    train: Mapping[str, np.ndarray],
    *,
    optimizer: tf.keras.optimizers.Optimizer,
    num_epochs: int,
    batch_size: int,
    validation: Mapping[str, np.ndarray] | None = None,
    patience: int = 2,
    seed: int = 42,
) -> dict:
    """Train a :class:`RatingModel`; with ``validation``, stop early on its RMSE.

    The training rows are shuffled once per epoch (seeded) and batched. With a
    validation set, its RMSE (predictions clipped to 1-5) is measured after
    every epoch; training stops after ``patience`` epochs without a new best,
    and the weights of the best epoch are restored.

    Args:
        model: the model, compiled here with ``optimizer``.
        train, validation: feature dictionaries with the rating under
            ``model.label``.

    Returns:
        ``{"seconds", "cpu_seconds", "epochs", "best_epoch", "validation"}``:
        wall-clock and CPU training time, epochs run, the best epoch (1-based; the last one
        without validation) and the validation RMSE after each epoch.
    """
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    batch_size = _checks.positive_int("batch_size", batch_size)
    patience = _checks.positive_int("patience", patience)
    seed = _checks.non_negative_int("seed", seed)
    for name, part in (("train", train), ("validation", validation)):
        if part is not None and model.label not in part:
            raise KeyError(f"{name} has no {model.label!r} column")
    columns = [*model.feature_names, model.label]
    data = _dataset({n: train[n] for n in columns})
    data = data.shuffle(len(train[model.label]), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    model.compile(optimizer=optimizer)
    history: list[float] = []
    best, best_weights, best_epoch, epochs = np.inf, None, num_epochs, 0
    clock = Stopwatch()
    for epoch in range(num_epochs):
        model.fit(data, epochs=1, verbose=0)
        epochs = epoch + 1
        if validation is None:
            continue
        score = rmse(predict_ratings(model, validation), validation[model.label])
        history.append(score)
        if score < best:
            best, best_weights, best_epoch = score, model.get_weights(), epochs
        elif epochs - best_epoch >= patience:
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    clock.stop()
    return {
        "seconds": clock.seconds,
        "cpu_seconds": clock.cpu_seconds,
        "epochs": epochs,
        "best_epoch": best_epoch,
        "validation": history,
    }


def cross_block_norms(model: RatingModel, features: Mapping[str, np.ndarray]) -> np.ndarray:
    """How strongly the cross layer couples each pair of features.

    The weight ``W`` of ``tfrs.layers.dcn.Cross`` multiplies the encoding of
    feature ``b`` into the term that scales feature ``a``; its block
    ``W[a, b]`` says how much the pair (a, b) contributes. As in the TFRS DCN
    guide, each block is summarised by its Frobenius norm; the encodings can
    have different widths, so the norm is divided by the square root of the
    block's size (the root mean square weight).

    Args:
        model: a trained :class:`RatingModel` with ``cross=True``.
        features: a few rows of features, to measure each encoding's width.

    Returns:
        ``(n_features, n_features)`` array in the order of ``model.feature_names``.

    Raises:
        ValueError: the model has no cross layer.
    """
    if model.cross is None:
        raise ValueError("the model has no cross layer (build it with cross=True)")
    sample = {n: np.asarray(features[n])[:2] for n in model.feature_names}
    widths = [int(e.shape[1]) for e in model.encode(sample)]
    edges = np.concatenate([[0], np.cumsum(widths)])
    W = model.cross._dense.kernel.numpy()  # x0 ∘ (x0 @ kernel + b): rows read x0
    n = len(widths)
    out = np.empty((n, n))
    for a in range(n):
        for b in range(n):
            # output column block a (the feature that is scaled) by input row block b
            block = W[edges[b] : edges[b + 1], edges[a] : edges[a + 1]]
            out[a, b] = np.linalg.norm(block) / np.sqrt(block.size)
    return out
