"""The HTTP server and its SigV4 checks, driven by boto3, urllib and the AWS CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from airctx.engine.errors import ResourceNotFound
from airctx.engine.server import Server, is_loopback, make_server
from airctx.engine.sigv4 import SigV4Verifier
from airctx.engine.wire import WireError
from tests.conftest import AWS_CLI

KEY_ID = "AKIDLOCALTEST"
SECRET = "local-secret"


class FakeEngine:
    """A few fixed answers; an operation named ``Fail*`` raises a fault."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def call(
        self, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append((service, operation))
        if operation == "ListSchemas":
            return {"schemas": [{"name": "s", "creationDateTime": 1709618828}]}
        if operation == "DescribeCampaign":
            raise ResourceNotFound(f"Campaign {params['campaignArn']} does not exist.")
        if operation == "GetRecommendations":
            return {
                "itemList": [{"itemId": "a1", "score": 0.5}],
                "recommendationId": "r",
            }
        if operation == "PutEvents":
            return {}
        if operation == "ListSolutions":
            raise RuntimeError("engine bug")
        raise NotImplementedError


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def signed_server(engine: FakeEngine) -> Iterator[Server]:
    server = make_server(engine, credentials={KEY_ID: SECRET}, max_body_bytes=4096)
    with server.running():
        yield server


@pytest.fixture
def open_server(engine: FakeEngine) -> Iterator[Server]:
    with make_server(engine).running() as server:
        yield server


def _client(
    service: str,
    server: Server,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    region: str = "us-east-1",
) -> Any:
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=server.endpoint_url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def _post(
    server: Server, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(
        server.endpoint_url + path, data=body, method="POST", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


def test_all_three_services_share_one_port(
    signed_server: Server, engine: FakeEngine
) -> None:
    schemas = _client("personalize", signed_server).list_schemas()["schemas"]
    items = _client("personalize-runtime", signed_server).get_recommendations(
        campaignArn="arn:c", userId="u1"
    )["itemList"]
    _client("personalize-events", signed_server).put_events(
        trackingId="t", sessionId="s", eventList=[{"eventType": "RATING", "sentAt": 1}]
    )

    assert schemas[0]["creationDateTime"] == dt.datetime(
        2024, 3, 5, 6, 7, 8, tzinfo=dt.UTC
    )
    assert items == [{"itemId": "a1", "score": 0.5}]
    assert engine.calls == [
        ("personalize", "ListSchemas"),
        ("personalize-runtime", "GetRecommendations"),
        ("personalize-events", "PutEvents"),
    ]


def test_modelled_errors_reach_boto3_as_its_exception_classes(
    signed_server: Server,
) -> None:
    personalize = _client("personalize", signed_server)

    with pytest.raises(personalize.exceptions.ResourceNotFoundException) as raised:
        personalize.describe_campaign(campaignArn="arn:missing")

    assert raised.value.response["Error"]["Message"] == (
        "Campaign arn:missing does not exist."
    )


@pytest.mark.parametrize(
    ("key_id", "secret", "region", "code"),
    [
        (KEY_ID, "wrong-secret", "us-east-1", "InvalidSignatureException"),
        ("AKIDUNKNOWN", SECRET, "us-east-1", "UnrecognizedClientException"),
        (KEY_ID, SECRET, "eu-west-1", "InvalidSignatureException"),
    ],
    ids=["wrong-secret", "unknown-key", "other-region"],
)
def test_bad_signatures_are_refused_before_the_engine(
    signed_server: Server,
    engine: FakeEngine,
    key_id: str,
    secret: str,
    region: str,
    code: str,
) -> None:
    personalize = _client("personalize", signed_server, key_id, secret, region)

    with pytest.raises(ClientError) as raised:
        personalize.list_schemas()

    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert engine.calls == []


def test_wrong_secret_gets_the_aws_message(signed_server: Server) -> None:
    with pytest.raises(ClientError, match="signature we calculated does not match"):
        _client(
            "personalize-runtime", signed_server, secret="nope"
        ).get_recommendations(campaignArn="arn:c", userId="u1")


def test_unsigned_requests_are_refused_when_keys_are_configured(
    signed_server: Server, engine: FakeEngine
) -> None:
    status, headers, body = _post(signed_server, "/recommendations", b"{}")

    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert body == {"message": "Missing Authentication Token"}
    assert engine.calls == []


def test_loopback_without_keys_accepts_unsigned_and_signed_requests(
    open_server: Server,
) -> None:
    status, _, body = _post(
        open_server, "/recommendations", b'{"campaignArn": "arn:c", "userId": "u1"}'
    )
    signed = _client("personalize", open_server, "ANYKEY", "any-secret")

    assert (status, body["recommendationId"]) == (200, "r")
    assert signed.list_schemas()["schemas"][0]["name"] == "s"


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "", "::"], ids=["any-v4", "empty", "any-v6"]
)
def test_non_loopback_without_keys_is_refused_before_listening(host: str) -> None:
    with pytest.raises(ValueError, match="without credentials"):
        make_server(FakeEngine(), host=host)


def test_empty_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="credentials is empty"):
        make_server(FakeEngine(), credentials={})


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("10.1.2.3", False)],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "code"),
    [
        ("/nowhere", {}, b"{}", 404, "UnknownOperationException"),
        ("/recommendations", {}, b"{not json", 400, "SerializationException"),
        ("/recommendations", {}, b" " * 5000, 413, "RequestEntityTooLargeException"),
    ],
    ids=["unknown-route", "broken-json", "too-large"],
)
def test_bad_requests_get_aws_style_errors(
    path: str, headers: dict[str, str], body: bytes, status: int, code: str
) -> None:
    server = make_server(FakeEngine(), max_body_bytes=4096)
    with server.running():
        answer = _post(server, path, body, headers)

    assert answer[0] == status
    assert answer[1]["x-amzn-ErrorType"] == code


