"""Event filters, training minimums, the training entry point and HPO."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from airctx.engine import hpo
from airctx.engine.metrics import METRIC_NAMES
from airctx.engine.recipes import RECIPES
from airctx.engine.recipes.base import Query, TrainingData
from airctx.engine.recipes.context import UserPersonalization
from airctx.engine.trained_events import event_filters, keeps_event
from airctx.engine.training import filter_events, train


def synthetic(n_users: int = 300, seed: int = 0) -> TrainingData:
    """Economy users favour low item numbers, First users high ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        cabin = "First" if u % 4 == 0 else "Economy"
        for k in range(2 + u % 5):
            centre = 15 if cabin == "First" else 4
            item = int(np.clip(rng.normal(centre, 3), 0, 19))
            rows.append((f"u{u}", f"i{item}", 1_500_000_000 + k * 86_400, cabin))
    frame = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "CABIN"])
    frame["EVENT_TYPE"] = "RATING"
    frame["EVENT_VALUE"] = rng.integers(1, 11, len(frame)).astype(float)
    return TrainingData(frame, context_fields=("CABIN",))


def test_filter_keeps_the_event_type_and_ratings_at_threshold() -> None:
    frame = pd.DataFrame(
        {
            "EVENT_TYPE": ["RATING", "RATING", "CLICK", "RATING"],
            "EVENT_VALUE": [3.0, 6.0, 9.0, np.nan],
        }
    )

    kept = filter_events(frame, "RATING", 6.0)

    assert kept["EVENT_VALUE"].tolist() == [6.0]


@pytest.mark.parametrize(
    "want_type,threshold",
    [("RATING", 6.0), (None, 6.0), ("RATING", None), (None, None)],
    ids=["both", "threshold", "type", "none"],
)
def test_a_live_event_is_kept_exactly_when_training_keeps_it(
    want_type: str | None, threshold: float | None
) -> None:
    events = [("RATING", 3.0), ("RATING", 6.0), ("CLICK", 9.0), ("RATING", None)]
    frame = pd.DataFrame(events, columns=["EVENT_TYPE", "EVENT_VALUE"])

    trained = filter_events(frame, want_type, threshold).index.tolist()
    live = [
        i
        for i, (kind, value) in enumerate(events)
        if keeps_event(kind, value, want_type, threshold)
    ]

    assert live == trained


def test_event_filters_read_the_solution_version() -> None:
    version = {"eventType": "RATING", "solutionConfig": {"eventValueThreshold": "6"}}
    assert event_filters(version) == ("RATING", 6.0)
    assert event_filters({"solutionConfig": {"eventValueThreshold": "0"}}) == (
        None,
        0.0,
    )
    assert event_filters({}) == (None, None)


def test_filter_without_settings_keeps_everything() -> None:
    frame = pd.DataFrame({"EVENT_TYPE": ["A", "B"], "EVENT_VALUE": [1.0, np.nan]})
    assert len(filter_events(frame, None, None)) == 2


def test_filter_needs_the_columns_it_filters_on() -> None:
    with pytest.raises(ValueError, match="no EVENT_VALUE column"):
        filter_events(pd.DataFrame({"EVENT_TYPE": ["A"]}), None, 5.0)


def test_threshold_removes_low_ratings_from_what_the_model_learns() -> None:
    data = synthetic()
    frame = data.interactions.copy()
    frame.loc[frame["ITEM_ID"] == "i4", "EVENT_VALUE"] = 1.0
    filtered = filter_events(frame, "RATING", 5.0)

    model = UserPersonalization()
    model.fit(TrainingData(filtered, context_fields=("CABIN",)), {})

    top = [item for item, _ in model.recommend(Query(None, {"CABIN": "Economy"}), 20)]
    assert "i4" not in top


def test_train_measures_against_the_baseline_and_fits_on_everything() -> None:
    data = synthetic()

    result = train("aws-user-personalization", data, hyperparameters={})

    assert set(result.metrics) == set(METRIC_NAMES)
    assert set(result.baseline_metrics) == set(METRIC_NAMES)
    assert result.model.describe()["interactions"] == len(data.interactions)
    assert result.hpo_trials == []
    # The reported hyperparameters train the same model again.
    again = UserPersonalization()
    again.fit(data, result.hyperparameters)
    query = Query("u1", {"CABIN": "First"})
    assert again.recommend(query, 5) == result.model.recommend(query, 5)


def test_context_model_beats_popularity_when_context_matters() -> None:
    result = train("aws-user-personalization", synthetic(), hyperparameters={})
    objective = "normalized_discounted_cumulative_gain_at_10"
    assert result.metrics[objective] > result.baseline_metrics[objective]


@pytest.mark.parametrize(
    ("rows", "message"),
    [(500, "at least 1000"), (1200, "2 or more interactions")],
    ids=["too-few-interactions", "too-few-repeat-users"],
)
def test_train_refuses_data_below_personalize_minimums(rows: int, message: str) -> None:
    frame = pd.DataFrame(
        {
            "USER_ID": [f"u{k}" for k in range(rows)],
            "ITEM_ID": ["i"] * rows,
            "TIMESTAMP": [0] * rows,
        }
    )
    with pytest.raises(ValueError, match=message):
        train("aws-popularity-count", TrainingData(frame), hyperparameters={})


