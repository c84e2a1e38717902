"""The book's toy world: four users and five movies on two hand-picked axes.

Chapter 1 places them by hand; chapter 2 learns a factorization of their
feedback matrix and compares it with these coordinates.

Axes, each in [-1, 1]:

* x: children's film (-1) versus adult film (+1);
* y: arthouse (-1) versus blockbuster (+1).

Besides the data (read-only arrays), the module holds the chapter's scoring
functions: :func:`score_matrix` (every user against every movie, by dot product
or cosine), :func:`score` (one user and one movie) and :func:`recommend` (a
user's unwatched movies, best first). They take the toy data by default, and
any other names and coordinates as keyword arguments, so a reader can add a
user or a movie without editing this file. Bad input (an unknown name,
embeddings with different numbers of dimensions, lengths that do not match)
raises a :class:`ValueError` that says what is wrong and how to fix it; an
argument of the wrong type (a ``k`` that is not an int) raises :class:`TypeError`.
The arrays are read-only, so no chapter can change them for the next one.
"""

from __future__ import annotations

import numpy as np

from helpers import _checks

__all__ = [
    "AXES",
    "MOVIES",
    "MOVIE_REASONS",
    "MOVIE_EMBEDDINGS",
    "USERS",
    "USER_REASONS",
    "USER_EMBEDDINGS",
    "FEEDBACK",
    "SIMILARITIES",
    "user_index",
    "movie_index",
    "score_matrix",
    "score",
    "recommend",
]

#: Names of the two embedding dimensions, in column order.
AXES: tuple[str, str] = (
    "children's (-1) vs adult (+1)",
    "arthouse (-1) vs blockbuster (+1)",
)

MOVIES: tuple[str, ...] = (
    "Shrek",
    "Harry Potter",
    "The Triplets of Belleville",
    "The Dark Knight Rises",
    "Memento",
)
MOVIE_REASONS: dict[str, str] = {
    "Shrek": "an animated family film that filled every multiplex",
    "Harry Potter": "a children's fantasy blockbuster that adults watch too",
    "The Triplets of Belleville": "an animated film made for art-house cinemas",
    "The Dark Knight Rises": "a dark superhero blockbuster for adults",
    "Memento": "an adult puzzle film from an independent studio",
}
#: One row per movie, columns as in :data:`AXES`.
MOVIE_EMBEDDINGS: np.ndarray = np.array(
    [
        [-0.9, 0.9],
        [-0.5, 0.9],
        [-0.6, -0.8],
        [0.7, 1.0],
        [0.9, -0.7],
    ]
)

USERS: tuple[str, ...] = ("A", "B", "C", "D")
USER_REASONS: dict[str, str] = {
    "A": "likes children's blockbusters",
    "B": "likes blockbusters for adults",
    "C": "likes art-house films, for any age",
    "D": "likes children's films, leaning art-house",
}
#: One row per user, on the same axes as the movies.
USER_EMBEDDINGS: np.ndarray = np.array(
    [
        [-0.9, 0.8],
        [0.8, 0.9],
        [0.2, -0.9],
        [-0.8, -0.4],
    ]
)

#: Implicit feedback: 1 where the user watched the movie
#: (rows in the order of USERS, columns in the order of MOVIES).
FEEDBACK: np.ndarray = np.array(
    [
        [1, 1, 0, 0, 0],  # A: Shrek, Harry Potter
        [0, 1, 0, 1, 0],  # B: Harry Potter, The Dark Knight Rises
        [0, 0, 1, 0, 1],  # C: The Triplets of Belleville, Memento
        [1, 0, 1, 0, 0],  # D: Shrek, The Triplets of Belleville
    ],
    dtype=np.int64,
)

for _array in (MOVIE_EMBEDDINGS, USER_EMBEDDINGS, FEEDBACK):
    _array.setflags(write=False)

#: The similarities :func:`score_matrix` knows.
SIMILARITIES: tuple[str, ...] = ("dot", "cosine")


def _lookup(name: str, names: tuple[str, ...] | list[str], kind: str) -> int:
    """Position of ``name`` in ``names``; a clear error when it is not there."""
    for position, known in enumerate(names):
        if known == name:
            return position
    raise ValueError(
        f"unknown {kind} {name!r}: the known {kind}s are "
        f"{', '.join(repr(n) for n in names)}. To score a new {kind}, pass its "
        f"name in `{kind}s=` and its coordinates in `{kind}_embeddings=`."
    )


def user_index(name: str, users: tuple[str, ...] | list[str] = USERS) -> int:
    """Row of user ``name`` in :data:`USER_EMBEDDINGS` (or in ``users``).

    Raises:
        ValueError: ``name`` is not one of ``users``.
    """
    return _lookup(name, users, "user")


def movie_index(name: str, movies: tuple[str, ...] | list[str] = MOVIES) -> int:
    """Row of movie ``name`` in :data:`MOVIE_EMBEDDINGS` (or in ``movies``).

    Raises:
        ValueError: ``name`` is not one of ``movies``.
    """
    return _lookup(name, movies, "movie")


