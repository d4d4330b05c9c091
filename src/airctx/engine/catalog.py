"""The recipes the local engine offers, described as ListRecipes describes them."""

from __future__ import annotations

from dataclasses import dataclass

from airctx.engine.arns import recipe_arn


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    recipe_type: str
    description: str
    uses_context: bool
    legacy: bool = False
    # Whether GetRecommendations / GetPersonalizedRanking answers carry a score.
    # Personalize documents scores for User-Personalization(-v2) and
    # Personalized-Ranking(-v2), none for SIMS or Popularity-Count.
    scored: bool = True

    @property
    def arn(self) -> str:
        return recipe_arn(self.name)

    def document(self, created: float) -> dict[str, object]:
        return {
            "name": self.name,
            "recipeArn": self.arn,
            "algorithmArn": f"arn:aws:personalize:::algorithm/{self.name}",
            "featureTransformationArn": (
                "arn:aws:personalize:::feature-transformation/" + self.name
            ),
            "status": "ACTIVE",
            "description": self.description,
            "recipeType": self.recipe_type,
            "creationDateTime": created,
            "lastUpdatedDateTime": created,
        }


RECIPES: dict[str, RecipeInfo] = {
    info.name: info
    for info in (
        RecipeInfo(
            "aws-user-personalization",
            "USER_PERSONALIZATION",
            "Personalised top-N from the user's history, the interaction context, user "
            "and item metadata; events recorded after training are used at query time.",
            uses_context=True,
        ),
        RecipeInfo(
            "aws-user-personalization-v2",
            "USER_PERSONALIZATION",
            "The same context-aware model as aws-user-personalization, "
            "version 2 naming.",
            uses_context=True,
        ),
        RecipeInfo(
            "aws-hrnn-metadata",
            "USER_PERSONALIZATION",
            "Legacy recipe, retired on Amazon Personalize; served locally by the "
            "context-aware model so older notebooks keep working.",
            uses_context=True,
            legacy=True,
        ),
        RecipeInfo(
            "aws-personalized-ranking",
            "PERSONALIZED_RANKING",
            "Reorders a given list of items for a user, using context and metadata.",
            uses_context=True,
        ),
        RecipeInfo(
            "aws-personalized-ranking-v2",
            "PERSONALIZED_RANKING",
            "The same ranking model as aws-personalized-ranking, version 2 naming.",
            uses_context=True,
        ),
        RecipeInfo(
            "aws-popularity-count",
            "USER_PERSONALIZATION",
            "The most popular items by event count; the baseline for every metric.",
            uses_context=False,
            scored=False,
        ),
        RecipeInfo(
            "aws-sims",
            "RELATED_ITEMS",
            "Items related to a given item, from co-occurrence in user histories.",
            uses_context=False,
            scored=False,
        ),
    )
}


def recipe_by_arn(arn: str) -> RecipeInfo | None:
    for info in RECIPES.values():
        if info.arn == arn:
            return info
    return None
