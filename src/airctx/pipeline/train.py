"""Train: the solution (found by name, checked against the configuration) and a
solution version, reused while the data has not changed since it was trained."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from airctx.errors import ConfigError, ResourceConflict, ResourceError
from airctx.pipeline.project import Project, lost_race, raced
from airctx.pipeline.solution_config import check_solution_config, solution_request
from airctx.pipeline.waiter import IN_FLIGHT

log = logging.getLogger(__name__)

CONTEXT_RECIPES = ("aws-user-personalization", "aws-user-personalization-v2")
# Recipes Amazon Personalize has retired. The local engine still trains them (and
# lists them), so on the aws backend they are refused whatever ListRecipes says.
RETIRED_ON_AWS = frozenset({"aws-hrnn", "aws-hrnn-metadata", "aws-hrnn-coldstart"})


@dataclass
class TrainResult:
    solution_arn: str
    solution_version_arn: str
    reused: bool
    training_hours: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tuned_hyperparameters: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "solutionArn": self.solution_arn,
            "solutionVersionArn": self.solution_version_arn,
            "reused": self.reused,
            "trainingHours": self.training_hours,
            "metrics": self.metrics,
            "tunedHyperParameters": self.tuned_hyperparameters,
        }


def train(project: Project, *, retrain: bool = False) -> TrainResult:
    settings = project.settings
    group = project.dataset_group_arn()
    check_recipe(project)
    from airctx.pipeline.imports import check_interactions_imported, unimported_changes

    check_interactions_imported(project, group)
    if unimported_changes(project):
        project.report(
            "warning: the prepared interactions differ from what the dataset holds; "
            "run `airctx import` first to train on them"
        )
    request = solution_request(settings, group)
    solution_arn = _ensure_solution(project, request)

    version_arn, reused = _current_version(project, solution_arn, group, retrain)
    if version_arn is None:
        try:
            version_arn = _start_training(project, solution_arn)
        except ResourceError as exc:
            # Another run started a version between the look-up and the start.
            if not lost_race(exc, "ResourceInUseException"):
                raise
            log.info("solution %s: another run started training", solution_arn)
            version_arn, reused = _current_version(
                project, solution_arn, group, retrain=False
            )
            if version_arn is None:
                raise
    document = project.wait_for(
        "solution_version",
        version_arn,
        "DescribeSolutionVersion",
        "solutionVersion",
        "solutionVersionArn",
    )
    result = TrainResult(solution_arn, version_arn, reused)
    if document is not None and document.get("status") == "ACTIVE":
        result.training_hours = document.get("trainingHours")
        tuned = (document.get("tunedHPOParams") or {}).get("algorithmHyperParameters")
        result.tuned_hyperparameters = dict(tuned or {})
        result.metrics = dict(
            project.call(
                "GetSolutionMetrics", version_arn, solutionVersionArn=version_arn
            )["metrics"]
        )
    return result


def _start_training(project: Project, solution_arn: str) -> str:
    solution = project.settings.solution
    if solution.perform_hpo:
        hpo = solution.hpo
        project.report(
            f"HPO: up to {hpo.max_training_jobs} training jobs, "
            f"{hpo.max_parallel_training_jobs} in parallel (each is billed on AWS)"
        )
    version_arn = str(
        project.call(
            "CreateSolutionVersion",
            solution_arn,
            solutionArn=solution_arn,
            trainingMode=solution.training_mode,
        )["solutionVersionArn"]
    )
    project.report(f"training started: {version_arn}")
    return version_arn


def check_recipe(project: Project) -> None:
    """Fail before any cost when the backend does not offer the configured recipe,
    or the solution's hyperparameters do not fit it."""
    wanted = project.settings.solution.recipe
    if project.settings.backend == "aws" and wanted in RETIRED_ON_AWS:
        raise ConfigError(
            f"solution.recipe {wanted!r} has been retired by Amazon Personalize and "
            "cannot be trained on the aws backend (only the local engine still offers "
            "it). Use its context-aware successors: " + " or ".join(CONTEXT_RECIPES)
        )
    recipes = {r["name"] for r in project.paginate("ListRecipes", "recipes")}
    if wanted not in recipes:
        hint = ""
        if wanted.startswith("aws-hrnn"):
            hint = (
                f" {wanted} is a legacy recipe that Amazon Personalize no longer "
                "offers; its context-aware successors are "
                + " and ".join(CONTEXT_RECIPES)
            )
        raise ConfigError(
            f"solution.recipe {wanted!r} is not offered by the "
            f"{project.settings.backend} backend.{hint} Set solution.recipe to one "
            f"of: {', '.join(sorted(recipes))}"
        )
    check_solution_config(project.settings)


