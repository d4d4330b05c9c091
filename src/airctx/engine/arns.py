"""ARNs as Amazon Personalize forms them."""

from __future__ import annotations

import secrets

from airctx.engine.errors import InvalidInput

RECIPE_PREFIX = "arn:aws:personalize:::recipe/"


class Arns:
    """Builds and checks the ARNs of one account and region."""

    def __init__(self, region: str, account_id: str) -> None:
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

    def check(self, arn: object, kind: str, field: str) -> str:
        """Reject a value that is not an ARN of ``kind`` in this account and region."""
        if not isinstance(arn, str) or not arn.startswith(self.prefix + kind + "/"):
            raise InvalidInput(
                f"{field} {arn!r} is not a valid {kind} ARN for region {self.region} "
                f"and account {self.account_id} (expected {self.prefix}{kind}/...)"
            )
        return arn


def recipe_arn(name: str) -> str:
    return RECIPE_PREFIX + name


def name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
