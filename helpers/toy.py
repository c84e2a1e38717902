"""The book's toy world: four users and five movies on two hand-picked axes.

Chapter 1 places them by hand; chapter 2 learns a factorization of their
feedback matrix and compares it with these coordinates.

Axes, each in [-1, 1]:

* x: children's film (-1) versus adult film (+1);
* y: arthouse (-1) versus blockbuster (+1).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AXES",
    "MOVIES",
    "MOVIE_REASONS",
    "MOVIE_EMBEDDINGS",
    "USERS",
    "USER_REASONS",
    "USER_EMBEDDINGS",
    "FEEDBACK",
]

#: Names of the two embedding dimensions, in column order.
AXES: tuple[str, str] = ("children's (-1) vs adult (+1)", "arthouse (-1) vs blockbuster (+1)")

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

#: Implicit feedback: 1 where the user watched the movie (rows USERS, columns MOVIES).
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
    _array.setflags(write=False)  # shared by every chapter: nobody edits them in place
