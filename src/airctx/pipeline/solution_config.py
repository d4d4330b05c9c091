"""The CreateSolution request the configuration describes, checked before any cost.

:func:`check_solution_config` runs before a command creates anything, so an HPO or
hyperparameter mistake fails in seconds instead of after the imports (or, worse,
after a billed training job): the request is checked against botocore's model of
CreateSolution, then its hyperparameters against the recipe of the backend in use:
names, and the bounds (local engine) or range types (Amazon Personalize) of their
values. The local engine knows its own recipes; for Amazon Personalize the table
below lists each recipe's hyperparameters as its recipe page in the Personalize
Developer Guide documents them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airctx.config import Settings, did_you_mean
from airctx.errors import ConfigError

if TYPE_CHECKING:
    from airctx.engine.recipes.base import Recommender

RECIPE_PREFIX = "arn:aws:personalize:::recipe/"
# Stands in for the dataset group when a request is checked before it exists.
_PLACEHOLDER_GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/check"

_USER_RECIPE = {
    # name: (value type, whether hpoConfig may tune it)
    "hidden_dimension": ("integer", True),
    "bptt": ("integer", True),
    "recency_mask": ("categorical", True),
    "min_user_history_length_percentile": ("continuous", False),
    "max_user_history_length_percentile": ("continuous", False),
}
# Amazon Personalize's hyperparameters of the recipes whose pages list them. A
# recipe missing here is checked only for the local engine's own names.
AWS_RECIPE_HYPERPARAMETERS: dict[str, dict[str, tuple[str, bool]]] = {
    "aws-user-personalization": _USER_RECIPE,
    "aws-personalized-ranking": _USER_RECIPE,
    "aws-sims": {
        "popularity_discount_factor": ("continuous", True),
        "min_cointeraction_count": ("integer", True),
        "max_item_interaction_count_percentile": ("continuous", False),
        "max_user_history_length_percentile": ("continuous", False),
    },
    "aws-popularity-count": {},
}
# Where each part of solutionConfig comes from in the configuration file.
_CONFIG_KEYS = (
    ("hpoConfig", "solution.hpo"),
    ("algorithmHyperParameters", "solution.algorithm_hyperparameters"),
    ("eventValueThreshold", "solution.event_value_threshold"),
)


def solution_request(settings: Settings, group_arn: str) -> dict[str, Any]:
    """The CreateSolution request the configuration describes."""
    s = settings.solution
    config: dict[str, Any] = {}
    if s.event_value_threshold is not None:
        config["eventValueThreshold"] = _number(s.event_value_threshold)
    if s.algorithm_hyperparameters:
        config["algorithmHyperParameters"] = dict(s.algorithm_hyperparameters)
    if s.perform_hpo:
        config["hpoConfig"] = {
            "hpoResourceConfig": {
                "maxNumberOfTrainingJobs": str(s.hpo.max_training_jobs),
                "maxParallelTrainingJobs": str(s.hpo.max_parallel_training_jobs),
            },
            "algorithmHyperParameterRanges": _ranges(s.hpo.ranges),
        }
    request: dict[str, Any] = {
        "name": settings.solution_name,
        "datasetGroupArn": group_arn,
        "recipeArn": RECIPE_PREFIX + s.recipe,
        "performHPO": s.perform_hpo,
        # Personalize turns weekly, billed auto-training on unless told otherwise.
        "performAutoTraining": s.perform_auto_training,
    }
    if s.event_type:
        request["eventType"] = s.event_type
    if config:
        request["solutionConfig"] = config
    return request


def check_solution_config(settings: Settings) -> None:
    """Refuse, naming the configuration file and key, a solution configuration that
    CreateSolution or the training it starts would reject on this backend."""
    _check_request_shape(settings)
    if settings.backend == "aws":
        _check_aws_hyperparameters(settings)
    else:
        _check_local_hyperparameters(settings)


def _check_request_shape(settings: Settings) -> None:
    from botocore.validate import ParamValidator

    request = solution_request(settings, _PLACEHOLDER_GROUP)
    report = ParamValidator().validate(request, _create_solution_shape())
    if not report.has_errors():
        return
    lines = report.generate_report().splitlines()
    keys = sorted(
        {key for part, key in _CONFIG_KEYS for line in lines if f".{part}" in line}
    )
    raise ConfigError(
        f"{_source(settings)}: {', '.join(keys) or 'solution'} would make an "
        "invalid CreateSolution request:\n  "
        + "\n  ".join(lines)
        + "\nFix those settings; nothing was created."
    )


@functools.cache
def _create_solution_shape() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("personalize")
    return model.operation_model("CreateSolution").input_shape


def _check_aws_hyperparameters(settings: Settings) -> None:
    s = settings.solution
    ranges = dict(s.hpo.ranges) if s.perform_hpo else {}
    table = AWS_RECIPE_HYPERPARAMETERS.get(s.recipe)
    local_only = _local_only_names(s.recipe)
    problems = []
    for key, names in (
        ("solution.hpo.ranges", ranges),
        ("solution.algorithm_hyperparameters", s.algorithm_hyperparameters),
    ):
        tuning = key == "solution.hpo.ranges"
        ours = sorted(n for n in names if n in local_only)
        if ours:
            problems.append(
                f"{key} names {', '.join(ours)}: hyperparameters of the local "
                f"engine's {s.recipe}, which Amazon Personalize does not have"
            )
        if table is None:
            continue
        unknown = sorted(n for n in names if n not in table and n not in local_only)
        if unknown:
            problems.append(
                f"{key} names {', '.join(unknown)}, which Amazon Personalize's "
                f"{s.recipe} does not have{did_you_mean(unknown, set(table))}"
            )
        fixed = sorted(n for n in names if n in table and tuning and not table[n][1])
        if fixed:
            problems.append(
                f"{key} names {', '.join(fixed)}, which Amazon Personalize does not "
                "tune (set it in solution.algorithm_hyperparameters instead)"
            )
        if tuning:
            problems.extend(_type_mismatches(ranges, table))
    if problems:
        raise ConfigError(
            f"{_source(settings)}: on the aws backend "
            + "; ".join(problems)
            + f". {_aws_names(s.recipe, table)} Use those names, set "
            "solution.perform_hpo: false, or keep a separate configuration file for "
            "the aws backend (--config). Nothing was created."
        )


def _type_mismatches(
    ranges: Mapping[str, Mapping[str, Any]], table: Mapping[str, tuple[str, bool]]
) -> list[str]:
    """Ranges whose type is not the one Personalize gives the hyperparameter: it
    rejects, say, a categorical range for the integer hidden_dimension."""
    problems = []
    for name, spec in sorted(ranges.items()):
        if name not in table or not table[name][1]:
            continue
        kind, expected = spec.get("type", "continuous"), table[name][0]
        if kind != expected:
            problems.append(
                f"solution.hpo.ranges.{name} has type {kind}, but Amazon "
                f"Personalize tunes {name} as {expected} (write type: {expected})"
            )
    return problems


def _aws_names(recipe: str, table: Mapping[str, tuple[str, bool]] | None) -> str:
    if table is None:
        return (
            f"See the {recipe} page of the Amazon Personalize Developer Guide for "
            "its hyperparameters."
        )
    tunable = sorted(n for n, (_kind, tuned) in table.items() if tuned)
    if not tunable:
        return f"Amazon Personalize's {recipe} has no hyperparameters to tune."
    return (
        f"Amazon Personalize's {recipe} tunes "
        + ", ".join(f"{n} ({table[n][0]})" for n in tunable)
        + "."
    )


def _local_only_names(recipe: str) -> set[str]:
    """The local engine's hyperparameters of ``recipe`` that Personalize lacks."""
    from airctx.engine.recipes import RECIPES

    cls = RECIPES.get(recipe)
    if cls is None:
        return set()
    aws_names = set(cls.AWS_HYPERPARAMETERS) | set(
        AWS_RECIPE_HYPERPARAMETERS.get(recipe, {})
    )
    return set(cls.DEFAULT_HYPERPARAMETERS) - aws_names