def _as_embeddings(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as a 2-D float array of finite numbers, one row per vector."""
    matrix = np.asarray(array, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(
            f"{what} must be a 2-D array with one row per vector and at least one "
            f"column, got shape {matrix.shape}. A single vector v is written "
            "np.array([v]) (one row)."
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return matrix


def _unit_rows(matrix: np.ndarray, what: str) -> np.ndarray:
    """Each row divided by its length; a zero row has no direction."""
    lengths = np.linalg.norm(matrix, axis=1, keepdims=True)
    if np.any(lengths == 0):
        row = int(np.flatnonzero(lengths[:, 0] == 0)[0])
        raise ValueError(
            f"row {row} of {what} is the zero vector, which has no direction: "
            "its cosine similarity is undefined. Use similarity='dot' or move it "
            "away from the origin."
        )
    return matrix / lengths


def score_matrix(
    user_embeddings: np.ndarray = USER_EMBEDDINGS,
    movie_embeddings: np.ndarray = MOVIE_EMBEDDINGS,
    similarity: str = "dot",
) -> np.ndarray:
    """Affinity of every user for every movie: ``S = U @ V.T``.

    ``S[i, j]`` is the dot product of user ``i``'s vector and movie ``j``'s
    vector. With ``similarity="cosine"`` every vector is first scaled to length
    1, so only the directions count.

    Args:
        user_embeddings: ``U``, shape ``(n_users, d)``.
        movie_embeddings: ``V``, shape ``(n_movies, d)``, the same ``d``.
        similarity: ``"dot"`` or ``"cosine"``.

    Returns:
        The scores, shape ``(n_users, n_movies)``.

    Raises:
        ValueError: an array is not 2-D, the two ``d`` differ, ``similarity``
            is unknown, or (cosine only) a vector is zero.
    """
    U = _as_embeddings(user_embeddings, "user_embeddings")
    V = _as_embeddings(movie_embeddings, "movie_embeddings")
    if U.shape[1] != V.shape[1]:
        raise ValueError(
            f"users have {U.shape[1]} dimensions but movies have {V.shape[1]}: "
            "a dot product needs vectors on the same axes. Give every user and "
            "every movie a coordinate on each axis."
        )
    if similarity == "cosine":
        U = _unit_rows(U, "user_embeddings")
        V = _unit_rows(V, "movie_embeddings")
    elif similarity != "dot":
        raise ValueError(
            f"unknown similarity {similarity!r}: use one of {SIMILARITIES}"
        )
    return U @ V.T


def _check_rows(
    names: tuple[str, ...] | list[str], matrix: np.ndarray, what: str
) -> None:
    """One unique name per row of ``matrix``."""
    if len(names) != matrix.shape[0]:
        raise ValueError(
            f"{len(names)} {what[:-1]} names but {matrix.shape[0]} rows in "
            f"{what[:-1]}_embeddings: give one row of coordinates per name, "
            "in the same order"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be unique, got {list(names)}")


def score(
    user: str,
    movie: str,
    *,
    similarity: str = "dot",
    users: tuple[str, ...] | list[str] = USERS,
    movies: tuple[str, ...] | list[str] = MOVIES,
    user_embeddings: np.ndarray = USER_EMBEDDINGS,
    movie_embeddings: np.ndarray = MOVIE_EMBEDDINGS,
) -> float:
    """Affinity of one user for one movie, looked up by name.

    The same number as ``score_matrix(...)[user_index(user), movie_index(movie)]``.

    Raises:
        ValueError: an unknown user or movie name, or any error of
            :func:`score_matrix`.
    """
    U = _as_embeddings(user_embeddings, "user_embeddings")
    V = _as_embeddings(movie_embeddings, "movie_embeddings")
    _check_rows(users, U, "users")
    _check_rows(movies, V, "movies")
    i = user_index(user, users)
    j = movie_index(movie, movies)
    return float(score_matrix(U[i : i + 1], V[j : j + 1], similarity)[0, 0])


def recommend(
    user: str,
    k: int | None = None,
    *,
    similarity: str = "dot",
    exclude_watched: bool = True,
    users: tuple[str, ...] | list[str] = USERS,
    movies: tuple[str, ...] | list[str] = MOVIES,
    user_embeddings: np.ndarray = USER_EMBEDDINGS,
    movie_embeddings: np.ndarray = MOVIE_EMBEDDINGS,
    feedback: np.ndarray = FEEDBACK,
) -> list[tuple[str, float]]:
    """Movies for ``user``, best first, as ``(movie, score)`` pairs.

    Scores every movie with :func:`score_matrix`, drops the movies the user
    already watched (``feedback == 1``) unless ``exclude_watched=False``, and
    sorts by score, highest first; ties keep the catalogue order.

    Args:
        user: a name in ``users``.
        k: keep the best ``k`` movies; ``None`` keeps them all.
        similarity: ``"dot"`` or ``"cosine"``.
        exclude_watched: leave out the movies the user has watched.
        users, movies, user_embeddings, movie_embeddings, feedback: the world
            to recommend in; the toy data by default. ``feedback`` has shape
            ``(len(users), len(movies))`` and is only read when
            ``exclude_watched`` is true.

    Raises:
        TypeError: ``k`` is not an int (or ``None``).
        ValueError: an unknown user, a ``k`` below 1, names and rows that do
            not match, a ``feedback`` of the wrong shape, or any error of
            :func:`score_matrix`.
    """
    if k is not None:
        k = _checks.positive_int("k", k)
    U = _as_embeddings(user_embeddings, "user_embeddings")
    V = _as_embeddings(movie_embeddings, "movie_embeddings")
    _check_rows(users, U, "users")
    _check_rows(movies, V, "movies")
    i = user_index(user, users)
    scores = score_matrix(U[i : i + 1], V, similarity)[0]
    candidates = np.arange(len(movies))
    if exclude_watched:
        watched = np.asarray(feedback)
        if watched.shape != (len(users), len(movies)):
            raise ValueError(
                f"feedback has shape {watched.shape} but there are {len(users)} "
                f"users and {len(movies)} movies: it needs one row per user and "
                "one column per movie (add a row of zeros for a new user)"
            )
        candidates = candidates[watched[i] == 0]
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    if k is not None:
        order = order[:k]
    return [(movies[j], float(scores[j])) for j in order]
