"""Personalize's offline metrics and its holdout protocol."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from airctx.engine import metrics
from airctx.engine.recipes.base import TrainingData
from airctx.engine.recipes.popularity import PopularityCount


def test_metrics_on_a_hand_computed_example() -> None:
    recommended = [["a", "b", "c"], ["x", "y", "z"]]
    relevant = [frozenset({"b"}), frozenset({"q"})]

    result = metrics.ranking_metrics(recommended, relevant, catalog_size=12)

    # User 1 hits at rank 2, user 2 misses.
    assert result["precision_at_5"] == pytest.approx((1 / 5) / 2)
    assert result["precision_at_25"] == pytest.approx((1 / 25) / 2)
    assert result["mean_reciprocal_rank_at_25"] == pytest.approx((1 / 2) / 2)
    assert result["normalized_discounted_cumulative_gain_at_5"] == pytest.approx(
        (1 / math.log2(3)) / 2
    )
    assert result["coverage"] == pytest.approx(6 / 12)
    assert set(result) == set(metrics.METRIC_NAMES)


def test_ndcg_uses_the_ideal_order_of_all_relevant_items() -> None:
    result = metrics.ranking_metrics([["a", "n", "b"]], [frozenset({"a", "b"})], 3)

    ideal = 1 + 1 / math.log2(3)
    assert result["normalized_discounted_cumulative_gain_at_5"] == pytest.approx(
        (1 + 1 / math.log2(4)) / ideal
    )


def test_metrics_refuse_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="one non-empty relevant set"):
        metrics.ranking_metrics([["a"]], [], 1)


def interactions(n_users: int = 50) -> TrainingData:
    rows = []
    for u in range(n_users):
        # User u has u % 20 + 1 events; each event's cabin tells its age.
        for k in range(u % 20 + 1):
            cabin = "New" if k == u % 20 else "Old"
            rows.append((f"u{u}", f"i{(u + k) % 7}", 1_000 + k, cabin, 5.0))
    frame = pd.DataFrame(
        rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "CABIN", "EVENT_VALUE"]
    )
    return TrainingData(frame, context_fields=("CABIN",))


def test_split_holds_out_the_newest_tenth_of_a_tenth_of_users() -> None:
    data = interactions()

    split = metrics.split_holdout(data, seed=7)

    assert len(split.cases) == 5
    train = split.train.interactions
    assert len(train) + sum(_held(data, c.user_id) for c in split.cases) == len(
        data.interactions
    )
    for case in split.cases:
        events = data.interactions[data.interactions["USER_ID"] == case.user_id]
        kept = train[train["USER_ID"] == case.user_id]
        assert len(events) - len(kept) == max(1, len(events) // 10)
        if len(kept):
            assert kept["TIMESTAMP"].max() <= events["TIMESTAMP"].max()


def _held(data: TrainingData, user: str) -> int:
    count = int((data.interactions["USER_ID"] == user).sum())
    return max(1, count // 10)


def test_split_is_deterministic_and_seed_dependent() -> None:
    data = interactions(200)
    users = [c.user_id for c in metrics.split_holdout(data, seed=1).cases]
    assert users == [c.user_id for c in metrics.split_holdout(data, seed=1).cases]
    assert users != [c.user_id for c in metrics.split_holdout(data, seed=2).cases]


def test_query_context_is_that_of_the_first_held_out_event() -> None:
    frame = pd.DataFrame(
        {
            "USER_ID": ["solo"] * 10 + [f"o{k}" for k in range(9)],
            "ITEM_ID": ["i"] * 19,
            "TIMESTAMP": list(range(10)) + [0] * 9,
            "CABIN": ["Old"] * 9 + ["New"] + ["Old"] * 9,
        }
    )
    data = TrainingData(frame, context_fields=("CABIN",))

    split = metrics.split_holdout(data, user_fraction=1.0)

    solo = next(c for c in split.cases if c.user_id == "solo")
    assert solo.context == {"CABIN": "New"}
    assert solo.relevant == frozenset({"i"})


def test_evaluate_returns_every_metric_in_range() -> None:
    result = metrics.evaluate(PopularityCount, interactions(100), {})

    assert set(result) == set(metrics.METRIC_NAMES)
    assert all(0.0 <= value <= 1.0 for value in result.values())
    assert np.isfinite(list(result.values())).all()


def test_split_refuses_empty_data() -> None:
    empty = interactions().interactions.iloc[:0]
    with pytest.raises(ValueError, match="empty"):
        metrics.split_holdout(TrainingData(empty))