def _check_local_hyperparameters(settings: Settings) -> None:
    from airctx.engine.recipes import RECIPES

    s = settings.solution
    cls = RECIPES.get(s.recipe)
    if cls is None:
        return  # check_recipe names the recipes the engine offers
    # Every hyperparameter of the local recipes is a number; Personalize's own
    # names are accepted and ignored, so an AWS configuration trains here too.
    known = set(cls.DEFAULT_HYPERPARAMETERS)
    ignored = set(cls.AWS_HYPERPARAMETERS)

    def unknown(key: str, name: str) -> ConfigError:
        accepted = (
            f"the local weights, which it tunes: {', '.join(sorted(known)) or 'none'}"
        )
        if ignored:
            accepted += (
                f"; and Amazon Personalize's names for {s.recipe}, accepted so "
                "that the file also works with --backend aws, but not tuned here: "
                + ", ".join(sorted(ignored))
            )
        return ConfigError(
            f"{_source(settings)}: {key}: the local engine's {s.recipe} has no "
            f"hyperparameter {name!r}{did_you_mean([name], known | ignored)}. "
            f"It accepts {accepted}"
        )

    for name, spec in (s.hpo.ranges if s.perform_hpo else {}).items():
        key = f"solution.hpo.ranges.{name}"
        if name in ignored:
            continue
        if name not in known:
            raise unknown(key, name)
        if spec.get("type", "continuous") == "categorical":
            raise ConfigError(
                f"{_source(settings)}: {key}: {name} is a number, so a categorical "
                "range cannot tune it; write {type: continuous, min: ..., max: ...} "
                "(or type: integer)"
            )
        low, high = float(spec["min"]), float(spec["max"])
        if not _within(cls.HYPERPARAMETER_BOUNDS.get(name), low, high):
            raise ConfigError(
                f"{_source(settings)}: {key}: min {low:g} to max {high:g} goes outside "
                f"{_bounds_text(cls, name)}; narrow the range, or a trial that draws "
                "outside them fails the training"
            )
    for name, value in s.algorithm_hyperparameters.items():
        key = f"solution.algorithm_hyperparameters.{name}"
        if name in ignored:
            continue
        if name not in known:
            raise unknown(key, name)
        if not _is_number(value):
            raise ConfigError(f"{_source(settings)}: {key}: {value!r} is not a number")
        number = float(value)
        if not math.isfinite(number):
            raise ConfigError(
                f"{_source(settings)}: {key}: {value!r} is not a finite number"
            )
        if not _within(cls.HYPERPARAMETER_BOUNDS.get(name), number, number):
            raise ConfigError(
                f"{_source(settings)}: {key}: {value} is outside "
                f"{_bounds_text(cls, name)}"
            )


