"""Behaviour of the local recipes on small data whose right answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airctx.engine.recipes import RECIPES, _common, recipe_class
from airctx.engine.recipes.base import LiveEvent, Query, Recommender, TrainingData
from airctx.engine.recipes.context import UserPersonalization
from airctx.engine.recipes.sims import Sims

DAY = 86_400


def _events(rows: list[tuple[str, str, str, float]], start: int = 0) -> pd.DataFrame:
    """(user, item, cabin, rating) rows, one day apart, as a training frame."""
    return pd.DataFrame(
        {
            "USER_ID": [r[0] for r in rows],
            "ITEM_ID": [r[1] for r in rows],
            "TIMESTAMP": [1_600_000_000 + (start + k) * DAY for k in range(len(rows))],
            "CABIN": [r[2] for r in rows],
            "EVENT_TYPE": "RATING",
            "EVENT_VALUE": [r[3] for r in rows],
        }
    )


def known_answer_data() -> TrainingData:
    """Economy travellers use A, First travellers use B; residents of X use C and of
    Y use D; E and F are always used together."""
    rows: list[tuple[str, str, str, float]] = []
    for k in range(30):
        rows.append((f"eco{k}", "A", "Economy", 8.0))
    for k in range(10):
        rows.append((f"first{k}", "B", "First", 8.0))
    for k in range(8):
        rows.append((f"x{k}", "C", "Economy", 7.0))
        rows.append((f"y{k}", "D", "Economy", 7.0))
    for k in range(6):
        rows.append((f"pair{k}", "E", "Economy", 9.0))
        rows.append((f"pair{k}", "F", "Economy", 9.0))
    users = pd.DataFrame(
        {"RESIDENCE": ["X"] * 8 + ["Y"] * 8},
        index=pd.Index([f"x{k}" for k in range(8)] + [f"y{k}" for k in range(8)]),
    )
    return TrainingData(
        _events(rows),
        users=users,
        context_fields=("CABIN",),
        user_fields=("RESIDENCE",),
    )


def fitted(cls: type[Recommender], data: TrainingData | None = None) -> Recommender:
    model = cls()
    model.fit(data if data is not None else known_answer_data(), {})
    return model


def top_ids(model: Recommender, query: Query, n: int = 10) -> list[str]:
    return [item for item, _ in model.recommend(query, n)]


# ---- the contract every recipe keeps -------------------------------------------


@pytest.fixture(params=sorted(RECIPES), ids=str)
def recipe(request: pytest.FixtureRequest) -> type[Recommender]:
    return RECIPES[request.param]


QUERIES = [
    Query("eco1", {"CABIN": "Economy"}),
    Query("never-seen", {"CABIN": "First"}),
    Query("x1", {}, live_events=[LiveEvent("E", 1_700_000_000.0)]),
    Query(None, {"CABIN": "First"}, user_metadata={"RESIDENCE": "Y"}),
]


def test_save_load_round_trip_gives_identical_results(
    recipe: type[Recommender], tmp_path: Path
) -> None:
    model = fitted(recipe)
    model.save(tmp_path / "model")
    loaded = recipe.load(tmp_path / "model")
    for query in QUERIES:
        assert loaded.recommend(query, 5) == model.recommend(query, 5)
    assert loaded.describe() == model.describe()


def test_saved_model_loads_without_pickle(
    recipe: type[Recommender], tmp_path: Path
) -> None:
    fitted(recipe).save(tmp_path)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)


def test_num_results_is_respected(recipe: type[Recommender]) -> None:
    model = fitted(recipe)
    assert len(model.recommend(QUERIES[0], 3)) == 3
    assert len(model.recommend(QUERIES[0], 100)) == 6  # the whole catalogue
    assert model.recommend(QUERIES[0], 0) == []


def test_excluded_items_never_come_back(recipe: type[Recommender]) -> None:
    model = fitted(recipe)
    first = top_ids(model, QUERIES[0], 2)
    again = top_ids(model, QUERIES[0], 10)
    assert len(again) == 6
    kept = top_ids_excluding(model, QUERIES[0], first)
    assert not set(first) & set(kept)
    assert len(kept) == 4


def top_ids_excluding(
    model: Recommender, query: Query, exclude: list[str]
) -> list[str]:
    return [item for item, _ in model.recommend(query, 10, exclude=exclude)]


def test_unknown_user_gets_recommendations(recipe: type[Recommender]) -> None:
    result = fitted(recipe).recommend(Query("nobody"), 4)
    assert len(result) == 4
    scores = [score for _, score in result]
    assert scores == sorted(scores, reverse=True)


def test_loading_another_recipes_model_is_refused(tmp_path: Path) -> None:
    fitted(RECIPES["aws-popularity-count"]).save(tmp_path)
    with pytest.raises(ValueError, match="aws-popularity-count"):
        RECIPES["aws-sims"].load(tmp_path)


def test_fit_refuses_empty_interactions(recipe: type[Recommender]) -> None:
    empty = known_answer_data().interactions.iloc[:0]
    with pytest.raises(ValueError, match="no interactions"):
        recipe().fit(TrainingData(empty, context_fields=("CABIN",)), {})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"context_weigth": "1"}, "unknown hyperparameter 'context_weigth'"),
        ({"context_weight": "lots"}, "not a number"),
        ({"rating_weight": "1.5"}, "outside"),
    ],
    ids=["typo", "not-a-number", "out-of-bounds"],
)
def test_bad_hyperparameters_are_rejected(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UserPersonalization().fit(known_answer_data(), params)


def test_aws_only_hyperparameters_are_accepted_and_ignored() -> None:
    model = UserPersonalization()
    model.fit(known_answer_data(), {"hidden_dimension": "128", "bptt": "32"})
    assert "hidden_dimension" not in model.hyperparameters


def test_recipe_lookup_by_name_and_arn() -> None:
    assert recipe_class("aws-user-personalization") is UserPersonalization
    assert recipe_class("arn:aws:personalize:::recipe/aws-sims") is Sims
    with pytest.raises(KeyError, match="aws-popularity-count"):
        recipe_class("aws-trending-now")


# ---- the context-aware recipe ----------------------------------------------------


def test_context_decides_the_top_item() -> None:
    model = fitted(UserPersonalization)
    assert top_ids(model, Query("new", {"CABIN": "Economy"}), 1) == ["A"]
    assert top_ids(model, Query("new", {"CABIN": "First"}), 1) == ["B"]


def test_same_user_gets_different_lists_per_context() -> None:
    model = fitted(UserPersonalization)
    economy = top_ids(model, Query("x1", {"CABIN": "Economy"}))
    first = top_ids(model, Query("x1", {"CABIN": "First"}))
    assert economy != first


def test_metadata_decides_for_a_cold_user() -> None:
    model = fitted(UserPersonalization)
    # Little smoothing: each residence group has only 8 events.
    weights = {
        "popularity_weight": "0",
        "context_weight": "0",
        "context_smoothing": "2",
    }
    model.fit(known_answer_data(), weights)
    x = top_ids(model, Query("new", user_metadata={"RESIDENCE": "X"}), 1)
    y = top_ids(model, Query("new", user_metadata={"RESIDENCE": "Y"}), 1)
    assert (x, y) == (["C"], ["D"])


def test_metadata_is_inferred_from_the_items_of_a_user_without_it() -> None:
    """Residents of X use C or P, residents of Y use D or Q, never both: a user of
    unknown residence who used P is likely from X, so C should beat D."""
    rows: list[tuple[str, str, str, float]] = []
    residence = {}
    for k in range(10):
        for town, items in (("X", "CP"), ("Y", "DQ")):
            for item in items:
                rows.append((f"{town}{item}{k}", item, "Economy", 8.0))
                residence[f"{town}{item}{k}"] = town
    rows += [("unknown", "P", "Economy", 8.0), ("d-fan", "D", "Economy", 8.0)]
    users = pd.DataFrame({"RESIDENCE": residence})
    model = UserPersonalization()
    model.fit(
        TrainingData(
            _events(rows),
            users=users,
            context_fields=("CABIN",),
            user_fields=("RESIDENCE",),
        ),
        {"rerank_candidates": "0", "context_smoothing": "2"},
    )
    ranked = top_ids(model, Query("unknown"))
    assert ranked.index("C") < ranked.index("D")
    # A user with a known residence keeps it.
    assert top_ids(model, Query("YQ0"), 2) == ["Q", "D"]


def test_query_metadata_overrides_trained_metadata() -> None:
    model = UserPersonalization()
    model.fit(known_answer_data(), {"context_smoothing": "2"})
    trained = top_ids(model, Query("x1"))
    overridden = top_ids(model, Query("x1", user_metadata={"RESIDENCE": "Y"}))
    assert overridden.index("D") < trained.index("D")


def test_a_live_event_shifts_the_next_recommendation() -> None:
    model = UserPersonalization()
    model.fit(known_answer_data(), {"context_smoothing": "2"})
    before = top_ids(model, Query("new", {"CABIN": "First"}))
    live = [LiveEvent("E", 1_700_000_000.0, "RATING", 9.0, {"CABIN": "First"})]
    after = top_ids(model, Query("new", {"CABIN": "First"}, live_events=live))
    assert after.index("F") < before.index("F")
    assert after.index("F") < after.index("A")


def test_live_event_for_an_unknown_item_is_ignored() -> None:
    model = fitted(UserPersonalization)
    query = Query("new", {"CABIN": "Economy"})
    live = Query("new", {"CABIN": "Economy"}, [LiveEvent("ZZZ", 1_700_000_000.0)])
    assert model.recommend(live, 6) == model.recommend(query, 6)


def test_rank_puts_unseen_items_last() -> None:
    model = fitted(UserPersonalization)
    ranked = model.rank(Query("new", {"CABIN": "First"}), ["unseen", "A", "B", "other"])
    assert [item for item, _ in ranked] == ["B", "A", "unseen", "other"]


def test_item_metadata_relates_items_of_the_same_kind() -> None:
    base = known_answer_data()
    items = pd.DataFrame(
        {"KIND": ["k1", "k2", "k2", "k3", "k4", "k1"]},
        index=pd.Index(list("ABCDEF")),
    )
    data = TrainingData(
        base.interactions, items=items, context_fields=("CABIN",), item_fields=("KIND",)
    )
    model = UserPersonalization()
    only_items = {
        name: "0"
        for name in ("popularity_weight", "context_weight", "cooccurrence_weight")
    }
    model.fit(data, {**only_items, "history_weight": "0"})
    live = [LiveEvent("B", 1_700_000_000.0)]
    assert top_ids(model, Query("new", live_events=live), 2) == ["B", "C"]


def test_sequence_relates_items_used_one_after_the_other() -> None:
    # Each traveller uses G, then X, then H: G and H are never adjacent, although
    # the same people used both.
    rows = [(f"s{k}", item, "Economy", 8.0) for k in range(5) for item in "GXH"]
    data = TrainingData(_events(rows), context_fields=("CABIN",))
    only = {
        name: "0"
        for name in (
            "popularity_weight",
            "context_weight",
            "cooccurrence_weight",
            "item_metadata_weight",
        )
    }
    model = UserPersonalization()
    model.fit(data, {**only, "sequence_weight": "1"})
    live = Query("new", live_events=[LiveEvent("G", 1_700_000_000.0)])
    assert top_ids(model, live, 2) == ["G", "X"]
    model.fit(data, {**only, "sequence_weight": "0"})
    assert top_ids(model, live, 2)[1] != "X"


def test_transitions_link_consecutive_events_of_one_user_only() -> None:
    users = np.array([0, 0, 0, 1, 1])
    items = np.array([0, 1, 2, 1, 0])
    table = _common.transitions(users, items, 3).toarray()
    # User 0 goes 0-1-2 and user 1 goes 1-0; 2 (user 0's last) and 1 (user 1's
    # first) are not a pair.
    assert table.tolist() == [[0, 2, 0], [2, 0, 1], [0, 1, 0]]


def test_a_model_saved_without_the_sequence_table_still_serves(
    tmp_path: Path,
) -> None:
    model = fitted(UserPersonalization)
    model.save(tmp_path)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        older = {k: npz[k] for k in npz.files if not k.startswith("sequence_")}
    np.savez(tmp_path / "model.npz", **older)
    loaded = UserPersonalization.load(tmp_path)
    assert loaded.describe()["item_transitions"] == 0
    assert top_ids(loaded, Query("new", {"CABIN": "First"}), 1) == ["B"]


# ---- the other recipes -----------------------------------------------------------


def test_popularity_is_the_same_for_everyone() -> None:
    model = fitted(RECIPES["aws-popularity-count"])
    assert top_ids(model, QUERIES[0]) == top_ids(model, QUERIES[3])
    assert top_ids(model, QUERIES[0], 1) == ["A"]


def test_sims_finds_the_item_used_together() -> None:
    model = fitted(Sims)
    assert model.similar_items("E", 1)[0][0] == "F"
    assert "E" not in [item for item, _ in model.similar_items("E", 10)]


def test_sims_pads_unknown_items_with_popular_ones() -> None:
    model = fitted(Sims)
    assert [item for item, _ in model.similar_items("nope", 2)] == ["A", "B"]


# ---- time and rating scale are robust to a few outlying events ----------------

YEAR = 365 * DAY


def test_a_live_event_years_after_training_counts_like_one_at_its_end() -> None:
    model = fitted(UserPersonalization)
    end = 1_600_000_000.0 + 70 * DAY
    scores = []
    for when in (end, end + 10 * YEAR):
        live = [LiveEvent("E", when, "RATING", 9.0, {"CABIN": "Economy"})]
        scores.append(model.scores(Query("x1", {"CABIN": "First"}, live)))
    np.testing.assert_allclose(scores[0], scores[1])


def _rated(item_ratings: list[tuple[str, float]], users: int) -> pd.DataFrame:
    rows = [
        (f"{item}{k}", item, "Economy", rating)
        for item, rating in item_ratings
        for k in range(users)
    ]
    return _events(rows)


def test_one_event_decades_newer_does_not_make_the_history_stale() -> None:
    frame = _rated([("A", 8.0), ("B", 8.0)], 120)
    frame = frame[~((frame["ITEM_ID"] == "B") & (frame.index % 2 == 0))]
    late = frame.iloc[:1].assign(
        USER_ID="late", ITEM_ID="G", TIMESTAMP=frame["TIMESTAMP"].max() + 30 * YEAR
    )
    model = UserPersonalization()
    model.fit(TrainingData(pd.concat([frame, late]), context_fields=("CABIN",)), {})
    assert top_ids(model, Query("new"), 3) == ["A", "B", "G"]


def test_one_absurd_rating_does_not_flatten_the_others() -> None:
    frame = _rated([("A", 9.0), ("B", 2.0)], 100)
    absurd = frame.iloc[:1].assign(USER_ID="odd", ITEM_ID="C", EVENT_VALUE=1e9)
    model = UserPersonalization()
    model.fit(TrainingData(pd.concat([frame, absurd]), context_fields=("CABIN",)), {})
    scores = dict(model.recommend(Query("new"), 3))
    assert scores["A"] > scores["B"]