def test_engine_faults_become_500_and_the_server_keeps_serving(
    open_server: Server,
) -> None:
    personalize = _client("personalize", open_server)

    with pytest.raises(ClientError) as raised:
        personalize.list_solutions()

    assert raised.value.response["Error"]["Code"] == "InternalFailure"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert personalize.list_schemas()["schemas"][0]["name"] == "s"


def test_missing_operations_are_501_naming_the_operation(open_server: Server) -> None:
    status, _, body = _post(
        open_server,
        "/",
        b"{}",
        {
            "X-Amz-Target": "AmazonPersonalize.ListRecommenders",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )

    assert status == 501
    assert body["message"] == (
        "The local Personalize engine does not implement ListRecommenders."
    )


@pytest.mark.skipif(AWS_CLI is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_gets_recommendations(signed_server: Server) -> None:
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    environment.pop("AWS_PROFILE", None)

    completed = subprocess.run(
        [
            str(AWS_CLI),
            "personalize-runtime",
            "get-recommendations",
            "--campaign-arn",
            "arn:aws:personalize:us-east-1:000000000000:campaign/c",
            "--user-id",
            "u1",
            "--endpoint-url",
            signed_server.endpoint_url,
            "--region",
            "us-east-1",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["itemList"] == [{"itemId": "a1", "score": 0.5}]


# SigV4Verifier on its own, with requests signed by botocore's signer.

NOW = dt.datetime(2024, 3, 5, 6, 7, 8, tzinfo=dt.UTC)


def _signed(
    body: bytes = b'{"userId": "u1"}',
    when: dt.datetime = NOW,
    host: str = "127.0.0.1:8000",
    service: str = "personalize",
) -> tuple[str, dict[str, str]]:
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/recommendations?b=2&a=x%20y",
        data=body,
        headers={"Content-Type": "application/json", "Host": host},
    )
    signer = SigV4Auth(Credentials(KEY_ID, SECRET), service, "us-east-1")
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed_names = signer.signed_headers(signer.headers_to_sign(request))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
        f"SignedHeaders={signed_names}, Signature={signature}"
    )
    return "/recommendations?b=2&a=x%20y", dict(request.headers.items())


def _verifier(now: dt.datetime = NOW) -> SigV4Verifier:
    return SigV4Verifier({KEY_ID: SECRET}, "us-east-1", clock=lambda: now)


def test_a_botocore_signature_verifies() -> None:
    target, headers = _signed()

    signed_by = _verifier().verify("POST", target, headers, b'{"userId": "u1"}')

    assert signed_by == (KEY_ID, "personalize")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("body", "signature we calculated does not match"),
        ("query", "signature we calculated does not match"),
        ("content-hash", "x-amz-content-sha256 header does not match"),
        ("no-date", "X-Amz-Date"),
        ("algorithm", "Unsupported authorization type"),
        ("no-signature", "requires 'Signature' parameter"),
    ],
)
def test_tampered_or_malformed_requests_fail(change: str, message: str) -> None:
    target, headers = _signed()
    body = b'{"userId": "u1"}'
    if change == "body":
        body = b'{"userId": "u2"}'
    elif change == "query":
        target = target.replace("b=2", "b=3")
    elif change == "content-hash":
        headers["X-Amz-Content-SHA256"] = "0" * 64
    elif change == "no-date":
        del headers["X-Amz-Date"]
    elif change == "algorithm":
        headers["Authorization"] = headers["Authorization"].replace("HMAC", "XXXX")
    else:
        headers["Authorization"] = headers["Authorization"].split(", Signature")[0]

    with pytest.raises(WireError, match=message):
        _verifier().verify("POST", target, headers, body)


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (dt.timedelta(minutes=16), "Signature expired"),
        (-dt.timedelta(hours=1), "not yet"),
    ],
    ids=["too-old", "from-the-future"],
)
def test_signatures_outside_the_clock_window_fail(
    offset: dt.timedelta, message: str
) -> None:
    target, headers = _signed()

    with pytest.raises(WireError, match=message) as raised:
        _verifier(NOW + offset).verify("POST", target, headers, b'{"userId": "u1"}')
    assert raised.value.code == "InvalidSignatureException"


def test_a_signature_scoped_to_another_service_is_refused(
    signed_server: Server,
) -> None:
    host = signed_server.endpoint_url.removeprefix("http://")
    body = b'{"campaignArn": "arn:c", "userId": "u1"}'
    now = dt.datetime.now(dt.UTC)
    target, headers = _signed(body, now, host, service="personalize-runtime")

    status, _, answer = _post(signed_server, target, body, headers)

    assert status == 403
    assert answer["message"] == (
        "Credential should be scoped to correct service: 'personalize'."
    )


def test_a_signed_request_from_another_client_is_accepted(
    signed_server: Server,
) -> None:
    host = signed_server.endpoint_url.removeprefix("http://")
    body = b'{"campaignArn": "arn:c", "userId": "u1"}'
    target, headers = _signed(body, dt.datetime.now(dt.UTC), host)

    status, _, answer = _post(signed_server, target, body, headers)

    assert (status, answer["recommendationId"]) == (200, "r")