def _within(bounds: tuple[float, float] | None, low: float, high: float) -> bool:
    """Whether [low, high] lies inside ``bounds`` (no bounds: anything goes)."""
    if bounds is None:
        return True
    return bounds[0] <= low and high <= bounds[1]


def _bounds_text(cls: type[Recommender], name: str) -> str:
    low, high = cls.HYPERPARAMETER_BOUNDS[name]
    return (
        f"the values the local engine's {cls.RECIPE} accepts for {name}, "
        f"{low:g} to {high:g}"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _source(settings: Settings) -> str:
    return str(settings.config_path) if settings.config_path else "the configuration"


def _ranges(ranges: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name, spec in ranges.items():
        kind = spec.get("type", "continuous")
        if kind == "categorical":
            out.setdefault("categoricalHyperParameterRanges", []).append(
                {"name": name, "values": [str(v) for v in spec["values"]]}
            )
        elif kind in ("continuous", "integer"):
            key = f"{kind}HyperParameterRanges"
            cast = float if kind == "continuous" else int
            out.setdefault(key, []).append(
                {
                    "name": name,
                    "minValue": cast(spec["min"]),
                    "maxValue": cast(spec["max"]),
                }
            )
        else:
            raise ConfigError(
                f"solution.hpo.ranges.{name}.type {kind!r} is not continuous, "
                "integer or categorical"
            )
    return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
