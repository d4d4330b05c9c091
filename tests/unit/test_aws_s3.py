"""S3 staging against moto: bucket creation, policy merging, idempotent uploads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airctx.aws.s3 import (
    SID_GET_OBJECT,
    SID_LIST_BUCKET,
    bucket_policy,
    ensure_bucket,
    merge_policy,
    object_key,
    upload_dataset,
)
from airctx.errors import DataError, ResourceConflict, ResourceError, SetupError

ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUCKET = "airctx-test-data"
FOREIGN_STATEMENT = {
    "Sid": "AuditorsRead",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/reports/*",
}


@pytest.fixture
def s3(moto_aws: None) -> Any:
    return boto3.client("s3", region_name=REGION)


def policy_of(s3: Any, bucket: str = BUCKET) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    return policy


def make_bucket(s3: Any, bucket: str = BUCKET, region: str = REGION) -> None:
    if region != REGION:
        s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )


def test_bucket_policy_scopes_personalize_to_the_prefix() -> None:
    policy = bucket_policy(BUCKET, "airctx/", ACCOUNT)

    get, listing = policy["Statement"]
    assert get["Principal"] == {"Service": "personalize.amazonaws.com"}
    assert get["Action"] == "s3:GetObject"
    assert get["Resource"] == f"arn:aws:s3:::{BUCKET}/airctx/*"
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Resource"] == f"arn:aws:s3:::{BUCKET}"
    for statement in (get, listing):
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT}
        }


def test_bucket_policy_without_prefix_covers_the_bucket() -> None:
    get = bucket_policy(BUCKET, "", ACCOUNT)["Statement"][0]
    assert get["Resource"] == f"arn:aws:s3:::{BUCKET}/*"


@pytest.mark.parametrize(
    ("prefix", "name", "expected"),
    [
        ("airctx", "users.csv", "airctx/users.csv"),
        ("/airctx/", "/users.csv", "airctx/users.csv"),
        ("", "users.csv", "users.csv"),
        ("a/b", "c.csv", "a/b/c.csv"),
    ],
    ids=["plain", "slashes", "no-prefix", "nested"],
)
def test_object_key(prefix: str, name: str, expected: str) -> None:
    assert object_key(prefix, name) == expected


def test_merge_keeps_foreign_statements_and_replaces_stale_ones() -> None:
    stale = {**bucket_policy(BUCKET, "old", ACCOUNT)["Statement"][0]}
    existing = {"Version": "2012-10-17", "Statement": [FOREIGN_STATEMENT, stale]}
    ours = bucket_policy(BUCKET, "airctx", ACCOUNT)

    merged = merge_policy(existing, ours)

    assert merged["Statement"] == [FOREIGN_STATEMENT, *ours["Statement"]]
    assert existing["Statement"] == [FOREIGN_STATEMENT, stale]


def test_merge_accepts_a_single_statement_object() -> None:
    existing = {"Version": "2012-10-17", "Statement": FOREIGN_STATEMENT}
    merged = merge_policy(existing, bucket_policy(BUCKET, "", ACCOUNT))
    assert [s["Sid"] for s in merged["Statement"]] == [
        "AuditorsRead",
        SID_GET_OBJECT,
        SID_LIST_BUCKET,
    ]


def test_created_bucket_is_private_encrypted_and_readable_by_personalize(
    s3: Any,
) -> None:
    ensure_bucket(
        s3, BUCKET, region=REGION, create=True, account_id=ACCOUNT, prefix="airctx"
    )

    location = s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"]
    assert location == REGION
    rules = s3.get_bucket_encryption(Bucket=BUCKET)[
        "ServerSideEncryptionConfiguration"
    ]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert policy_of(s3) == bucket_policy(BUCKET, "airctx", ACCOUNT)


def test_bucket_in_us_east_1_has_no_location_constraint(s3: Any) -> None:
    east = boto3.client("s3", region_name="us-east-1")
    ensure_bucket(east, BUCKET, region="us-east-1", create=True, account_id=ACCOUNT)
    assert east.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] is None


def test_existing_bucket_gets_statements_merged_once(s3: Any) -> None:
    make_bucket(s3)
    foreign = {"Version": "2012-10-17", "Statement": [FOREIGN_STATEMENT]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(foreign))

    for _ in range(2):
        ensure_bucket(
            s3, BUCKET, region=REGION, create=False, account_id=ACCOUNT, prefix="airctx"
        )

    statements = policy_of(s3)["Statement"]
    assert [s["Sid"] for s in statements] == [
        "AuditorsRead",
        SID_GET_OBJECT,
        SID_LIST_BUCKET,
    ]
    assert statements[0] == FOREIGN_STATEMENT
    # airctx leaves the settings of a bucket it did not create alone.
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_public_access_block(Bucket=BUCKET)


def test_policy_already_in_place_is_not_rewritten(s3: Any) -> None:
    make_bucket(s3)
    ensure_bucket(s3, BUCKET, region=REGION, create=False, account_id=ACCOUNT)

    calls: list[dict[str, Any]] = []
    real_put = s3.put_bucket_policy

    def put_bucket_policy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_put(**kwargs)

    s3.put_bucket_policy = put_bucket_policy
    ensure_bucket(s3, BUCKET, region=REGION, create=False, account_id=ACCOUNT)

    assert calls == []


def test_missing_bucket_without_create_tells_what_to_do(s3: Any) -> None:
    with pytest.raises(ResourceError) as info:
        ensure_bucket(s3, BUCKET, region=REGION, create=False, account_id=ACCOUNT)
    message = str(info.value)
    assert f"s3://{BUCKET} does not exist" in message
    assert "aws.create_bucket: true" in message
    assert s3.list_buckets()["Buckets"] == []


def test_bucket_in_another_region_is_refused(s3: Any) -> None:
    make_bucket(s3, region="eu-central-1")
    with pytest.raises(ResourceError, match="is in eu-central-1 but Personalize runs"):
        ensure_bucket(s3, BUCKET, region=REGION, create=False, account_id=ACCOUNT)


def test_name_taken_by_another_account_is_a_conflict() -> None:
    s3 = boto3.client(
        "s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "404", http_status_code=404)
        stub.add_client_error(
            "create_bucket", "BucketAlreadyExists", http_status_code=409
        )
        with pytest.raises(ResourceConflict, match="taken by another AWS account"):
            ensure_bucket(s3, BUCKET, region=REGION, create=True, account_id=ACCOUNT)


def test_forbidden_bucket_is_a_setup_problem() -> None:
    s3 = boto3.client(
        "s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "403", http_status_code=403)
        with pytest.raises(SetupError, match="cannot access it"):
            ensure_bucket(s3, BUCKET, region=REGION, create=True, account_id=ACCOUNT)


@pytest.fixture
def counted_uploads(s3: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    keys: list[str] = []
    real_upload = s3.upload_file

    def upload_file(filename: str, bucket: str, key: str, **kwargs: Any) -> None:
        keys.append(key)
        real_upload(filename, bucket, key, **kwargs)

    monkeypatch.setattr(s3, "upload_file", upload_file)
    return keys


def test_upload_is_skipped_when_the_same_bytes_are_there(
    s3: Any, counted_uploads: list[str], tmp_path: Path
) -> None:
    make_bucket(s3)
    data = tmp_path / "interactions.csv"
    data.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1\n")

    first = upload_dataset(s3, data, BUCKET, "airctx/interactions.csv")
    second = upload_dataset(s3, data, BUCKET, "airctx/interactions.csv")

    assert first == second == f"s3://{BUCKET}/airctx/interactions.csv"
    assert counted_uploads == ["airctx/interactions.csv"]
    body = s3.get_object(Bucket=BUCKET, Key="airctx/interactions.csv")["Body"].read()
    assert body == data.read_bytes()


def test_changed_file_is_uploaded_again(
    s3: Any, counted_uploads: list[str], tmp_path: Path
) -> None:
    make_bucket(s3)
    data = tmp_path / "users.csv"
    data.write_text("USER_ID,USER_RESIDENCE\nu1,France\n")
    upload_dataset(s3, data, BUCKET, "users.csv")
    # Same size, different bytes: only the checksum can tell them apart.
    data.write_text("USER_ID,USER_RESIDENCE\nu1,Norway\n")
    upload_dataset(s3, data, BUCKET, "users.csv")

    assert counted_uploads == ["users.csv", "users.csv"]
    body = s3.get_object(Bucket=BUCKET, Key="users.csv")["Body"].read()
    assert body.endswith(b"Norway\n")


def test_object_put_by_another_tool_is_recognised_by_etag(
    s3: Any, counted_uploads: list[str], tmp_path: Path
) -> None:
    make_bucket(s3)
    data = tmp_path / "items.csv"
    data.write_bytes(b"ITEM_ID\ni1\n")
    s3.put_object(Bucket=BUCKET, Key="items.csv", Body=data.read_bytes())

    upload_dataset(s3, data, BUCKET, "items.csv")

    assert counted_uploads == []


def test_upload_of_missing_file_is_a_data_error(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such file.*prep-data"):
        upload_dataset(s3, tmp_path / "absent.csv", BUCKET, "absent.csv")


def test_upload_to_folder_key_is_refused(s3: Any, tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x\n")
    with pytest.raises(DataError, match="must name an object"):
        upload_dataset(s3, data, BUCKET, "airctx/")


def test_upload_to_missing_bucket_names_the_destination(
    s3: Any, tmp_path: Path
) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x\n")
    with pytest.raises(ResourceError) as info:
        upload_dataset(s3, data, "no-such-bucket-here", "a.csv")
    assert "s3://no-such-bucket-here/a.csv" in str(info.value)
    assert "NoSuchBucket" in str(info.value)
