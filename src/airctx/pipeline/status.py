"""status and metrics: what the project has on the backend, and how good it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airctx.pipeline.project import Project
from airctx.pipeline.train import latest_version


def status(project: Project) -> list[dict[str, Any]]:
    """Every resource of the project, with its state and what it costs while idle.

    A resource that failed carries the service's ``failureReason`` (also shown as
    its detail), where the list answer has one.
    """
    settings = project.settings
    rows: list[dict[str, Any]] = []
    for kind in settings.datasets:
        found = project.find(
            "ListSchemas", "schemas", "name", settings.schema_name(kind)
        )
        if found:
            rows.append(_row("schema", found["name"], "-", found["schemaArn"]))
    group = project.find(
        "ListDatasetGroups", "datasetGroups", "name", settings.dataset_group_name
    )
    if group is None:
        return rows
    group_arn = group["datasetGroupArn"]
    rows.append(_row("dataset-group", group["name"], group["status"], group_arn, group))
    for dataset in project.paginate(
        "ListDatasets", "datasets", datasetGroupArn=group_arn
    ):
        rows.append(
            _row("dataset", dataset["name"], dataset["status"], dataset["datasetArn"])
        )
        for job in project.paginate(
            "ListDatasetImportJobs",
            "datasetImportJobs",
            datasetArn=dataset["datasetArn"],
        ):
            rows.append(
                _row(
                    "import-job",
                    job["jobName"],
                    job["status"],
                    job["datasetImportJobArn"],
                    job,
                )
            )
    solutions: list[str] = []
    for solution in project.paginate(
        "ListSolutions", "solutions", datasetGroupArn=group_arn
    ):
        arn = solution["solutionArn"]
        solutions.append(arn)
        described = project.call("DescribeSolution", arn, solutionArn=arn)["solution"]
        row = _row("solution", solution["name"], solution["status"], arn)
        if described.get("performAutoTraining"):
            row["cost"] = "auto-training: retrains weekly (billed on AWS)"
        rows.append(row)
        for version in project.paginate(
            "ListSolutionVersions", "solutionVersions", solutionArn=arn
        ):
            rows.append(
                _row(
                    "solution-version",
                    version["solutionVersionArn"].rsplit("/", 1)[-1],
                    version["status"],
                    version["solutionVersionArn"],
                    version,
                )
            )
    for campaign in project.paginate("ListCampaigns", "campaigns"):
        arn = campaign["campaignArn"]
        described = project.call("DescribeCampaign", arn, campaignArn=arn)["campaign"]
        if not any(
            described["solutionVersionArn"].startswith(s + "/") for s in solutions
        ):
            continue
        row = _row("campaign", campaign["name"], campaign["status"], arn, campaign)
        update = described.get("latestCampaignUpdate") or {}
        row["detail"] = "serves " + described["solutionVersionArn"].rsplit("/", 1)[-1]
        if update.get("status") not in (None, "ACTIVE"):
            row["detail"] += f" (update {update['status']})"
            if update.get("failureReason"):
                row["failureReason"] = update["failureReason"]
        if row.get("failureReason"):
            row["detail"] += f": {row['failureReason']}"
        if campaign["status"] == "ACTIVE":
            row["cost"] = (
                f"minProvisionedTPS {described['minProvisionedTPS']} "
                "(billed per hour on AWS)"
            )
        rows.append(row)
    for tracker in project.paginate(
        "ListEventTrackers", "eventTrackers", datasetGroupArn=group_arn
    ):
        rows.append(
            _row(
                "event-tracker",
                tracker["name"],
                tracker["status"],
                tracker["eventTrackerArn"],
            )
        )
    for item in project.paginate("ListFilters", "Filters", datasetGroupArn=group_arn):
        rows.append(
            _row("filter", item["name"], item["status"], item["filterArn"], item)
        )
    return rows


def _row(
    kind: str,
    name: str,
    state: str,
    arn: str,
    summary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    row = {"type": kind, "name": name, "status": state, "arn": arn}
    reason = (summary or {}).get("failureReason")
    if reason and "FAILED" in state:
        row["failureReason"] = reason
        row["detail"] = reason
    return row


def metrics(project: Project) -> dict[str, Any]:
    """The newest version's metrics and, on the local backend, the popularity
    baseline scored on the same held-out users (Personalize does not report one)."""
    version = latest_version(project)
    answer = project.call("GetSolutionMetrics", version, solutionVersionArn=version)
    engine = project.clients.local_engine
    baseline = engine.baseline_metrics(version) if engine is not None else None
    return {
        "solutionVersionArn": version,
        "metrics": dict(answer["metrics"]),
        "baseline": baseline or None,
    }
