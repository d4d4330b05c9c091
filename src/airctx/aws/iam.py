"""The IAM service role Personalize assumes to read import data from S3.

airctx creates a role only when ``aws.role_arn`` is not configured, and then grants it
read access to the airctx prefix of one bucket, nothing wider (see
docs/decisions/0002-iam-role.md).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from airctx.aws.errors import client_error, is_not_found, translate_errors
from airctx.aws.s3 import PERSONALIZE_PRINCIPAL, object_key
from airctx.errors import ConfigError, ResourceConflict, ResourceError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

logger = logging.getLogger(__name__)

ACCESS_POLICY_NAME = "airctx-personalize-s3-read"
ROLE_DESCRIPTION = "Lets Amazon Personalize read airctx import data from S3"
ROLE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$"
)


def role_trust_policy(account_id: str | None = None) -> dict[str, Any]:
    """Trust for Personalize to assume the role, limited to ``account_id`` if given."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": PERSONALIZE_PRINCIPAL},
        "Action": "sts:AssumeRole",
    }
    if account_id:
        # Stops a Personalize job in another account from borrowing this role.
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def role_access_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """Read access to ``s3://bucket/prefix/`` only (not AmazonS3ReadOnlyAccess)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{object_key(bucket, prefix)}/*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }


def ensure_role(
    iam: IAMClient, *, role_name: str, bucket: str, prefix: str, account_id: str
) -> str:
    """The ARN of a role Personalize can assume to read ``s3://bucket/prefix/``.

    An existing role of that name is reused when it trusts Personalize, and its
    airctx inline policy is brought up to date; a role of that name that trusts
    someone else is a :class:`ResourceConflict`, never modified.
    """
    access = json.dumps(role_access_policy(bucket, prefix))
    with translate_errors(f"IAM role {role_name}"):
        role: Mapping[str, Any] | None = _get_role(iam, role_name)
        if role is None:
            logger.info("creating IAM role %s for Personalize", role_name)
            role = iam.create_role(
                RoleName=role_name,
                AssumeRolePolicyDocument=json.dumps(role_trust_policy(account_id)),
                Description=ROLE_DESCRIPTION,
            )["Role"]
            # IAM is eventually consistent: for a few seconds after this, Personalize
            # may still be refused the role, so a first import job can fail on it.
        else:
            trusted = trusted_services(role.get("AssumeRolePolicyDocument"))
            if PERSONALIZE_PRINCIPAL not in trusted:
                raise ResourceConflict(
                    f"IAM role {role_name} exists but its trust policy does not let "
                    f"{PERSONALIZE_PRINCIPAL} assume it (it trusts: "
                    f"{', '.join(sorted(trusted)) or 'no AWS service'}); set "
                    "aws.role_name to another name, or aws.role_arn to a role that "
                    "trusts Personalize"
                )
            logger.debug("reusing IAM role %s", role_name)

        iam.put_role_policy(
            RoleName=role_name, PolicyName=ACCESS_POLICY_NAME, PolicyDocument=access
        )
    return str(role["Arn"])


def check_role(iam: IAMClient, role_arn: str) -> None:
    """Check that a configured ``role_arn`` exists and trusts Personalize."""
    match = ROLE_ARN_RE.match(role_arn)
    if match is None:
        raise ConfigError(
            f"aws.role_arn {role_arn!r} is not an IAM role ARN "
            "(arn:aws:iam::ACCOUNT:role/NAME)"
        )
    role_name = match.group(1)

    with translate_errors(f"IAM role {role_arn}"):
        role = _get_role(iam, role_name)
    if role is None:
        raise ResourceError(
            f"IAM role {role_arn} not found; create it, fix aws.role_arn, or remove "
            "aws.role_arn so airctx creates a role scoped to its bucket"
        )
    if role.get("Arn") != role_arn:
        raise ResourceError(
            f"IAM role {role_arn}: the role named {role_name} in this account has ARN "
            f"{role.get('Arn')}; check the account and path in aws.role_arn"
        )
    trusted = trusted_services(role.get("AssumeRolePolicyDocument"))
    if PERSONALIZE_PRINCIPAL not in trusted:
        raise ResourceError(
            f"IAM role {role_arn} does not let {PERSONALIZE_PRINCIPAL} assume it (it "
            f"trusts: {', '.join(sorted(trusted)) or 'no AWS service'}); add "
            f"{PERSONALIZE_PRINCIPAL} to its trust policy or use another role"
        )


def trusted_services(document: Any) -> set[str]:
    """The AWS service principals a trust policy allows to call sts:AssumeRole."""
    policy = _as_policy(document)
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    services: set[str] = set()
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = set(_as_list(statement.get("Action")))
        if not actions & {"sts:AssumeRole", "sts:*", "*"}:
            continue
        principal = statement.get("Principal")
        if isinstance(principal, dict):
            services.update(_as_list(principal.get("Service")))
    return services


def _get_role(iam: IAMClient, role_name: str) -> dict[str, Any] | None:
    try:
        return dict(iam.get_role(RoleName=role_name)["Role"])
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise client_error(exc, f"IAM role {role_name}") from exc


def _as_policy(document: Any) -> dict[str, Any]:
    # botocore decodes policy documents for GetRole, but some endpoints (and older
    # mocks) hand back the URL-encoded JSON string IAM stores.
    if isinstance(document, dict):
        return document
    if isinstance(document, str) and document:
        text = unquote(document)
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
