"""wait: finish waiting for whatever the project has in flight.

After ``--no-wait``, or after a process that waited was killed, the work carries on
in the service; this step finds every resource of the project in a transitional
state (creating, updating, deleting) and waits for each through the one waiter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from airctx.pipeline.deploy import campaign_status
from airctx.pipeline.project import Project
from airctx.pipeline.status import status

log = logging.getLogger(__name__)

# status row type -> (waiter kind, describe operation, describe key, ARN parameter)
DESCRIBE = {
    "dataset-group": (
        "dataset_group",
        "DescribeDatasetGroup",
        "datasetGroup",
        "datasetGroupArn",
    ),
    "dataset": ("dataset", "DescribeDataset", "dataset", "datasetArn"),
    "import-job": (
        "dataset_import_job",
        "DescribeDatasetImportJob",
        "datasetImportJob",
        "datasetImportJobArn",
    ),
    "solution": ("solution", "DescribeSolution", "solution", "solutionArn"),
    "solution-version": (
        "solution_version",
        "DescribeSolutionVersion",
        "solutionVersion",
        "solutionVersionArn",
    ),
    "campaign": ("campaign", "DescribeCampaign", "campaign", "campaignArn"),
    "event-tracker": (
        "event_tracker",
        "DescribeEventTracker",
        "eventTracker",
        "eventTrackerArn",
    ),
    "filter": ("filter", "DescribeFilter", "filter", "filterArn"),
}


def in_flight(state: str) -> bool:
    """Whether a status is transitional (the service is still working on it)."""
    return "PENDING" in state or "IN_PROGRESS" in state


def pending(project: Project) -> list[dict[str, Any]]:
    """The project's resources the service is still working on."""
    out = []
    for row in status(project):
        if row["type"] not in DESCRIBE:
            continue
        state = row["status"]
        if row["type"] == "campaign":
            state = _campaign_state(project, row["arn"]) or state
        if in_flight(state):
            out.append({**row, "status": state})
    return out


def wait_pending(
    project: Project, timeout: float | None = None
) -> list[dict[str, Any]]:
    """Wait for every pending resource; returns them with their final status.

    A deletion is finished when the resource is gone (status ``DELETED``). Raises
    ResourceFailed (with the service's reason) when one ends in a failed state, and
    WaitTimeout when one is still in flight after ``timeout`` seconds (default: the
    configured ``waits.timeouts`` of its kind).
    """
    done = []
    for row in pending(project):
        kind, operation, key, arn_field = DESCRIBE[row["type"]]
        deleting = row["status"].startswith("DELETE")
        document = project.waiter.wait(
            kind,
            row["arn"],
            partial(project.describe, operation, key, arn_field, row["arn"]),
            timeout=project.settings.waits.timeout_for(kind)
            if timeout is None
            else timeout,
            until=("DELETED",) if deleting else ("ACTIVE",),
            status_of=campaign_status if row["type"] == "campaign" else None,
        )
        final = "DELETED" if document is None else _final(row["type"], document)
        done.append({**row, "status": final})
    return done


def _campaign_state(project: Project, arn: str) -> str | None:
    document = project.describe("DescribeCampaign", "campaign", "campaignArn", arn)
    return None if document is None else campaign_status(document)


def _final(kind: str, document: Mapping[str, Any]) -> str:
    if kind == "campaign":
        return campaign_status(document)
    return str(document.get("status", "UNKNOWN"))
