"""Tests of helpers.toy: the toy data and its scoring functions."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import toy
from helpers.toy import (
    FEEDBACK,
    MOVIE_EMBEDDINGS,
    MOVIES,
    USER_EMBEDDINGS,
    USERS,
    recommend,
    score,
    score_matrix,
)


# --- the data --------------------------------------------------------------


def test_data_shapes_agree():
    assert USER_EMBEDDINGS.shape == (len(USERS), len(toy.AXES))
    assert MOVIE_EMBEDDINGS.shape == (len(MOVIES), len(toy.AXES))
    assert FEEDBACK.shape == (len(USERS), len(MOVIES))
    assert set(toy.USER_REASONS) == set(USERS)
    assert set(toy.MOVIE_REASONS) == set(MOVIES)


def test_coordinates_are_on_the_axes_and_feedback_is_binary():
    for array in (USER_EMBEDDINGS, MOVIE_EMBEDDINGS):
        assert np.all(np.abs(array) <= 1)
    assert set(np.unique(FEEDBACK)) <= {0, 1}


def test_the_data_are_read_only():
    with pytest.raises(ValueError, match="read-only"):
        USER_EMBEDDINGS[0, 0] = 0.0


def test_a_sits_near_shrek():
    # The example: A likes children's blockbusters, near Shrek.
    distances = np.linalg.norm(MOVIE_EMBEDDINGS - USER_EMBEDDINGS[0], axis=1)
    assert MOVIES[int(np.argmin(distances))] == "Shrek"


# --- lookups ---------------------------------------------------------------


def test_unknown_user_names_the_known_ones_and_the_fix():
    message = r"unknown user 'E'.*'A', 'B', 'C', 'D'.*users="
    with pytest.raises(ValueError, match=message):
        score("E", "Shrek")


def test_unknown_movie_is_a_clear_error():
    message = r"unknown movie 'Shrek 2'.*movie_embeddings="
    with pytest.raises(ValueError, match=message):
        score("A", "Shrek 2")


# --- score_matrix ----------------------------------------------------------


def test_score_matrix_is_u_times_v_transposed():
    scores = score_matrix()
    assert scores.shape == (len(USERS), len(MOVIES))
    # A and Shrek, by hand: (-0.9)(-0.9) + (0.8)(0.9) = 0.81 + 0.72.
    assert scores[0, 0] == pytest.approx(1.53)
    for i in range(len(USERS)):
        for j in range(len(MOVIES)):
            expected = sum(USER_EMBEDDINGS[i] * MOVIE_EMBEDDINGS[j])
            assert scores[i, j] == pytest.approx(expected)


def test_hand_placed_scores_rank_every_watched_movie_first():
    # What chapter 1 claims: for every user, each watched movie outscores
    # each unwatched one.
    scores = score_matrix()
    for row, watched in zip(scores, FEEDBACK):
        assert row[watched == 1].min() > row[watched == 0].max()


def test_cosine_ignores_length_and_stays_in_range():
    cosine = score_matrix(similarity="cosine")
    assert np.all(np.abs(cosine) <= 1 + 1e-12)
    doubled = score_matrix(3 * USER_EMBEDDINGS, 2 * MOVIE_EMBEDDINGS, "cosine")
    np.testing.assert_allclose(doubled, cosine)
    # The dot product does grow with length.
    np.testing.assert_allclose(
        score_matrix(USER_EMBEDDINGS, 2 * MOVIE_EMBEDDINGS), 2 * score_matrix()
    )


def test_cosine_of_parallel_vectors_is_one():
    cosine = score_matrix([[-0.8, -0.4]], [[-0.2, -0.1], [0.4, 0.2]], "cosine")
    np.testing.assert_allclose(cosine, [[1.0, -1.0]])


def test_score_matrix_works_in_any_number_of_dimensions():
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(4, 32)), rng.normal(size=(5, 32))
    np.testing.assert_allclose(score_matrix(U, V), U @ V.T)


def test_mismatched_dimensions_are_a_clear_error():
    with pytest.raises(ValueError, match="users have 3 dimensions but movies have 2"):
        score_matrix(np.ones((4, 3)), MOVIE_EMBEDDINGS)


@pytest.mark.parametrize("bad", [np.ones(2), np.ones((2, 2, 2)), np.ones((0, 2))])
def test_embeddings_must_be_a_2d_table(bad):
    with pytest.raises(ValueError, match="2-D array with one row per vector"):
        score_matrix(bad, MOVIE_EMBEDDINGS)


def test_non_finite_embeddings_are_refused():
    with pytest.raises(ValueError, match="NaN or infinite"):
        score_matrix([[np.nan, 0.0]], MOVIE_EMBEDDINGS)


def test_unknown_similarity_is_a_clear_error():
    message = r"similarity must be one of \('dot', 'cosine'\), got 'euclid'"
    with pytest.raises(ValueError, match=message):
        score_matrix(similarity="euclid")


def test_cosine_of_the_zero_vector_is_refused():
    message = "row 1 of movie_embeddings is the zero vector"
    with pytest.raises(ValueError, match=message):
        score_matrix(USER_EMBEDDINGS, [[1.0, 0.0], [0.0, 0.0]], "cosine")


# --- score -----------------------------------------------------------------


def test_score_matches_the_matrix():
    assert score("D", "Harry Potter") == pytest.approx(score_matrix()[3, 1])
    assert score("D", "Harry Potter", similarity="cosine") == pytest.approx(
        score_matrix(similarity="cosine")[3, 1]
    )


def test_score_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown user 'Z'"):
        score("Z", "Shrek")
    with pytest.raises(ValueError, match="unknown movie 'Up'"):
        score("A", "Up")


def test_score_rejects_names_that_do_not_match_rows():
    with pytest.raises(ValueError, match="5 user names but 4 rows"):
        score("A", "Shrek", users=("A", "B", "C", "D", "E"))


# --- recommend -------------------------------------------------------------


def test_recommend_for_d_ranks_unwatched_movies_by_score():
    ranked = recommend("D")
    names = [name for name, _ in ranked]
    # D watched Shrek and The Triplets of Belleville.
    assert names == ["Harry Potter", "Memento", "The Dark Knight Rises"]
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(score("D", "Harry Potter"))


def test_recommend_k_and_watched():
    assert [n for n, _ in recommend("D", k=1)] == ["Harry Potter"]
    everything = recommend("D", exclude_watched=False)
    assert len(everything) == len(MOVIES)
    assert everything[0][0] == "The Triplets of Belleville"


def test_recommend_cosine_can_change_the_order():
    # Shrek is a longer vector than Harry Potter, so for C (who dislikes both)
    # the dot product pushes Shrek lower; cosine only looks at directions.
    dot = [n for n, _ in recommend("C", exclude_watched=False)]
    cos = [n for n, _ in recommend("C", exclude_watched=False, similarity="cosine")]
    assert dot[-2:] == ["Harry Potter", "Shrek"]
    assert cos[-2:] == ["Shrek", "Harry Potter"]


def test_recommend_for_a_new_user():
    ranked = recommend(
        "E",
        users=USERS + ("E",),
        user_embeddings=np.vstack([USER_EMBEDDINGS, [[0.8, -0.8]]]),
        feedback=np.vstack([FEEDBACK, np.zeros((1, len(MOVIES)), dtype=int)]),
    )
    assert len(ranked) == len(MOVIES)
    assert ranked[0][0] == "Memento"


def test_recommend_for_an_unknown_user_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown user 'E'.*user_embeddings="):
        recommend("E")


def test_recommend_needs_feedback_for_every_user():
    with pytest.raises(ValueError, match=r"feedback has shape \(4, 5\).*5 users"):
        recommend(
            "E",
            users=USERS + ("E",),
            user_embeddings=np.vstack([USER_EMBEDDINGS, [[0.8, -0.8]]]),
        )


@pytest.mark.parametrize("k", [0, -1])
def test_recommend_rejects_k_below_one(k):
    with pytest.raises(ValueError, match="k must be at least 1"):
        recommend("D", k=k)


@pytest.mark.parametrize("k", [1.5, True, "3"])
def test_recommend_rejects_k_that_is_not_an_int(k):
    with pytest.raises(TypeError, match="k must be an int"):
        recommend("D", k=k)


def test_recommend_accepts_numpy_ints():
    assert len(recommend("D", k=np.int64(2))) == 2


def test_recommend_rejects_duplicate_names():
    with pytest.raises(ValueError, match="names must be unique"):
        recommend("A", users=("A", "A", "C", "D"))


# --- claims made in chapter 1's exercise solutions -------------------------


def test_only_c_changes_order_under_cosine():
    def order(user, similarity):
        ranked = recommend(user, exclude_watched=False, similarity=similarity)
        return [movie for movie, _ in ranked]

    changed = [u for u in USERS if order(u, "dot") != order(u, "cosine")]
    assert changed == ["C"]


def test_b_ties_shrek_and_memento_up_to_rounding():
    # Exercise 3's solution: on paper both are 0.09 (-0.72 + 0.81 and
    # 0.72 - 0.63); floating point puts Memento a rounding error ahead,
    # which is also cosine's order, so B's list does not change.
    b = USERS.index("B")
    scores = score_matrix()[b]
    shrek, memento = scores[MOVIES.index("Shrek")], scores[MOVIES.index("Memento")]
    assert shrek != memento and abs(shrek - memento) < 1e-12
    assert memento > shrek


def test_toy_story_becomes_ds_first_recommendation():
    toy_story = np.array([[-0.7, 0.8]])
    ranked = recommend(
        "D",
        movies=MOVIES + ("Toy Story",),
        movie_embeddings=np.vstack([MOVIE_EMBEDDINGS, toy_story]),
        feedback=np.hstack([FEEDBACK, np.zeros((len(USERS), 1), dtype=int)]),
    )
    assert ranked[0] == ("Toy Story", pytest.approx(0.24))


@pytest.mark.parametrize("x, first", [(-0.47, "Harry Potter"), (-0.45, "Memento")])
def test_d_flips_to_memento_right_of_minus_0_457(x, first):
    moved = np.vstack([USER_EMBEDDINGS[:3], [[x, USER_EMBEDDINGS[3, 1]]]])
    assert recommend("D", user_embeddings=moved)[0][0] == first
