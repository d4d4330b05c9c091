"""Offline metrics computed the way Amazon Personalize documents them.

Protocol: 10% of users (drawn with a fixed seed) are test users; for each of them the
newest 10% of their interactions (at least one) are held out, and the model trains on
everything else. Each test user is then asked for 25 recommendations, in the context
of their first held-out interaction, and the held-out items are the relevant ones.

Metric definitions (averaged over test users unless stated):

- ``precision_at_K``: relevant items among the top K, divided by K;
- ``mean_reciprocal_rank_at_25``: 1 / rank of the first relevant item, 0 if none;
- ``normalized_discounted_cumulative_gain_at_K``: DCG with gain 1 / log2(rank + 1)
  for each relevant item, over the ideal DCG for that user's number of relevant items;
- ``coverage``: distinct items recommended across all test users over the number of
  distinct items in the interactions and items data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from airctx.engine.recipes import _common
from airctx.engine.recipes.base import (
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
    Query,
    Recommender,
    TrainingData,
)

logger = logging.getLogger(__name__)

METRIC_NAMES = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)
TEST_USER_FRACTION = 0.1
TEST_EVENT_FRACTION = 0.1
DEFAULT_SEED = 42
DEPTH = 25


@dataclass(frozen=True)
class HeldOutUser:
    """One held-out user: who asks, in which context, and what they used next."""

    user_id: str
    context: Mapping[str, str]
    relevant: frozenset[str]


@dataclass(frozen=True)
class HoldoutSplit:
    """Training data without the held-out events, and the test cases."""

    train: TrainingData
    cases: tuple[HeldOutUser, ...]
    catalog_size: int


def split_holdout(
    data: TrainingData,
    *,
    seed: int = DEFAULT_SEED,
    user_fraction: float = TEST_USER_FRACTION,
    event_fraction: float = TEST_EVENT_FRACTION,
) -> HoldoutSplit:
    """Hold out the newest interactions of a seeded random share of users."""
    frame = data.interactions
    if len(frame) == 0:
        raise ValueError("cannot split an empty interactions table for evaluation")
    user_column = frame[USER_ID].astype(str)
    users = np.array(sorted(set(user_column)), dtype=str)
    n_test = max(1, round(user_fraction * users.size))
    rng = np.random.default_rng(seed)
    test_users = set(rng.choice(users, size=n_test, replace=False).tolist())

    # Within each test user, number events from the newest (0) backwards; ties in
    # TIMESTAMP keep file order, later rows counting as newer.
    ordered = frame.assign(_user=user_column).sort_values(
        ["_user", TIMESTAMP], kind="stable"
    )
    is_test = ordered["_user"].isin(test_users).to_numpy()
    from_newest = ordered.groupby("_user", sort=False).cumcount(ascending=False)
    per_user = ordered.groupby("_user", sort=False)["_user"].transform("size")
    keep = np.maximum(1, np.floor(per_user.to_numpy() * event_fraction)).astype(int)
    held = is_test & (from_newest.to_numpy() < keep)

    held_out = ordered[held]
    train_frame = ordered[~held].drop(columns="_user").sort_index()
    cases = _cases(held_out, data.context_fields)
    catalog_size = _common.catalog(frame, data.items).size
    logger.debug(
        "holdout: %d test users, %d held-out events, %d training events",
        len(cases),
        len(held_out),
        len(train_frame),
    )
    return HoldoutSplit(replace(data, interactions=train_frame), cases, catalog_size)


def _cases(held_out: Any, context_fields: Sequence[str]) -> tuple[HeldOutUser, ...]:
    cases = []
    # held_out is sorted by user then time: the first row of a user is the earliest
    # held-out event, whose context is the situation the test query is made in.
    for user, rows in held_out.groupby("_user", sort=True):
        first = rows.iloc[0]
        context = {
            name: str(first[name]) for name in context_fields if _present(first[name])
        }
        relevant = frozenset(rows[ITEM_ID].astype(str))
        cases.append(HeldOutUser(str(user), context, relevant))
    return tuple(cases)


def _present(value: Any) -> bool:
    return not (isinstance(value, float) and math.isnan(value)) and value is not None


def ranking_metrics(
    recommended: Sequence[Sequence[str]],
    relevant: Sequence[frozenset[str]],
    catalog_size: int,
) -> dict[str, float]:
    """The Personalize metrics for lists of recommendations against relevant sets."""
    if not recommended or len(recommended) != len(relevant):
        raise ValueError(
            "metrics need one non-empty relevant set per recommendation list"
        )
    discounts = 1.0 / np.log2(np.arange(2, DEPTH + 2))
    totals = dict.fromkeys(METRIC_NAMES, 0.0)
    seen: set[str] = set()
    for items, wanted in zip(recommended, relevant, strict=True):
        top = list(items)[:DEPTH]
        seen.update(top)
        hits = np.array([item in wanted for item in top] + [False] * (DEPTH - len(top)))
        first_hit = np.flatnonzero(hits)
        if first_hit.size:
            totals["mean_reciprocal_rank_at_25"] += 1.0 / (first_hit[0] + 1)
        for k in (5, 10, 25):
            totals[f"precision_at_{k}"] += hits[:k].sum() / k
            ideal = discounts[: min(k, len(wanted))].sum()
            gain = (hits[:k] * discounts[:k]).sum()
            totals[f"normalized_discounted_cumulative_gain_at_{k}"] += (
                gain / ideal if ideal > 0 else 0.0
            )
    n = len(recommended)
    result = {name: float(value) / n for name, value in totals.items()}
    result["coverage"] = len(seen) / catalog_size if catalog_size else 0.0
    return result


def score(model: Recommender, split: HoldoutSplit) -> dict[str, float]:
    """Ask ``model`` for each test case and compute the metrics."""
    if not split.cases:
        raise ValueError("the holdout split has no test users")
    lists = [
        [item for item, _ in model.recommend(Query(c.user_id, c.context), DEPTH)]
        for c in split.cases
    ]
    return ranking_metrics(lists, [c.relevant for c in split.cases], split.catalog_size)


def evaluate(
    recipe_cls: type[Recommender],
    data: TrainingData,
    hyperparameters: Mapping[str, str],
    *,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Split ``data``, train ``recipe_cls`` on the training part, score the rest."""
    split = split_holdout(data, seed=seed)
    model = recipe_cls()
    model.fit(split.train, hyperparameters)
    return score(model, split)
