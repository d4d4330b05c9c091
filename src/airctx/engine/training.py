"""Training a solution version: filter events, measure, optionally tune, fit.

The engine calls :func:`train` in its worker. A ValueError raised here means the data
or the configuration cannot train the recipe; its message becomes the solution
version's ``failureReason``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from airctx.engine import hpo, metrics
from airctx.engine.recipes import recipe_class
from airctx.engine.recipes.base import (
    EVENT_TYPE,
    EVENT_VALUE,
    USER_ID,
    ProgressCallback,
    Recommender,
    TrainingData,
)
from airctx.engine.recipes.popularity import PopularityCount

logger = logging.getLogger(__name__)

# Amazon Personalize's training minimums, checked after event filters.
MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO_INTERACTIONS = 25


@dataclass
class TrainingResult:
    """A model fitted on all the data, and how it scored on the holdout split."""

    model: Recommender
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    hyperparameters: dict[str, str]
    hpo_trials: list[dict[str, Any]] = field(default_factory=list)
    training_seconds: float = 0.0


def filter_events(
    interactions: pd.DataFrame,
    event_type: str | None,
    event_value_threshold: float | None,
) -> pd.DataFrame:
    """Keep the events a solution trains on, as Personalize's filters do.

    :func:`airctx.engine.trained_events.keeps_event` is the same rule for one event.

    ``event_type`` keeps only events of that type; ``event_value_threshold`` keeps
    events whose EVENT_VALUE is at least the threshold (events without a value go).
    """
    keep = np.ones(len(interactions), dtype=bool)
    if event_type:
        if EVENT_TYPE not in interactions.columns:
            raise ValueError(
                f"eventType {event_type!r} was given but the interactions have no "
                f"{EVENT_TYPE} column"
            )
        keep &= (interactions[EVENT_TYPE].astype(str) == event_type).to_numpy()
    if event_value_threshold is not None:
        if EVENT_VALUE not in interactions.columns:
            raise ValueError(
                f"eventValueThreshold {event_value_threshold:g} was given but the "
                f"interactions have no {EVENT_VALUE} column"
            )
        values = pd.to_numeric(interactions[EVENT_VALUE], errors="coerce")
        keep &= (values >= event_value_threshold).fillna(False).to_numpy(dtype=bool)
    return interactions[keep]


def check_minimums(interactions: pd.DataFrame) -> None:
    """Raise ValueError when the data is below Personalize's training minimums."""
    count = len(interactions)
    if count < MIN_INTERACTIONS:
        raise ValueError(
            f"the interactions dataset has {count} interactions after the event "
            f"filters; training needs at least {MIN_INTERACTIONS}. Import more data "
            "or relax eventType/eventValueThreshold"
        )
    per_user = interactions[USER_ID].value_counts()
    repeat_users = int((per_user >= 2).sum())
    if repeat_users < MIN_USERS_WITH_TWO_INTERACTIONS:
        raise ValueError(
            f"only {repeat_users} users have 2 or more interactions after the event "
            f"filters; training needs at least {MIN_USERS_WITH_TWO_INTERACTIONS}"
        )


def train(
    recipe: str,
    data: TrainingData,
    *,
    hyperparameters: Mapping[str, str],
    perform_hpo: bool = False,
    hpo_config: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Measure ``recipe`` on a holdout split (tuning it first if asked), then fit
    it on all of ``data`` with the chosen hyperparameters.

    ``data`` is already filtered (see :func:`filter_events`).
    """
    started = time.perf_counter()
    try:
        cls = recipe_class(recipe)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    check_minimums(data.interactions)
    if perform_hpo and not hpo_config:
        raise ValueError("performHPO is true but no hpoConfig was given")
    chosen = {**cls.DEFAULT_HYPERPARAMETERS, **hyperparameters}
    split = metrics.split_holdout(data)

    # Tune on the training part only; the test users stay unseen until scoring.
    trials: list[dict[str, Any]] = []
    if perform_hpo and hpo_config:
        outcome = hpo.tune(
            cls, split.train, hpo_config, base_hyperparameters=chosen, progress=progress
        )
        chosen, trials = outcome.hyperparameters, outcome.trials

    measured = cls()
    measured.fit(split.train, chosen)
    scores = metrics.score(measured, split)
    baseline = PopularityCount()
    baseline.fit(split.train, {})
    baseline_scores = metrics.score(baseline, split)
    if progress is not None:
        progress("metrics", scores)

    model = cls()
    model.fit(data, chosen, progress)
    final = getattr(model, "hyperparameters", None) or chosen
    seconds = time.perf_counter() - started
    logger.info(
        "trained %s in %.1f s: %s=%.4f (popularity baseline %.4f)",
        recipe,
        seconds,
        hpo.OBJECTIVE,
        scores[hpo.OBJECTIVE],
        baseline_scores[hpo.OBJECTIVE],
    )
    return TrainingResult(
        model=model,
        metrics=scores,
        baseline_metrics=baseline_scores,
        hyperparameters={str(k): str(v) for k, v in final.items()},
        hpo_trials=trials,
        training_seconds=seconds,
    )
