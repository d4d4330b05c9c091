"""The Personalize service role against moto: create, reuse, conflict, checks."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from airctx.aws.iam import (
    ACCESS_POLICY_NAME,
    check_role,
    ensure_role,
    role_access_policy,
    role_trust_policy,
    trusted_services,
)
from airctx.errors import ConfigError, ResourceConflict, ResourceError

ACCOUNT = "123456789012"
BUCKET = "airctx-test-data"
PERSONALIZE = "personalize.amazonaws.com"


def trust_for(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


@pytest.fixture
def iam(moto_aws: None) -> Any:
    return boto3.client("iam", region_name="us-east-1")


def inline_policy(iam: Any, role_name: str) -> dict[str, Any]:
    document = iam.get_role_policy(RoleName=role_name, PolicyName=ACCESS_POLICY_NAME)[
        "PolicyDocument"
    ]
    policy: dict[str, Any] = (
        document if isinstance(document, dict) else json.loads(document)
    )
    return policy


def test_trust_policy_lets_only_personalize_assume() -> None:
    statement = role_trust_policy(ACCOUNT)["Statement"][0]
    assert statement["Principal"] == {"Service": PERSONALIZE}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert "Condition" not in role_trust_policy()["Statement"][0]


def test_access_policy_is_scoped_to_the_prefix() -> None:
    policy = role_access_policy(BUCKET, "airctx")
    grants = {(s["Action"], s["Resource"]) for s in policy["Statement"]}
    assert grants == {
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/airctx/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
    }
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])


def test_role_is_created_with_trust_and_scoped_policy(iam: Any) -> None:
    arn = ensure_role(
        iam,
        role_name="airctx-personalize",
        bucket=BUCKET,
        prefix="airctx",
        account_id=ACCOUNT,
    )

    assert arn == f"arn:aws:iam::{ACCOUNT}:role/airctx-personalize"
    role = iam.get_role(RoleName="airctx-personalize")["Role"]
    assert trusted_services(role["AssumeRolePolicyDocument"]) == {PERSONALIZE}
    assert inline_policy(iam, "airctx-personalize") == role_access_policy(
        BUCKET, "airctx"
    )
    assert (
        iam.list_attached_role_policies(RoleName="airctx-personalize")[
            "AttachedPolicies"
        ]
        == []
    )


def test_existing_role_is_reused_and_its_policy_updated(iam: Any) -> None:
    first = ensure_role(
        iam, role_name="r1", bucket=BUCKET, prefix="old", account_id=ACCOUNT
    )
    second = ensure_role(
        iam, role_name="r1", bucket=BUCKET, prefix="new", account_id=ACCOUNT
    )

    assert first == second
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["r1"]
    assert inline_policy(iam, "r1") == role_access_policy(BUCKET, "new")


def test_role_made_elsewhere_that_trusts_personalize_is_reused(iam: Any) -> None:
    made = iam.create_role(
        RoleName="ops-role", AssumeRolePolicyDocument=trust_for(PERSONALIZE)
    )["Role"]["Arn"]
    arn = ensure_role(
        iam, role_name="ops-role", bucket=BUCKET, prefix="p", account_id=ACCOUNT
    )
    assert arn == made


def test_role_trusting_another_service_is_a_conflict(iam: Any) -> None:
    iam.create_role(
        RoleName="ec2-role", AssumeRolePolicyDocument=trust_for("ec2.amazonaws.com")
    )

    with pytest.raises(ResourceConflict) as info:
        ensure_role(
            iam, role_name="ec2-role", bucket=BUCKET, prefix="p", account_id=ACCOUNT
        )

    message = str(info.value)
    assert "IAM role ec2-role exists" in message
    assert "it trusts: ec2.amazonaws.com" in message
    assert "aws.role_arn" in message
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role_policy(RoleName="ec2-role", PolicyName=ACCESS_POLICY_NAME)


def test_check_role_accepts_a_role_trusting_personalize(iam: Any) -> None:
    arn = iam.create_role(
        RoleName="given",
        Path="/service/",
        AssumeRolePolicyDocument=trust_for(PERSONALIZE),
    )["Role"]["Arn"]
    check_role(iam, arn)


def test_check_role_missing(iam: Any) -> None:
    with pytest.raises(
        ResourceError, match=re.escape("not found; create it, fix aws.role_arn")
    ):
        check_role(iam, f"arn:aws:iam::{ACCOUNT}:role/absent")


def test_check_role_not_trusting_personalize(iam: Any) -> None:
    arn = iam.create_role(
        RoleName="lambda", AssumeRolePolicyDocument=trust_for("lambda.amazonaws.com")
    )["Role"]["Arn"]
    with pytest.raises(
        ResourceError, match=re.escape("it trusts: lambda.amazonaws.com")
    ):
        check_role(iam, arn)


def test_check_role_in_another_account(iam: Any) -> None:
    iam.create_role(RoleName="shared", AssumeRolePolicyDocument=trust_for(PERSONALIZE))
    with pytest.raises(ResourceError, match="check the account and path"):
        check_role(iam, "arn:aws:iam::999999999999:role/shared")


@pytest.mark.parametrize(
    "arn",
    [
        "airctx-role",
        "arn:aws:iam::123:role/x",
        f"arn:aws:s3:::{BUCKET}",
        f"arn:aws:iam::{ACCOUNT}:user/alice",
    ],
    ids=["bare-name", "short-account", "not-iam", "user"],
)
def test_check_role_rejects_malformed_arns(arn: str) -> None:
    with pytest.raises(ConfigError, match="is not an IAM role ARN"):
        check_role(object(), arn)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": PERSONALIZE},
                }
            },
            {PERSONALIZE},
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["sts:TagSession", "sts:*"],
                        "Principal": {"Service": [PERSONALIZE, "ec2.amazonaws.com"]},
                    }
                ]
            },
            {PERSONALIZE, "ec2.amazonaws.com"},
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": PERSONALIZE},
                    }
                ]
            },
            set(),
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:TagSession",
                        "Principal": {"Service": PERSONALIZE},
                    }
                ]
            },
            set(),
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": "arn:aws:iam::1:root"},
                    }
                ]
            },
            set(),
        ),
        (quote(trust_for(PERSONALIZE)), {PERSONALIZE}),
        ("not json", set()),
        (None, set()),
    ],
    ids=[
        "single-statement",
        "lists",
        "deny",
        "other-action",
        "aws-principal",
        "url-encoded",
        "garbage",
        "none",
    ],
)
def test_trusted_services(document: Any, expected: set[str]) -> None:
    assert trusted_services(document) == expected
