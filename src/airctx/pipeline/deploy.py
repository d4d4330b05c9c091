"""Deploy: the campaign on the newest solution version, and the event tracker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airctx.pipeline.project import Project, raced
from airctx.pipeline.train import latest_version

log = logging.getLogger(__name__)


@dataclass
class DeployResult:
    campaign_arn: str
    solution_version_arn: str
    min_provisioned_tps: int
    event_tracker_arn: str
    tracking_id: str
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaignArn": self.campaign_arn,
            "solutionVersionArn": self.solution_version_arn,
            "minProvisionedTPS": self.min_provisioned_tps,
            "eventTrackerArn": self.event_tracker_arn,
            "trackingId": self.tracking_id,
            "changed": self.changed,
        }


def campaign_config(project: Project) -> dict[str, Any]:
    c = project.settings.campaign
    exploration: dict[str, str] = {}
    if c.exploration_weight is not None:
        exploration["explorationWeight"] = str(c.exploration_weight)
    if c.exploration_item_age_cutoff is not None:
        exploration["explorationItemAgeCutOff"] = str(c.exploration_item_age_cutoff)
    return {"itemExplorationConfig": exploration} if exploration else {}


@raced
def deploy(project: Project) -> DeployResult:
    settings = project.settings
    # A campaign must not go back to older data while newer data is training.
    version = latest_version(project, training="wait" if project.wait else "refuse")
    name = settings.campaign_name
    tps = settings.campaign.min_provisioned_tps
    config = campaign_config(project)
    found = project.find("ListCampaigns", "campaigns", "name", name)
    changed = False
    if found is None:
        params: dict[str, Any] = {
            "name": name,
            "solutionVersionArn": version,
            "minProvisionedTPS": tps,
        }
        if config:
            params["campaignConfig"] = config
        arn = str(project.call("CreateCampaign", name, **params)["campaignArn"])
        project.report(f"campaign {name}: created {arn} (minProvisionedTPS {tps})")
        changed = True
    else:
        arn = str(found["campaignArn"])
        current = project.call("DescribeCampaign", arn, campaignArn=arn)["campaign"]
        if current["status"] == "ACTIVE" and (
            current["solutionVersionArn"] != version
            or current["minProvisionedTPS"] != tps
        ):
            params = {
                "campaignArn": arn,
                "solutionVersionArn": version,
                "minProvisionedTPS": tps,
            }
            if config:
                params["campaignConfig"] = config
            project.call("UpdateCampaign", arn, **params)
            project.report(f"campaign {name}: updating to {version}")
            changed = True
    project.wait_for(
        "campaign",
        arn,
        "DescribeCampaign",
        "campaign",
        "campaignArn",
        status_of=campaign_status,
    )
    tracker_arn, tracking_id = ensure_event_tracker(project)
    return DeployResult(arn, version, tps, tracker_arn, tracking_id, changed)


def campaign_status(document: Any) -> str:
    update = document.get("latestCampaignUpdate") or {}
    status = update.get("status")
    if status and status != "ACTIVE":
        return str(status)
    return str(document.get("status", "UNKNOWN"))


def ensure_event_tracker(project: Project) -> tuple[str, str]:
    group = project.dataset_group_arn()
    trackers = list(
        project.paginate("ListEventTrackers", "eventTrackers", datasetGroupArn=group)
    )
    if trackers and trackers[0].get("status") == "ACTIVE":
        # Nothing to wait for: no state line on every track-event.
        arn = str(trackers[0]["eventTrackerArn"])
        found = project.call("DescribeEventTracker", arn, eventTrackerArn=arn)
        return arn, str(found["eventTracker"]["trackingId"])
    if trackers:
        arn = str(trackers[0]["eventTrackerArn"])
    else:
        name = project.settings.event_tracker_name
        arn = str(
            project.call("CreateEventTracker", name, name=name, datasetGroupArn=group)[
                "eventTrackerArn"
            ]
        )
        project.report(f"event tracker {name}: created {arn}")
    document = project.wait_for(
        "event_tracker", arn, "DescribeEventTracker", "eventTracker", "eventTrackerArn"
    )
    if document is None:
        document = project.call("DescribeEventTracker", arn, eventTrackerArn=arn)[
            "eventTracker"
        ]
    return arn, str(document["trackingId"])


def campaign_arn(project: Project) -> str:
    from airctx.errors import ResourceError

    name = project.settings.campaign_name
    found = project.find("ListCampaigns", "campaigns", "name", name)
    if found is None:
        raise ResourceError(
            f"campaign {name} does not exist; run `airctx deploy` first (or "
            "`airctx run`, which also builds what the campaign needs)"
        )
    return str(found["campaignArn"])
