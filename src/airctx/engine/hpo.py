"""Hyperparameter optimisation over Personalize's ``hpoConfig``, with Optuna's TPE.

Trials are scored on a validation split carved out of the training part only, so the
users that :mod:`airctx.engine.metrics` tests on never influence the chosen values.
The objective is NDCG@10, the metric Personalize reports first for its user recipes.

Notes: trials run one after another whatever ``maxParallelTrainingJobs`` says (the
value is validated, not used): a local machine gains little from training small
models in parallel. Ranges naming hyperparameters the local recipe does not have
(Personalize's own ``hidden_dimension``, ``bptt``...) are skipped; when none is left
the recipe's default search space is used, so an AWS configuration still tunes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from airctx.engine import metrics
from airctx.engine.recipes.base import ProgressCallback, Recommender, TrainingData

logger = logging.getLogger(__name__)

OBJECTIVE = "normalized_discounted_cumulative_gain_at_10"
MAX_TRAINING_JOBS = 40
MAX_PARALLEL_JOBS = 10
DEFAULT_TRAINING_JOBS = 8


@dataclass(frozen=True)
class ParameterRange:
    """One searchable hyperparameter, as hpoConfig declares it."""

    name: str
    kind: str  # "integer", "continuous" or "categorical"
    low: float = 0.0
    high: float = 0.0
    values: tuple[str, ...] = ()
    log: bool = False


@dataclass(frozen=True)
class HpoOutcome:
    """The winning hyperparameters (strings) and a record of every trial."""

    hyperparameters: dict[str, str]
    best_score: float
    trials: list[dict[str, Any]] = field(default_factory=list)


def parse_ranges(
    recipe_cls: type[Recommender], hpo_config: Mapping[str, Any]
) -> tuple[int, int, list[ParameterRange]]:
    """Validate ``hpo_config``; return (max jobs, max parallel jobs, usable ranges)."""
    resources = hpo_config.get("hpoResourceConfig") or {}
    jobs = _count(
        resources, "maxNumberOfTrainingJobs", DEFAULT_TRAINING_JOBS, MAX_TRAINING_JOBS
    )
    parallel = _count(resources, "maxParallelTrainingJobs", 1, MAX_PARALLEL_JOBS)
    declared = hpo_config.get("algorithmHyperParameterRanges") or {}
    known = set(recipe_cls.DEFAULT_HYPERPARAMETERS)
    ranges = [r for r in _ranges(declared) if r.name in known]
    skipped = sorted({r.name for r in _ranges(declared)} - known)
    unknown = [n for n in skipped if n not in recipe_cls.AWS_HYPERPARAMETERS]
    if unknown:
        raise ValueError(
            f"hpoConfig ranges name hyperparameter(s) {', '.join(unknown)} that "
            f"{recipe_cls.RECIPE} does not have; its hyperparameters are "
            + ", ".join(sorted(known))
        )
    if skipped:
        # Expected: one configuration serves both backends, and these are Amazon
        # Personalize's own hyperparameters for the recipe.
        logger.info(
            "%s: %s apply on Amazon Personalize only; the local search skips them",
            recipe_cls.RECIPE,
            ", ".join(skipped),
        )
    if not ranges:
        ranges = _ranges(getattr(recipe_cls, "DEFAULT_HPO_RANGES", {}))
    for parameter in ranges:
        _check_bounds(recipe_cls, parameter)
    return jobs, parallel, ranges


def _check_bounds(recipe_cls: type[Recommender], parameter: ParameterRange) -> None:
    """A range must stay inside the values the recipe accepts, or a trial that
    draws outside them fails the whole training."""
    bounds = recipe_cls.HYPERPARAMETER_BOUNDS.get(parameter.name)
    if bounds is None:
        return
    low, high = bounds
    where = f"hpoConfig {parameter.kind} range {parameter.name!r}"
    allowed = f"{recipe_cls.RECIPE} accepts {parameter.name} from {low:g} to {high:g}"
    if parameter.kind != "categorical":
        if parameter.low < low or parameter.high > high:
            raise ValueError(
                f"{where}: minValue {parameter.low:g} to maxValue "
                f"{parameter.high:g} goes outside the bounds; {allowed}"
            )
        return
    for value in parameter.values:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not a number; {allowed}") from None
        if not low <= number <= high:
            raise ValueError(f"{where}: {value} is outside the bounds; {allowed}")


def _count(resources: Mapping[str, Any], key: str, default: int, most: int) -> int:
    raw = resources.get(key)
    if raw is None:
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ValueError(
            f"hpoConfig.hpoResourceConfig.{key}={raw!r} is not a whole number"
        ) from None
    if not 1 <= value <= most:
        raise ValueError(
            f"hpoConfig.hpoResourceConfig.{key}={value} must be between 1 and {most}"
        )
    return value


def _ranges(declared: Mapping[str, Any]) -> list[ParameterRange]:
    result = []
    for kind in ("integer", "continuous"):
        for entry in declared.get(f"{kind}HyperParameterRanges") or []:
            where = f"hpoConfig {kind} range {entry.get('name')!r}"
            try:
                low, high = float(entry["minValue"]), float(entry["maxValue"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"{where}: needs numeric minValue and maxValue"
                ) from None
            if not low <= high:
                raise ValueError(f"{where}: minValue {low:g} exceeds maxValue {high:g}")
            log = entry.get("scalingType") == "Logarithmic" and low > 0
            result.append(ParameterRange(str(entry["name"]), kind, low, high, (), log))
    for entry in declared.get("categoricalHyperParameterRanges") or []:
        values = tuple(str(v) for v in entry.get("values") or ())
        if not values:
            raise ValueError(
                f"hpoConfig categorical range {entry.get('name')!r}: values is empty"
            )
        result.append(ParameterRange(str(entry["name"]), "categorical", values=values))
    return result


def tune(
    recipe_cls: type[Recommender],
    data: TrainingData,
    hpo_config: Mapping[str, Any],
    *,
    base_hyperparameters: Mapping[str, str] | None = None,
    seed: int = metrics.DEFAULT_SEED,
    progress: ProgressCallback | None = None,
) -> HpoOutcome:
    """Search the ranges in ``hpo_config`` for the best validation NDCG@10.

    ``data`` must be training data only; the validation users are drawn from it.
    """
    jobs, _parallel, ranges = parse_ranges(recipe_cls, hpo_config)
    base = {**recipe_cls.DEFAULT_HYPERPARAMETERS, **(base_hyperparameters or {})}
    if not ranges:
        logger.info("%s has no tunable hyperparameters", recipe_cls.RECIPE)
        return HpoOutcome(dict(base), math.nan, [])
    validation = metrics.split_holdout(data, seed=seed + 1)
    trials: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        chosen = {r.name: _suggest(trial, r) for r in ranges}
        model = recipe_cls()
        model.fit(validation.train, {**base, **chosen})
        result = metrics.score(model, validation)
        value = result[OBJECTIVE]
        best = max([value, *(t["score"] for t in trials)])
        trials.append(
            {"number": trial.number, "hyperparameters": chosen, "score": value}
        )
        if progress is not None:
            progress(
                "hpo_trial",
                {
                    "trial": trial.number + 1,
                    "trials": jobs,
                    "score": value,
                    "best": best,
                },
            )
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    # Start from the given values so tuning never returns worse than them.
    study.enqueue_trial(_clipped(base, ranges), skip_if_exists=True)
    study.optimize(objective, n_trials=jobs, n_jobs=1)
    best_trial = max(trials, key=lambda t: t["score"])
    logger.debug("hpo: best %s=%.4f", OBJECTIVE, best_trial["score"])
    return HpoOutcome(
        {**base, **best_trial["hyperparameters"]}, best_trial["score"], trials
    )


def _suggest(trial: optuna.Trial, spec: ParameterRange) -> str:
    if spec.kind == "integer":
        return str(
            trial.suggest_int(spec.name, int(spec.low), int(spec.high), log=spec.log)
        )
    if spec.kind == "continuous":
        value = trial.suggest_float(spec.name, spec.low, spec.high, log=spec.log)
        return f"{value:.6g}"
    return str(trial.suggest_categorical(spec.name, list(spec.values)))


def _clipped(base: Mapping[str, str], ranges: list[ParameterRange]) -> dict[str, Any]:
    start: dict[str, Any] = {}
    for spec in ranges:
        if spec.name not in base:
            continue
        raw = base[spec.name]
        if spec.kind == "categorical":
            if raw in spec.values:
                start[spec.name] = raw
            continue
        value = min(max(float(raw), spec.low), spec.high)
        start[spec.name] = round(value) if spec.kind == "integer" else value
    return start
