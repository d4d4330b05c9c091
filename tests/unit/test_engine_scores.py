"""Scores in the local engine's answers follow Amazon Personalize's rules.

User-Personalization: every catalogue item scored relative to the others, each in
[0, 1], all summing to 1. Personalized-Ranking: the same among the items given, an
item the model never saw scoring 0. SIMS and Popularity-Count: no score at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from airctx.engine.recipes.base import Query, Recommender
from airctx.engine.runtime import relative_scores
from tests.unit import test_engine_fixture as fx
from tests.unit.test_engine_fixture import ITEMS, Group, item_id

engine = fx.engine
dsg = fx.dsg


def _served(group: Group, recipe: str) -> tuple[str, Recommender]:
    _, version = group.train(name=recipe.removeprefix("aws-"), recipe=recipe)
    campaign = group.campaign(version, name=f"{recipe.removeprefix('aws-')}-c")
    resource = group.engine.store.get(version)
    assert resource is not None
    return campaign, group.engine.runtime.model(resource)


def _recommend(group: Group, campaign: str, **params: Any) -> list[dict[str, Any]]:
    answer = group.rt.get_recommendations(campaignArn=campaign, **params)
    return list(answer["itemList"])


def test_relative_scores_are_shares_of_one_in_the_same_order() -> None:
    raw = [("a", 2.0), ("b", 1.3), ("c", 1.3), ("d", -4.0)]

    shares = relative_scores(raw)

    assert [item for item, _s in shares] == ["a", "b", "c", "d"]
    values = [s for _i, s in shares]
    assert all(0.0 <= s <= 1.0 for s in values)
    assert sum(values) == pytest.approx(1.0)
    assert values[0] > values[1] == values[2] > values[3]
    assert relative_scores([]) == []
    assert relative_scores([("only", 17.0)]) == [("only", 1.0)]


def test_user_personalization_scores_sum_to_one_over_the_catalogue(
    dsg: Group,
) -> None:
    campaign, model = _served(dsg, "aws-user-personalization")
    query = {"userId": "u01", "context": {"CABIN_TYPE": "Economy"}}

    every = _recommend(dsg, campaign, numResults=ITEMS, **query)

    scores = [entry["score"] for entry in every]
    assert len(every) == ITEMS
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert scores == sorted(scores, reverse=True)
    # The order is the model's own.
    raw = model.recommend(Query("u01", {"CABIN_TYPE": "Economy"}), ITEMS)
    assert [e["itemId"] for e in every] == [item for item, _s in raw]
    # Scores are relative to the whole catalogue, not to the items returned.
    top = _recommend(dsg, campaign, numResults=3, **query)
    assert top == every[:3]
    assert sum(entry["score"] for entry in top) < 1.0


def test_a_filter_keeps_the_scores_the_whole_catalogue_gave(dsg: Group) -> None:
    campaign, _model = _served(dsg, "aws-user-personalization")
    flt = dsg.pz.create_filter(
        name="long-only",
        datasetGroupArn=dsg.group,
        filterExpression='INCLUDE ItemID WHERE Items.GENRE IN ("long")',
    )["filterArn"]
    dsg.wait()

    every = {
        e["itemId"]: e["score"]
        for e in _recommend(dsg, campaign, userId="u02", numResults=ITEMS)
    }
    kept = _recommend(dsg, campaign, userId="u02", numResults=ITEMS, filterArn=flt)

    assert kept and len(kept) < ITEMS
    assert all(e["score"] == every[e["itemId"]] for e in kept)


def test_personalized_ranking_scores_sum_to_one_over_the_items_given(
    dsg: Group,
) -> None:
    campaign, model = _served(dsg, "aws-personalized-ranking")
    given = [item_id(i) for i in (3, 8, 11, 0, 17)]

    answer = dsg.rt.get_personalized_ranking(
        campaignArn=campaign,
        userId="u05",
        inputList=[*given, "never-seen"],
        context={"CABIN_TYPE": "Business"},
    )["personalizedRanking"]

    assert answer[-1] == {"itemId": "never-seen", "score": 0.0}
    known = answer[:-1]
    scores = [entry["score"] for entry in known]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(scores) == pytest.approx(1.0, abs=1e-6)
    raw = model.rank(Query("u05", {"CABIN_TYPE": "Business"}), given)
    assert [e["itemId"] for e in known] == [item for item, _s in raw]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("recipe", "params"),
    [
        ("aws-popularity-count", {"userId": "u01"}),
        ("aws-sims", {"itemId": item_id(4)}),
    ],
    ids=["popularity-count", "sims"],
)
def test_recipes_personalize_answers_without_scores_get_none(
    dsg: Group, recipe: str, params: dict[str, str]
) -> None:
    campaign, _model = _served(dsg, recipe)

    items = _recommend(dsg, campaign, numResults=5, **params)

    assert len(items) == 5
    assert all(set(entry) == {"itemId"} for entry in items)
