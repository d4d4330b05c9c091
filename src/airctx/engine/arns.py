"""ARNs as Amazon Personalize forms them."""

from __future__ import annotations

import re
import secrets

from airctx.engine.errors import InvalidInput, ResourceNotFound

RECIPE_PREFIX = "arn:aws:personalize:::recipe/"

# The shape of AWS region names (us-east-1, ap-southeast-2, us-gov-west-1,
# eu-central-2); a name outside it can only be a typo.
REGION_RE = re.compile(
    r"^[a-z]{2}(-gov|-iso[a-z]?)?"
    r"-(central|north|south|east|west|northeast|northwest|southeast|southwest)"
    r"-[1-9][0-9]?$"
)
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
# A Personalize ARN of any region and account: what a foreign ARN looks like.
SCOPED_ARN_RE = re.compile(r"^(arn:aws[a-z-]*:personalize:([a-z0-9-]+):([0-9]{12}):)")


class Arns:
    """Builds and checks the ARNs of one account and region."""

    def __init__(self, region: str, account_id: str) -> None:
        if not isinstance(region, str) or not REGION_RE.match(region):
            raise ValueError(
                f"region {region!r} is not an AWS region name; use one such as "
                "us-east-1 or eu-west-1"
            )
        if not isinstance(account_id, str) or not ACCOUNT_RE.match(account_id):
            raise ValueError(
                f"account id {account_id!r} is not an AWS account id (12 digits)"
            )
        self.region = region
        self.account_id = account_id
        self.prefix = f"arn:aws:personalize:{region}:{account_id}:"

    def make(self, kind: str, *parts: str) -> str:
        return self.prefix + kind + "/" + "/".join(parts)

    def schema(self, name: str) -> str:
        return self.make("schema", name)

    def dataset_group(self, name: str) -> str:
        return self.make("dataset-group", name)

    def dataset(self, group_name: str, dataset_type: str) -> str:
        return self.make("dataset", group_name, dataset_type)

    def import_job(self, name: str) -> str:
        return self.make("dataset-import-job", name)

    def solution(self, name: str) -> str:
        return self.make("solution", name)

    def solution_version(self, solution_name: str) -> str:
        return self.make("solution", solution_name, secrets.token_hex(4))

    def campaign(self, name: str) -> str:
        return self.make("campaign", name)

    def event_tracker(self) -> str:
        return self.make("event-tracker", secrets.token_hex(4))

    def filter(self, name: str) -> str:
        return self.make("filter", name)

    def owns(self, arn: object) -> bool:
        """Whether ``arn`` names a resource of this region and account."""
        return isinstance(arn, str) and arn.startswith(self.prefix)

    def not_here(self, arn: str, what: str) -> ResourceNotFound:
        """The error for a lookup of ``arn`` in this region; names its own region.

        Personalize accepts any region's ARN as well-formed and then finds nothing,
        because each region holds its own resources.
        """
        message = f"Could not find {what} {arn}"
        match = SCOPED_ARN_RE.match(arn)
        if match and match.group(1) != self.prefix:
            message += (
                f" in region {self.region} and account {self.account_id}: it belongs "
                f"to region {match.group(2)} and account {match.group(3)}"
            )
        return ResourceNotFound(message)

    def check(self, arn: object, kind: str, field: str) -> str:
        """Reject a value that is not an ARN of ``kind`` in this account and region.

        A ``kind`` ARN of another region or account is not found (ResourceNotFound),
        as on Personalize; anything else is invalid input.
        """
        if isinstance(arn, str):
            if arn.startswith(self.prefix + kind + "/"):
                return arn
            match = SCOPED_ARN_RE.match(arn)
            if match and arn.startswith(match.group(1) + kind + "/"):
                raise self.not_here(arn, kind)
        raise InvalidInput(
            f"{field} {arn!r} is not a valid {kind} ARN for region {self.region} "
            f"and account {self.account_id} (expected {self.prefix}{kind}/...)"
        )


def recipe_arn(name: str) -> str:
    return RECIPE_PREFIX + name


def name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def arn_prefix(arn: str) -> str:
    """The ``arn:aws:personalize:<region>:<account>:`` part of ``arn``, or ''."""
    match = SCOPED_ARN_RE.match(arn)
    return match.group(1) if match else ""


def scope_dir(arn: str) -> str:
    """``<region>/<account>`` of ``arn``: where its files live in the state dir."""
    match = SCOPED_ARN_RE.match(arn)
    if match is None:
        raise ValueError(f"{arn!r} is not an ARN of a region and account")
    return f"{match.group(2)}/{match.group(3)}"