def test_train_refuses_unknown_recipes_and_hpo_without_config() -> None:
    with pytest.raises(ValueError, match="not available in the local engine"):
        train("aws-trending-now", synthetic(), hyperparameters={})
    with pytest.raises(ValueError, match="no hpoConfig"):
        train("aws-sims", synthetic(), hyperparameters={}, perform_hpo=True)


HPO_CONFIG = {
    "hpoResourceConfig": {
        "maxNumberOfTrainingJobs": "4",
        "maxParallelTrainingJobs": "2",
    },
    "algorithmHyperParameterRanges": {
        "integerHyperParameterRanges": [
            {"name": "recency_half_life_days", "minValue": 30, "maxValue": 400}
        ],
        "continuousHyperParameterRanges": [
            {"name": "context_weight", "minValue": 0.5, "maxValue": 2.0},
            {"name": "hidden_dimension", "minValue": 32, "maxValue": 256},
        ],
        "categoricalHyperParameterRanges": [
            {"name": "history_weight", "values": ["0", "1"]}
        ],
    },
}


def test_hpo_runs_the_trials_and_keeps_values_in_range() -> None:
    seen: list[Mapping[str, float]] = []

    result = train(
        "aws-user-personalization",
        synthetic(),
        hyperparameters={},
        perform_hpo=True,
        hpo_config=HPO_CONFIG,
        progress=lambda stage, figures: (
            seen.append(figures) if stage == "hpo_trial" else None
        ),
    )

    assert len(result.hpo_trials) == 4
    assert [f["trial"] for f in seen] == [1, 2, 3, 4]
    bests = [f["best"] for f in seen]
    assert bests == sorted(bests)
    for trial in result.hpo_trials:
        params = trial["hyperparameters"]
        assert 30 <= int(params["recency_half_life_days"]) <= 400
        assert 0.5 <= float(params["context_weight"]) <= 2.0
        assert params["history_weight"] in {"0", "1"}
        assert "hidden_dimension" not in params
    assert 0.5 <= float(result.hyperparameters["context_weight"]) <= 2.0


def test_hpo_falls_back_to_the_recipe_search_space_for_aws_only_ranges() -> None:
    config = {
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
        "algorithmHyperParameterRanges": {
            "integerHyperParameterRanges": [
                {"name": "bptt", "minValue": 2, "maxValue": 32}
            ]
        },
    }
    jobs, _, ranges = hpo.parse_ranges(UserPersonalization, config)
    assert jobs == 2
    assert {r.name for r in ranges} >= {"context_weight", "metadata_weight"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"hpoResourceConfig": {"maxNumberOfTrainingJobs": "41"}}, "between 1 and 40"),
        ({"hpoResourceConfig": {"maxParallelTrainingJobs": "x"}}, "whole number"),
        (
            {
                "algorithmHyperParameterRanges": {
                    "continuousHyperParameterRanges": [
                        {"name": "context_weight", "minValue": 2, "maxValue": 1}
                    ]
                }
            },
            "exceeds maxValue",
        ),
        (
            {
                "algorithmHyperParameterRanges": {
                    "categoricalHyperParameterRanges": [
                        {"name": "context_weight", "values": []}
                    ]
                }
            },
            "values is empty",
        ),
        (
            {
                "algorithmHyperParameterRanges": {
                    "continuousHyperParameterRanges": [
                        {"name": "context_weight", "minValue": -5, "maxValue": 0.5}
                    ]
                }
            },
            r"'context_weight'.*accepts context_weight from 0 to 100",
        ),
        (
            {
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [
                        {"name": "rerank_rounds", "minValue": 1, "maxValue": 50}
                    ]
                }
            },
            "accepts rerank_rounds from 1 to 20",
        ),
        (
            {
                "algorithmHyperParameterRanges": {
                    "categoricalHyperParameterRanges": [
                        {"name": "rating_weight", "values": ["0.5", "2"]}
                    ]
                }
            },
            "2 is outside the bounds; .* accepts rating_weight from 0 to 1",
        ),
        (
            {
                "algorithmHyperParameterRanges": {
                    "categoricalHyperParameterRanges": [
                        {"name": "rating_weight", "values": ["high"]}
                    ]
                }
            },
            "'high' is not a number",
        ),
    ],
    ids=[
        "too-many-jobs",
        "jobs-not-a-number",
        "min-above-max",
        "no-categories",
        "below-bounds",
        "above-bounds",
        "category-out-of-bounds",
        "category-not-a-number",
    ],
)
def test_bad_hpo_config_is_rejected(config: Mapping[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hpo.parse_ranges(UserPersonalization, config)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_default_search_spaces_stay_in_bounds(name: str) -> None:
    recipe = RECIPES[name]
    _, _, ranges = hpo.parse_ranges(recipe, {})
    for parameter in ranges:
        low, high = recipe.HYPERPARAMETER_BOUNDS[parameter.name]
        assert low <= parameter.low <= parameter.high <= high, parameter


def test_a_range_at_the_bounds_is_accepted() -> None:
    _, _, ranges = hpo.parse_ranges(
        UserPersonalization,
        {
            "algorithmHyperParameterRanges": {
                "continuousHyperParameterRanges": [
                    {"name": "rating_weight", "minValue": 0, "maxValue": 1}
                ]
            }
        },
    )
    assert [(r.name, r.low, r.high) for r in ranges] == [("rating_weight", 0, 1)]
