"""S3 staging for dataset import jobs: the bucket, its policy, and uploads.

Amazon Personalize reads import data from S3 as the service principal
``personalize.amazonaws.com``, so the bucket policy must let that principal read the
airctx prefix. A bucket airctx creates is private (all four public access blocks on)
and encrypted at rest with S3-managed keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from airctx.aws.errors import client_error, error_code, is_not_found, translate_errors
from airctx.errors import DataError, ResourceConflict, ResourceError, SetupError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

PERSONALIZE_PRINCIPAL = "personalize.amazonaws.com"
# Statement ids mark what airctx owns inside a bucket policy, so a re-run replaces
# its own statements and leaves everyone else's alone.
SID_GET_OBJECT = "AirctxPersonalizeGetObject"
SID_LIST_BUCKET = "AirctxPersonalizeListBucket"
MD5_METADATA_KEY = "airctx-md5"
_HASH_CHUNK = 1024 * 1024


def object_key(prefix: str, name: str) -> str:
    """``prefix/name`` without doubled or leading slashes."""
    parts = [p.strip("/") for p in (prefix, name) if p.strip("/")]
    return "/".join(parts)


def bucket_policy(bucket: str, prefix: str, account_id: str) -> dict[str, Any]:
    """Statements letting Personalize read ``s3://bucket/prefix/`` and nothing else.

    An empty ``prefix`` grants the whole bucket. The ``aws:SourceAccount`` condition
    keeps Personalize jobs of other accounts from using this grant.
    """
    objects = f"arn:aws:s3:::{object_key(bucket, prefix)}/*"
    condition = {"StringEquals": {"aws:SourceAccount": account_id}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": SID_GET_OBJECT,
                "Effect": "Allow",
                "Principal": {"Service": PERSONALIZE_PRINCIPAL},
                "Action": "s3:GetObject",
                "Resource": objects,
                "Condition": condition,
            },
            {
                "Sid": SID_LIST_BUCKET,
                "Effect": "Allow",
                "Principal": {"Service": PERSONALIZE_PRINCIPAL},
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": condition,
            },
        ],
    }


def merge_policy(
    existing: dict[str, Any] | None, ours: dict[str, Any]
) -> dict[str, Any]:
    """``existing`` with airctx's statements added or replaced, others kept in order."""
    if not existing:
        return ours
    our_sids = {s["Sid"] for s in ours["Statement"]}
    statements = existing.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [s for s in statements if s.get("Sid") not in our_sids]
    merged = dict(existing)
    merged.setdefault("Version", ours["Version"])
    merged["Statement"] = kept + ours["Statement"]
    return merged


def ensure_bucket(
    s3: S3Client,
    bucket: str,
    *,
    region: str,
    create: bool,
    account_id: str,
    prefix: str = "",
) -> None:
    """Make sure ``bucket`` exists, is reachable and lets Personalize read ``prefix``.

    A missing bucket is created only when ``create`` is true; an existing one keeps its
    settings except that airctx's policy statements are merged into its policy.
    """
    where = f"s3://{bucket}"
    # Client-side failures (no credentials, no network) are translated here; the
    # helpers translate the service errors they do not handle themselves.
    with translate_errors(where):
        if not check_bucket(s3, bucket, region=region, create=create):
            _create_bucket(s3, bucket, region)

        _ensure_policy(s3, bucket, bucket_policy(bucket, prefix, account_id))


# S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an S3 bucket name, or None when it can."""
    if name.startswith("s3://") or "/" in name:
        bare = name.removeprefix("s3://").split("/", 1)[0]
        return (
            f"{name!r} is not a bucket name but a location; give the name alone, "
            f"without the s3:// scheme or a path (aws.bucket: {bare}; the key "
            "prefix is aws.prefix)"
        )
    if not 3 <= len(name) <= 63:
        return f"{name!r} is {len(name)} characters long; a bucket name has 3 to 63"
    if IP_ADDRESS.fullmatch(name):
        return (
            f"{name!r} is formatted as an IP address, which S3 bucket names may not be"
        )
    if not BUCKET_NAME.fullmatch(name) or ".." in name:
        message = (
            f"{name!r} is not a valid S3 bucket name: use lowercase letters, digits, "
            "hyphens and single dots, starting and ending with a letter or digit "
            "(no uppercase, no underscores)"
        )
        suggestion = re.sub(r"[^a-z0-9.]+|\.{2,}", "-", name.lower()).strip(".-")
        if BUCKET_NAME.fullmatch(suggestion) and ".." not in suggestion:
            message += f", e.g. {suggestion}"
        return message
    return None


