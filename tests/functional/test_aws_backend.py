"""The aws backend end to end: every Personalize call over real HTTP.

`airctx serve` (the local engine behind SigV4-checked HTTP) stands in for Amazon
Personalize and moto for S3, IAM and STS, so the aws backend's own code runs as it
would against AWS: credentials and account lookup, bucket, upload, the scoped service
role, s3:// import locations, and every Personalize request serialised by botocore,
signed, sent and parsed back.

moto's standalone server (needs moto[server]) is used when it is installed; otherwise
moto's in-process mock answers S3/IAM/STS at their AWS endpoints, and Personalize
calls to the serve address pass through it to real HTTP.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from airctx.cli.main import cli
from airctx.engine.core import LocalEngine
from airctx.engine.s3source import ENDPOINT_ENV
from airctx.engine.server import make_server
from tests.conftest import sample_project

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

BUCKET = "airctx-functional"
REGION = "us-east-1"


@pytest.fixture
def aws_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """S3/IAM/STS: yields the endpoint to point airctx at (None: AWS's own, mocked)."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDAIRCTXTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "airctx-test-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from moto.server import ThreadedMotoServer
    except ImportError:
        from moto import mock_aws

        with mock_aws():
            # mock_aws swaps in its own keys; serve must accept those.
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", os.environ["AWS_ACCESS_KEY_ID"])
            monkeypatch.setenv(
                "AWS_SECRET_ACCESS_KEY", os.environ["AWS_SECRET_ACCESS_KEY"]
            )
            monkeypatch.setenv(ENDPOINT_ENV, f"https://s3.{REGION}.amazonaws.com")
            yield None
        return
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv(ENDPOINT_ENV, url)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def served(tmp_path: Path, aws_services: str | None) -> Iterator[str]:
    """`airctx serve`'s engine and server, checking SigV4 with the test's keys."""
    engine = LocalEngine(tmp_path / "served", region=REGION, runner="thread")
    keys = {os.environ["AWS_ACCESS_KEY_ID"]: os.environ["AWS_SECRET_ACCESS_KEY"]}
    server = make_server(engine, "127.0.0.1", 0, credentials=keys, region=REGION)
    with server.running():
        yield server.endpoint_url
    engine.close()


def served_campaigns(tmp_path: Path) -> list[str]:
    """Campaigns in the served engine's own store (not the local backend's)."""
    engine = LocalEngine(tmp_path / "served", region=REGION, runner="thread")
    try:
        return [c.arn for c in engine.store.list("campaign")]
    finally:
        engine.close()


@pytest.fixture
def project(tmp_path: Path, skytrax: Path) -> Path:
    return sample_project(
        tmp_path,
        skytrax,
        {
            "perform_hpo: true": "perform_hpo: false",
            "bucket: null": f"bucket: {BUCKET}",
            "create_bucket: false": "create_bucket: true",
        },
        "\nwaits:\n  poll_seconds: 0.1\n  max_poll_seconds: 0.5\n",
    )


def aws_args(project: Path, served: str, aws_services: str | None) -> list[str]:
    """Global options that point the aws backend at serve (and moto for S3/IAM)."""
    args = ["--config", str(project), "--backend", "aws", "--region", REGION]
    args += ["--endpoint-url", served]
    if aws_services is not None:
        args += ["--services-endpoint-url", aws_services]
    return args


def test_the_whole_pipeline_on_the_aws_backend(
    project: Path, served: str, aws_services: str | None
) -> None:
    base = aws_args(project, served, aws_services)

    def airctx(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*base, *args, "--output", "json"])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return json.loads(result.stdout)

    assert airctx("prep-data")["interactions_written"] > 1900
    imported = airctx("import")
    trained = airctx("train")
    deployed = airctx("deploy")
    economy = airctx(
        "recommend", "--user", "ColinPay", "--context", "CABIN_TYPE=Economy"
    )
    tracked = airctx(
        "track-event",
        "--user",
        "ColinPay",
        "--item",
        "ryanair",
        "--value",
        "9",
        "--context",
        "CABIN_TYPE=Economy",
    )
    status = airctx("status")

    assert set(imported["importJobs"]) == {"INTERACTIONS", "USERS"}
    assert trained["metrics"]["normalized_discounted_cumulative_gain_at_10"] > 0
    assert deployed["campaignArn"].endswith(":campaign/airline-ctx-campaign")
    assert len(economy["itemList"]) == 10
    assert tracked["event"]["properties"] == json.dumps({"cabinType": "Economy"})
    assert {r["type"] for r in status} >= {"campaign", "solution-version", "import-job"}

    # The import read the object airctx uploaded, with the role it created.
    import boto3

    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws_services)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {
        "airctx/airline-ctx/interactions.csv",
        "airctx/airline-ctx/users.csv",
    }
    iam = boto3.client("iam", region_name=REGION, endpoint_url=aws_services)
    assert iam.get_role(RoleName="airline-ctx-personalize")["Role"]["Arn"]
    # Personalize was the served engine, reached over HTTP; nothing ran locally.
    assert served_campaigns(project.parent) == [deployed["campaignArn"]]
    # The state directory holds only the record of the rows imported.
    assert not (project.parent / "state" / "engine").exists()
    assert [p.name for p in (project.parent / "state").iterdir()] == ["imported-rows"]


def test_retired_recipe_is_refused_before_anything_is_billed(
    project: Path, served: str, aws_services: str | None
) -> None:
    text = project.read_text(encoding="utf-8").replace(
        "recipe: aws-user-personalization", "recipe: aws-hrnn-metadata"
    )
    project.write_text(text, encoding="utf-8")
    base = aws_args(project, served, aws_services)
    for step in ("prep-data", "import"):
        assert CliRunner().invoke(cli, [*base, step, "-q"]).exit_code == 0

    result = CliRunner().invoke(cli, [*base, "train"])

    assert result.exit_code == 1
    assert "aws-hrnn-metadata" in result.stderr
    assert "aws-user-personalization or aws-user-personalization-v2" in result.stderr
    listed = CliRunner().invoke(cli, [*base, "status", "-o", "json"])
    assert "solution" not in {r["type"] for r in json.loads(listed.stdout)}
