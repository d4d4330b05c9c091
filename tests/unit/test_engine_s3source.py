"""s3:// import sources for an engine that has been given an S3 endpoint."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from airctx.engine import s3source
from airctx.engine.jobs import JobFailed

ENDPOINT = "https://s3.us-east-1.amazonaws.com"


@pytest.fixture
def mocked_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="in/interactions.csv", Body=b"USER_ID\nu1\n")
        yield


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://b/k.csv", ("b", "k.csv")), ("s3://b/a/b/k.csv", ("b", "a/b/k.csv"))],
)
def test_split_uri(uri: str, expected: tuple[str, str]) -> None:
    assert s3source.split_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", "s3:///key", "/tmp/x"])
def test_split_uri_rejects_what_is_not_one_object(uri: str) -> None:
    with pytest.raises(ValueError, match=re.escape(uri)):
        s3source.split_uri(uri)


def test_without_an_endpoint_s3_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(s3source.ENDPOINT_ENV, raising=False)

    with pytest.raises(JobFailed, match=s3source.ENDPOINT_ENV):
        s3source.download("s3://data/in/interactions.csv")


def test_download_reads_the_object(
    mocked_s3: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(s3source.ENDPOINT_ENV, ENDPOINT)

    path = s3source.download("s3://data/in/interactions.csv", tmp_path)

    assert path.read_bytes() == b"USER_ID\nu1\n"


def test_a_missing_object_fails_the_job_with_its_location(
    mocked_s3: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(s3source.ENDPOINT_ENV, ENDPOINT)

    with pytest.raises(JobFailed, match=re.escape("s3://data/missing.csv")):
        s3source.download("s3://data/missing.csv", tmp_path)