def check_bucket(s3: S3Client, bucket: str, *, region: str, create: bool) -> bool:
    """Whether ``bucket`` exists (reachable, in ``region``); a missing bucket is an
    error unless ``create`` allows airctx to create it. Changes nothing."""
    where = f"s3://{bucket}"
    with translate_errors(where):
        if _bucket_exists(s3, bucket, region):
            logger.debug("bucket %s exists", bucket)
            return True
    if not create:
        raise ResourceError(
            f"bucket {where} does not exist; create it in {region} "
            f"('aws s3 mb {where} --region {region}') or set "
            "aws.create_bucket: true so airctx creates it"
        )
    return False


def upload_dataset(s3: S3Client, path: Path, bucket: str, key: str) -> str:
    """Upload ``path`` to ``s3://bucket/key`` unless the same bytes are already there.

    Returns the ``s3://`` URI. Large files go through boto3's managed (multipart)
    transfer; the file's MD5 is stored as object metadata so a re-run recognises
    multipart uploads too, whose ETag is not an MD5.
    """
    if not key or key.endswith("/"):
        raise DataError(f"{path}: the S3 key {key!r} must name an object, not a folder")
    if not path.is_file():
        raise DataError(f"{path}: no such file to upload; run 'airctx prep-data' first")

    uri = f"s3://{bucket}/{key}"
    size = path.stat().st_size
    md5 = _file_md5(path)
    with translate_errors(uri):
        if _same_object(s3, bucket, key, size, md5):
            logger.info(
                "%s already holds %s (%d bytes); upload skipped", uri, path, size
            )
            return uri

        logger.info("uploading %s (%d bytes) to %s", path, size, uri)
        try:
            s3.upload_file(
                str(path), bucket, key, ExtraArgs={"Metadata": {MD5_METADATA_KEY: md5}}
            )
        except S3UploadFailedError as exc:
            # The managed transfer wraps the service error without chaining it.
            service_error = exc.__cause__ or exc.__context__
            if isinstance(service_error, ClientError):
                raise client_error(service_error, uri) from exc
            raise ResourceError(f"{uri}: upload of {path} failed: {exc}") from exc
    return uri


def _bucket_exists(s3: S3Client, bucket: str, region: str) -> bool:
    where = f"s3://{bucket}"
    try:
        response = s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if is_not_found(exc):
            return False
        if error_code(exc) in ("403", "AccessDenied"):
            raise SetupError(
                f"bucket {where} exists but these credentials cannot access it (it may "
                "belong to another account); choose another aws.bucket or grant "
                "s3:ListBucket on it"
            ) from exc
        raise client_error(exc, where) from exc

    bucket_region = response.get("BucketRegion") or response.get(
        "ResponseMetadata", {}
    ).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    if bucket_region and bucket_region != region:
        raise ResourceError(
            f"bucket {where} is in {bucket_region} but Personalize runs in {region}; "
            "Personalize imports only from a bucket in its own region, so use a bucket "
            f"in {region} or change the region"
        )
    return True


def _create_bucket(s3: S3Client, bucket: str, region: str) -> None:
    where = f"s3://{bucket}"
    logger.info("creating bucket %s in %s", where, region)
    try:
        # us-east-1 is the one region S3 refuses as an explicit LocationConstraint.
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                # The stubs list known regions only; any region S3 accepts is fine.
                CreateBucketConfiguration=cast(Any, {"LocationConstraint": region}),
            )
    except ClientError as exc:
        code = error_code(exc)
        if code == "BucketAlreadyOwnedByYou":
            logger.debug("bucket %s was created concurrently by this account", bucket)
        elif code == "BucketAlreadyExists":
            raise ResourceConflict(
                f"bucket name {bucket!r} is taken by another AWS account (bucket names "
                "are global); choose another aws.bucket"
            ) from exc
        else:
            raise client_error(exc, where) from exc

    with translate_errors(where):
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
        )


def _ensure_policy(s3: S3Client, bucket: str, ours: dict[str, Any]) -> None:
    where = f"s3://{bucket}"
    existing: dict[str, Any] | None = None
    try:
        existing = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            raise client_error(exc, f"bucket policy of {where}") from exc

    merged = merge_policy(existing, ours)
    if merged == existing:
        logger.debug("bucket policy of %s already grants Personalize access", where)
        return
    logger.info("granting Personalize read access in the bucket policy of %s", where)
    with translate_errors(f"bucket policy of {where}"):
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(merged))


def _same_object(s3: S3Client, bucket: str, key: str, size: int, md5: str) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise client_error(exc, f"s3://{bucket}/{key}") from exc
    if head.get("ContentLength") != size:
        return False
    if head.get("Metadata", {}).get(MD5_METADATA_KEY) == md5:
        return True
    # Objects uploaded by other tools in one part carry their MD5 as the ETag.
    return str(head.get("ETag", "")).strip('"') == md5


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
