"""teardown: delete the project's resources in the order Personalize requires.

Campaigns, solutions, the event tracker, filters, datasets, schemas, then the
dataset group; each deletion is waited for before the next kind starts, and a
resource that is already gone counts as deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airctx.errors import ResourceError
from airctx.pipeline.project import Project, snake
from airctx.pipeline.status import status
from airctx.pipeline.waiter import IN_FLIGHT

log = logging.getLogger(__name__)

ORDER = (
    "campaign",
    "solution",
    "event-tracker",
    "filter",
    "dataset",
    "schema",
    "dataset-group",
)
# type -> (delete operation, describe operation, describe key, ARN parameter)
OPERATIONS = {
    "campaign": ("DeleteCampaign", "DescribeCampaign", "campaign", "campaignArn"),
    "solution": ("DeleteSolution", "DescribeSolution", "solution", "solutionArn"),
    "event-tracker": (
        "DeleteEventTracker",
        "DescribeEventTracker",
        "eventTracker",
        "eventTrackerArn",
    ),
    "filter": ("DeleteFilter", "DescribeFilter", "filter", "filterArn"),
    "dataset": ("DeleteDataset", "DescribeDataset", "dataset", "datasetArn"),
    "schema": ("DeleteSchema", "DescribeSchema", "schema", "schemaArn"),
    "dataset-group": (
        "DeleteDatasetGroup",
        "DescribeDatasetGroup",
        "datasetGroup",
        "datasetGroupArn",
    ),
}


@dataclass(frozen=True)
class Step:
    type: str
    name: str
    arn: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "arn": self.arn}


def plan(project: Project) -> list[Step]:
    """What teardown would delete, in the order it would delete it."""
    rows = [r for r in status(project) if r["type"] in OPERATIONS]
    rows.sort(key=lambda r: ORDER.index(r["type"]))
    return [Step(r["type"], r["name"], r["arn"]) for r in rows]


def teardown(project: Project, steps: list[Step]) -> list[Step]:
    # Personalize refuses to delete a solution while a version trains or a dataset
    # while it imports; stopping half-way would leave a half-deleted project.
    busy = [
        r
        for r in status(project)
        if r["type"] in ("solution-version", "import-job") and r["status"] in IN_FLIGHT
    ]
    if busy:
        raise ResourceError(
            f"{busy[0]['type']} {busy[0]['arn']} is {busy[0]['status']}; run "
            "`airctx wait` and then teardown again. Nothing was deleted."
        )
    done: list[Step] = []
    for kind in ORDER:
        batch = [s for s in steps if s.type == kind]
        for step in batch:
            delete, _describe, _key, arn_field = OPERATIONS[kind]
            try:
                getattr(project.personalize, snake(delete))(**{arn_field: step.arn})
                project.report(f"deleting {kind} {step.arn}")
            except project.personalize.exceptions.ResourceNotFoundException:
                project.report(f"{kind} {step.arn} was already deleted")
            except Exception as exc:
                from airctx.aws.errors import error_code, translate_errors

                if error_code(exc) is None:
                    raise
                with translate_errors(step.arn):
                    raise
        # Deletions of one kind run together; the next kind waits for all of them.
        for step in batch:
            _delete, describe, key, arn_field = OPERATIONS[kind]
            if kind != "schema":
                project.wait_for(
                    kind.replace("-", "_"),
                    step.arn,
                    describe,
                    key,
                    arn_field,
                    until=("DELETED",),
                )
            done.append(step)
    return done
