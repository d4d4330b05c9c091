"""The local engine's recipes, by their Amazon Personalize names."""

from __future__ import annotations

from airctx.engine.recipes.base import Recommender
from airctx.engine.recipes.context import (
    HrnnMetadata,
    PersonalizedRanking,
    PersonalizedRankingV2,
    UserPersonalization,
    UserPersonalizationV2,
)
from airctx.engine.recipes.popularity import PopularityCount
from airctx.engine.recipes.sims import Sims

RECIPES: dict[str, type[Recommender]] = {
    cls.RECIPE: cls
    for cls in (
        UserPersonalization,
        UserPersonalizationV2,
        HrnnMetadata,
        PersonalizedRanking,
        PersonalizedRankingV2,
        PopularityCount,
        Sims,
    )
}


def recipe_class(name: str) -> type[Recommender]:
    """The model class for a recipe name (``aws-...``) or a recipe ARN.

    Raises KeyError naming the recipes this engine can train.
    """
    short = name.rsplit("/", 1)[-1]
    try:
        return RECIPES[short]
    except KeyError:
        known = ", ".join(sorted(RECIPES))
        raise KeyError(
            f"recipe {name!r} is not available in the local engine; use one of: {known}"
        ) from None


__all__ = ["RECIPES", "Recommender", "recipe_class"]