@raced
def _ensure_solution(project: Project, request: dict[str, Any]) -> str:
    name = request["name"]
    found = project.find(
        "ListSolutions",
        "solutions",
        "name",
        name,
        datasetGroupArn=request["datasetGroupArn"],
    )
    if found is None:
        arn = str(project.call("CreateSolution", name, **request)["solutionArn"])
        project.report(f"solution {name}: created {arn}")
    else:
        arn = str(found["solutionArn"])
        current = project.call("DescribeSolution", arn, solutionArn=arn)["solution"]
        differences = _solution_differences(current, request)
        if differences:
            raise ResourceConflict(
                f"solution {name} ({arn}) exists with another configuration: "
                + "; ".join(differences)
                + ". Set solution.name to train a new solution, or `airctx teardown` it"
            )
    project.wait_for("solution", arn, "DescribeSolution", "solution", "solutionArn")
    return arn


def _solution_differences(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    out = []
    for key in ("recipeArn", "eventType", "performHPO", "performAutoTraining"):
        have, want = current.get(key), wanted.get(key)
        if key == "performAutoTraining" and have is None:
            continue
        if have != want:
            out.append(f"{key} is {have!r}, configured {want!r}")
    have_config = current.get("solutionConfig") or {}
    want_config = wanted.get("solutionConfig") or {}
    for key in ("eventValueThreshold", "algorithmHyperParameters", "hpoConfig"):
        have, want = have_config.get(key), want_config.get(key)
        if key == "hpoConfig" and have is not None:
            have = {k: v for k, v in have.items() if k != "hpoObjective"}
        if (have or None) != (want or None):
            out.append(f"solutionConfig.{key} is {have!r}, configured {want!r}")
    return out


def _current_version(
    project: Project, solution_arn: str, group: str, retrain: bool
) -> tuple[str | None, bool]:
    """A version to reuse (in training, or trained after the latest import)."""
    versions = list(
        project.paginate(
            "ListSolutionVersions", "solutionVersions", solutionArn=solution_arn
        )
    )
    if not versions:
        return None, False
    latest = max(versions, key=lambda v: v["creationDateTime"])
    if latest["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS"):
        project.report(f"training already under way: {latest['solutionVersionArn']}")
        return str(latest["solutionVersionArn"]), True
    if retrain or latest["status"] != "ACTIVE":
        return None, False
    newest_import = _newest_import(project, group)
    if newest_import is not None and newest_import > latest["creationDateTime"]:
        project.report("data changed since the last training: training a new version")
        return None, False
    project.report(
        f"solution version {latest['solutionVersionArn']} is current; reusing it "
        "(events tracked since are served live; --retrain folds them into a new "
        "version)"
    )
    return str(latest["solutionVersionArn"]), True


def _newest_import(project: Project, group: str) -> Any:
    newest = None
    for dataset in project.paginate("ListDatasets", "datasets", datasetGroupArn=group):
        for job in project.paginate(
            "ListDatasetImportJobs",
            "datasetImportJobs",
            datasetArn=dataset["datasetArn"],
        ):
            if job["status"] == "ACTIVE":
                stamp = job["lastUpdatedDateTime"]
                newest = stamp if newest is None or stamp > newest else newest
    return newest


def latest_version(project: Project, *, training: str = "ignore") -> str:
    """The newest ACTIVE solution version of the configured solution.

    ``training`` says what to do when a newer version is still training:
    ``"ignore"`` it, ``"wait"`` for it (and return it), or ``"refuse"``.
    """
    group = project.dataset_group_arn()
    name = project.settings.solution_name
    found = project.find(
        "ListSolutions", "solutions", "name", name, datasetGroupArn=group
    )
    if found is None:
        raise ResourceError(f"solution {name} does not exist; run `airctx train` first")
    every = list(
        project.paginate(
            "ListSolutionVersions", "solutionVersions", solutionArn=found["solutionArn"]
        )
    )
    newest = max(every, key=lambda v: v["creationDateTime"]) if every else None
    if newest is not None and newest["status"] in IN_FLIGHT and training != "ignore":
        arn = str(newest["solutionVersionArn"])
        if training == "refuse":
            raise ResourceError(
                f"solution version {arn} is still training and is newer than the "
                "ACTIVE versions; run `airctx wait` first, then this command"
            )
        project.report(f"waiting for the version in training: {arn}")
        project.waiter.wait(
            "solution_version",
            arn,
            lambda: project.describe(
                "DescribeSolutionVersion", "solutionVersion", "solutionVersionArn", arn
            ),
            timeout=project.settings.waits.timeout_for("solution_version"),
        )
        return arn
    versions = [v for v in every if v["status"] == "ACTIVE"]
    if not versions:
        if newest is not None and "FAILED" in newest["status"]:
            reason = newest.get("failureReason") or "no reason given"
            raise ResourceError(
                f"solution {name} has no ACTIVE version: the newest, "
                f"{newest['solutionVersionArn']}, failed ({reason}); fix the cause "
                "and run `airctx train`"
            )
        raise ResourceError(
            f"solution {name} has no ACTIVE version; run `airctx train` "
            "(or `airctx wait` while one is training)"
        )
    return str(max(versions, key=lambda v: v["creationDateTime"])["solutionVersionArn"])
