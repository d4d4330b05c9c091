"""Deploy: the campaign on the newest solution version, and the event tracker."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from airctx.errors import ResourceError, ResourceFailed
from airctx.pipeline.project import Project, lost_race, raced
from airctx.pipeline.train import latest_version
from airctx.pipeline.waiter import IN_FLIGHT

log = logging.getLogger(__name__)

UPDATES_IN_FLIGHT = ("UPDATE PENDING", "UPDATE IN_PROGRESS", *IN_FLIGHT)
# How often an update lost to other runs' updates is tried again before giving up.
UPDATE_ATTEMPTS = 5


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
        wanted = {
            "solutionVersionArn": version,
            "minProvisionedTPS": tps,
            "campaignConfig": config,
        }
        changed = _bring_up_to_date(project, arn, wanted)
    _wait_for_campaign(project, arn)
    tracker_arn, tracking_id = ensure_event_tracker(project)
    return DeployResult(arn, version, tps, tracker_arn, tracking_id, changed)


def _bring_up_to_date(project: Project, arn: str, wanted: dict[str, Any]) -> bool:
    """Update the campaign unless it serves ``wanted`` (or an update to it is under
    way); whether an update was started.

    Another run (a second `airctx run`, a CI job) may be updating the campaign: its
    update is waited for, and the campaign checked again, instead of being refused
    with ResourceInUseException.
    """
    name = project.settings.campaign_name
    version = wanted["solutionVersionArn"]
    for _attempt in range(UPDATE_ATTEMPTS):
        current = project.call("DescribeCampaign", arn, campaignArn=arn)["campaign"]
        pending = in_flight(current)
        if pending is not None:
            if serves(pending, wanted):
                project.report(f"campaign {name}: an update to {version} is under way")
                return False
            _wait_for_other_update(project, arn, pending)
            continue
        if current["status"] != "ACTIVE" or serves(current, wanted):
            return False
        params = {"campaignArn": arn, **wanted}
        if not wanted["campaignConfig"]:
            del params["campaignConfig"]
        try:
            project.call("UpdateCampaign", arn, **params)
        except ResourceError as exc:
            if not lost_race(exc, "ResourceInUseException"):
                raise
            log.info("campaign %s: another update started first; looking again", arn)
            continue
        project.report(f"campaign {name}: updating to {version}")
        return True
    raise ResourceError(
        f"campaign {name} ({arn}) kept being updated by other runs while this one "
        f"tried to update it to {version}; run `airctx deploy` again once they finish"
    )


def in_flight(campaign: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """What the campaign is being created or updated to, or None when it is not."""
    if campaign.get("status") in IN_FLIGHT:
        return campaign
    update = campaign.get("latestCampaignUpdate") or {}
    if update.get("status") in UPDATES_IN_FLIGHT:
        return cast(Mapping[str, Any], update)
    return None


def serves(campaign: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a campaign (or an update of it) has the wanted solution version, TPS
    and configured exploration settings (unconfigured ones are left as they are)."""
    if campaign.get("solutionVersionArn") != wanted["solutionVersionArn"]:
        return False
    if campaign.get("minProvisionedTPS") != wanted["minProvisionedTPS"]:
        return False
    have = (campaign.get("campaignConfig") or {}).get("itemExplorationConfig") or {}
    want = (wanted.get("campaignConfig") or {}).get("itemExplorationConfig") or {}
    return all(_same_number(have.get(key), value) for key, value in want.items())


def _same_number(have: Any, want: Any) -> bool:
    try:
        return float(have) == float(want)
    except (TypeError, ValueError):
        return bool(have == want)


def _wait_for_other_update(
    project: Project, arn: str, pending: Mapping[str, Any]
) -> None:
    """Wait until the creation or update another run started has finished."""
    name = project.settings.campaign_name
    other = pending.get("solutionVersionArn")
    if not project.wait:
        raise ResourceError(
            f"campaign {name} ({arn}) is being deployed with {other} by another run, "
            "not with the newest solution version; run `airctx wait`, then `airctx "
            "deploy` again"
        )
    project.report(
        f"campaign {name}: another run is deploying {other}; waiting for it to finish"
    )
    try:
        _wait_for_campaign(project, arn)
    except ResourceFailed as exc:
        if exc.status != "UPDATE FAILED":
            raise
        # The campaign still serves what it served; this run's update may succeed.
        project.report(f"campaign {name}: that update failed ({exc.reason})")


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
        arn = _create_event_tracker(project, group)
    document = project.wait_for(
        "event_tracker", arn, "DescribeEventTracker", "eventTracker", "eventTrackerArn"
    )
    if document is None:
        document = project.call("DescribeEventTracker", arn, eventTrackerArn=arn)[
            "eventTracker"
        ]
    return arn, str(document["trackingId"])


def _create_event_tracker(project: Project, group: str) -> str:
    name = project.settings.event_tracker_name
    try:
        arn = str(
            project.call("CreateEventTracker", name, name=name, datasetGroupArn=group)[
                "eventTrackerArn"
            ]
        )
    except ResourceError as exc:
        # A dataset group has one tracker: another run created it a moment earlier.
        codes = ("ResourceAlreadyExistsException", "LimitExceededException")
        if not lost_race(exc, *codes):
            raise
        trackers = project.paginate(
            "ListEventTrackers", "eventTrackers", datasetGroupArn=group
        )
        found = next(iter(trackers), None)
        if found is None:
            raise
        return str(found["eventTrackerArn"])
    project.report(f"event tracker {name}: created {arn}")
    return arn


def campaign_arn(project: Project) -> str:
    name = project.settings.campaign_name
    found = project.find("ListCampaigns", "campaigns", "name", name)
    if found is None:
        raise ResourceError(
            f"campaign {name} does not exist; run `airctx deploy` first (or "
            "`airctx run`, which also builds what the campaign needs)"
        )
    return str(found["campaignArn"])


def _wait_for_campaign(project: Project, arn: str) -> Any:
    """Wait until the campaign and any update of it are settled."""
    return project.wait_for(
        "campaign",
        arn,
        "DescribeCampaign",
        "campaign",
        "campaignArn",
        status_of=campaign_status,
    )
