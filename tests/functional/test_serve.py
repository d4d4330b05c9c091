"""`airctx serve` as a real process, driven by the AWS CLI and by boto3.

The state is built with the engine API beforehand (names as the pipeline gives
them, so the CLI's own commands find the campaign and tracker), then the server
is started with access keys, exactly as a user would start it.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from airctx.cli.main import cli
from tests.conformance.conftest import build_campaign, open_transport, write_data
from tests.conftest import REPO

pytestmark = pytest.mark.slow

PROJECT = "airline-ctx"
KEY, SECRET = "AKIDSERVETEST", "serve-test-secret"
REGION = "us-east-1"
USER = "user-004"
AWS_CLI = Path(sys.executable).with_name("aws")


@dataclass(frozen=True)
class Served:
    url: str
    config: Path
    process: subprocess.Popen[str]
    arns: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airctx(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "airctx", "--config", str(config), *args]


def child_env(tmp: Path) -> dict[str, str]:
    """The environment of the processes we start: keys given, no user AWS config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRCTX_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]),
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    return env


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float) -> str:
    """The first stderr line holding ``needle``; fails if the process exits first."""
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            seen.append(line)
            if needle in line:
                return line
    raise AssertionError(f"no {needle!r} from the server; it said: {''.join(seen)}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    config = tmp / "airctx.yaml"
    text = (REPO / "config" / "airctx.yaml").read_text(encoding="utf-8")
    config.write_text(
        text.replace("state_dir: ../.airctx", "state_dir: state"), encoding="utf-8"
    )
    data = write_data(tmp / "data")
    with open_transport("inprocess", tmp / "state") as clients:
        arns = build_campaign(clients, data, PROJECT)
    port = free_port()
    process = subprocess.Popen(
        airctx(
            config,
            "serve",
            "--port",
            str(port),
            "--access-key-id",
            KEY,
            "--secret-access-key",
            SECRET,
        ),
        env=child_env(tmp),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = wait_for_line(process, "serving the local Personalize engine", 60)
        assert f"http://127.0.0.1:{port}" in line
        yield Served(f"http://127.0.0.1:{port}", config, process, arns)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise


def aws(served: Served, *args: str, expect_ok: bool = True) -> Any:
    done = subprocess.run(
        [str(AWS_CLI), *args, "--endpoint-url", served.url, "--output", "json"],
        env=child_env(served.config.parent),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if not expect_ok:
        assert done.returncode != 0, done.stdout
        return done.stderr
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def client(served: Served, service: str, secret: str = SECRET) -> Any:
    return boto3.session.Session(
        aws_access_key_id=KEY,
        aws_secret_access_key=secret,
        region_name=REGION,
    ).client(service, endpoint_url=served.url)


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI is not installed here")
def test_aws_cli_lists_queries_and_gets_errors(served: Served) -> None:
    campaigns = aws(served, "personalize", "list-campaigns")["campaigns"]
    assert [c["name"] for c in campaigns] == [f"{PROJECT}-campaign"]

    answer = aws(
        served,
        "personalize-runtime",
        "get-recommendations",
        "--campaign-arn",
        served.arns["campaignArn"],
        "--user-id",
        USER,
        "--num-results",
        "5",
        "--context",
        "CABIN_TYPE=Economy",
    )
    assert len(answer["itemList"]) == 5
    # Personalize's scale: shares of one over the whole catalogue, best first.
    scores = [item["score"] for item in answer["itemList"]]
    assert scores == sorted(scores, reverse=True)
    assert 0 < sum(scores) < 1

    missing = served.arns["campaignArn"].replace("-campaign", "-nothing")
    error = aws(
        served,
        "personalize",
        "describe-campaign",
        "--campaign-arn",
        missing,
        expect_ok=False,
    )
    assert "ResourceNotFoundException" in error
    assert missing in error


def test_boto3_recommendations_follow_the_context(served: Served) -> None:
    runtime = client(served, "personalize-runtime")
    tops = [
        [
            i["itemId"]
            for i in runtime.get_recommendations(
                campaignArn=served.arns["campaignArn"],
                userId=USER,
                numResults=10,
                context={"CABIN_TYPE": cabin},
            )["itemList"]
        ]
        for cabin in ("Economy", "Business Class")
    ]
    assert tops[0] != tops[1]


def test_unsigned_request_is_refused(served: Served) -> None:
    request = urllib.request.Request(
        served.url + "/",
        data=b"{}",
        method="POST",
        headers={
            "X-Amz-Target": "AmazonPersonalize.ListCampaigns",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 403
    body = json.loads(caught.value.read())
    assert body["__type"] == "MissingAuthenticationTokenException"


def test_bad_signature_is_refused(served: Served) -> None:
    personalize = client(served, "personalize", secret="not-the-secret")
    with pytest.raises(ClientError) as caught:
        personalize.list_campaigns()
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_cli_and_server_share_the_state(served: Served) -> None:
    """The CLI's local backend records events while the server answers queries."""
    runtime = client(served, "personalize-runtime")

    def top() -> list[str]:
        answer = runtime.get_recommendations(
            campaignArn=served.arns["campaignArn"],
            userId=USER,
            numResults=10,
            context={"CABIN_TYPE": "Economy"},
        )
        return [i["itemId"] for i in answer["itemList"]]

    before = top()
    for item in before[-3:]:
        result = CliRunner().invoke(
            cli,
            [
                "--config",
                str(served.config),
                "track-event",
                "--user",
                USER,
                "--item",
                item,
                "--value",
                "10",
                "--context",
                "CABIN_TYPE=Economy",
                "--output",
                "json",
            ],
        )
        assert result.exit_code == 0, result.output
    assert top() != before
    assert served.process.poll() is None


def test_serve_refuses_open_address_without_keys(tmp_path: Path) -> None:
    config = tmp_path / "airctx.yaml"
    config.write_text("project: p\nstate_dir: state\n", encoding="utf-8")
    done = subprocess.run(
        airctx(config, "serve", "--host", "0.0.0.0", "--port", str(free_port())),
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "0.0.0.0" in done.stderr
    assert "without credentials" in done.stderr
    assert "Traceback" not in done.stderr


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_terminate_stops_the_server_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "airctx.yaml"
    config.write_text("project: p\nstate_dir: state\n", encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        airctx(config, "serve", "--port", str(port)),
        env=child_env(tmp_path),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_line(process, "serving the local Personalize engine", 60)
        personalize = boto3.session.Session(
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name=REGION,
        ).client("personalize", endpoint_url=f"http://127.0.0.1:{port}")
        assert personalize.list_dataset_groups()["datasetGroups"] == []
        process.terminate()
        assert process.wait(timeout=15) == 0
        assert process.stderr is not None
        assert "stopped" in process.stderr.read()
        assert children_of(process.pid) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
