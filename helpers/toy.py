"""A toy world: four users and five movies on two hand-picked axes, each in [-1, 1]
(x: children's -1 vs adult +1; y: arthouse -1 vs blockbuster +1), their feedback, and
scoring by dot product or cosine. The arrays are read-only; functions take others as keywords."""

import numpy as np

from helpers import _checks

AXES = ("children's (-1) vs adult (+1)", "arthouse (-1) vs blockbuster (+1)")

MOVIES = ("Shrek", "Harry Potter", "The Triplets of Belleville", "The Dark Knight Rises", "Memento")
MOVIE_REASONS = {
    "Shrek": "an animated family film that filled every multiplex",
    "Harry Potter": "a children's fantasy blockbuster that adults watch too",
    "The Triplets of Belleville": "an animated film made for art-house cinemas",
    "The Dark Knight Rises": "a dark superhero blockbuster for adults",
    "Memento": "an adult puzzle film from an independent studio",
}
#: One row per movie, columns as in AXES.
MOVIE_EMBEDDINGS = np.array([[-0.9, 0.9], [-0.5, 0.9], [-0.6, -0.8], [0.7, 1.0], [0.9, -0.7]])

USERS = ("A", "B", "C", "D")
USER_REASONS = {
    "A": "likes children's blockbusters",
    "B": "likes blockbusters for adults",
    "C": "likes art-house films, for any age",
    "D": "likes children's films, leaning art-house",
}
#: One row per user, on the same axes as the movies.
USER_EMBEDDINGS = np.array([[-0.9, 0.8], [0.8, 0.9], [0.2, -0.9], [-0.8, -0.4]])

#: 1 where the user watched the movie (rows: USERS, columns: MOVIES).
FEEDBACK = np.array([
    [1, 1, 0, 0, 0],  # A: Shrek, Harry Potter
    [0, 1, 0, 1, 0],  # B: Harry Potter, The Dark Knight Rises
    [0, 0, 1, 0, 1],  # C: The Triplets of Belleville, Memento
    [1, 0, 1, 0, 0],  # D: Shrek, The Triplets of Belleville
])
for _array in (MOVIE_EMBEDDINGS, USER_EMBEDDINGS, FEEDBACK):
    _array.setflags(write=False)

SIMILARITIES = ("dot", "cosine")


def _lookup(name, names, kind: str) -> int:
    if name in names:
        return list(names).index(name)
    raise ValueError(f"unknown {kind} {name!r}: the known {kind}s are {', '.join(map(repr, names))}. "
                     f"To score a new {kind}, pass its name in `{kind}s=` and its coordinates in "
                     f"`{kind}_embeddings=`.")


def _score_matrix(U: np.ndarray, V: np.ndarray, similarity: str = "dot") -> np.ndarray:
    """``S = U @ V.T``: ``S[i, j]`` is user i's vector dotted with movie j's. With
    ``similarity="cosine"`` every vector is first scaled to length 1."""
    if similarity == "cosine":
        U = U / np.linalg.norm(U, axis=1, keepdims=True)
        V = V / np.linalg.norm(V, axis=1, keepdims=True)
    return U @ V.T


def _embeddings(what: str, array, similarity: str) -> np.ndarray:
    """``array`` as a finite 2-D float table, one row per vector (non-zero for cosine)."""
    matrix = np.asarray(array, dtype=float)
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise ValueError(f"{what} must be a 2-D array with one row per vector and at least one column, "
                         f"got shape {matrix.shape}. A single vector v is written np.array([v]).")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    zero = np.flatnonzero(~matrix.any(axis=1))
    if similarity == "cosine" and zero.size:
        raise ValueError(f"row {zero[0]} of {what} is the zero vector, which has no direction: its "
                         "cosine similarity is undefined. Use similarity='dot' or move it.")
    return matrix


def score_matrix(user_embeddings=USER_EMBEDDINGS, movie_embeddings=MOVIE_EMBEDDINGS,
                 similarity: str = "dot") -> np.ndarray:
    """Affinity of every user (row) for every movie (column): :func:`_score_matrix`, checked."""
    similarity = _checks.one_of("similarity", similarity, SIMILARITIES)
    U = _embeddings("user_embeddings", user_embeddings, similarity)
    V = _embeddings("movie_embeddings", movie_embeddings, similarity)
    if U.shape[1] != V.shape[1]:
        raise ValueError(f"users have {U.shape[1]} dimensions but movies have {V.shape[1]}: a dot "
                         "product needs vectors on the same axes. Give each a coordinate on every axis.")
    return _score_matrix(U, V, similarity)


def _world(users, movies, user_embeddings, movie_embeddings):
    """One unique name per row of each table."""
    for kind, names, table in (("user", users, user_embeddings), ("movie", movies, movie_embeddings)):
        if len(names) != len(table):
            raise ValueError(f"{len(names)} {kind} names but {len(table)} rows in {kind}_embeddings: "
                             "give one row of coordinates per name, in the same order")
        if len(set(names)) != len(names):
            raise ValueError(f"{kind} names must be unique, got {list(names)}")


def score(user: str, movie: str, *, similarity: str = "dot", users=USERS, movies=MOVIES,
          user_embeddings=USER_EMBEDDINGS, movie_embeddings=MOVIE_EMBEDDINGS) -> float:
    """Affinity of one user for one movie, by name: an entry of :func:`score_matrix`."""
    _world(users, movies, user_embeddings, movie_embeddings)
    i, j = _lookup(user, users, "user"), _lookup(movie, movies, "movie")
    return float(score_matrix(user_embeddings[i : i + 1], movie_embeddings[j : j + 1], similarity)[0, 0])


def recommend(user: str, k: int | None = None, *, similarity: str = "dot",
              exclude_watched: bool = True, users=USERS, movies=MOVIES,
              user_embeddings=USER_EMBEDDINGS, movie_embeddings=MOVIE_EMBEDDINGS,
              feedback=FEEDBACK) -> list[tuple[str, float]]:
    """``(movie, score)`` pairs for ``user``, best first (ties in catalogue order), the best ``k``
    (``None``: all), leaving out the movies ``feedback`` says the user watched unless told not to."""
    k = k if k is None else _checks.positive_int("k", k)
    _world(users, movies, user_embeddings, movie_embeddings)
    i = _lookup(user, users, "user")
    scores = score_matrix(user_embeddings[i : i + 1], movie_embeddings, similarity)[0]
    candidates = np.arange(len(movies))
    if exclude_watched:
        if np.shape(feedback) != (len(users), len(movies)):
            raise ValueError(f"feedback has shape {np.shape(feedback)} but there are {len(users)} users "
                             f"and {len(movies)} movies: one row per user (zeros for a new one)")
        candidates = candidates[np.asarray(feedback)[i] == 0]
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    return [(movies[j], float(scores[j])) for j in order[:k]]
