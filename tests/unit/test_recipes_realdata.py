"""The product requirements, checked on the real Skytrax interactions when present."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from airctx.engine.recipes.base import LiveEvent, Query, TrainingData
from airctx.engine.recipes.context import UserPersonalization

DATA_DIR = Path(
    os.environ.get(
        "AIRCTX_DATA_DIR",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "skytrax",
    )
)
FOLDER = DATA_DIR / "personalize-format"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (FOLDER / "df_interactions.csv").exists(),
        reason="Skytrax data not found; set AIRCTX_DATA_DIR",
    ),
]


@pytest.fixture(scope="module")
def model() -> UserPersonalization:
    interactions = pd.read_csv(
        FOLDER / "df_interactions.csv", dtype={"ITEM_ID": str, "USER_ID": str}
    )
    users = pd.read_csv(
        FOLDER / "derived_user_id_to_nationality.csv", dtype={"USER_ID": str}
    ).set_index("USER_ID")[["NATIONALITY"]]
    data = TrainingData(
        interactions,
        users=users,
        context_fields=("CABIN_TYPE",),
        user_fields=("NATIONALITY",),
    )
    fitted = UserPersonalization()
    fitted.fit(data, {})
    return fitted


def top10(model: UserPersonalization, query: Query) -> list[str]:
    return [item for item, _ in model.recommend(query, 10)]


def test_first_class_and_economy_lists_differ_for_the_same_user(
    model: UserPersonalization,
) -> None:
    user = str(model.user_ids[0])
    first = top10(model, Query(user, {"CABIN_TYPE": "First Class"}))
    economy = top10(model, Query(user, {"CABIN_TYPE": "Economy"}))
    assert first != economy


def test_same_history_different_residence_gives_different_lists(
    model: UserPersonalization,
) -> None:
    history = [LiveEvent(str(model.item_ids[0]), 1_438_000_000.0)]
    lists = [
        top10(
            model,
            Query(
                "someone-new", {"CABIN_TYPE": "Economy"}, history, {"NATIONALITY": c}
            ),
        )
        for c in ("United Kingdom", "Australia")
    ]
    assert lists[0] != lists[1]
