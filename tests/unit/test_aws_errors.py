"""botocore errors become airctx errors with instructions, keeping the cause."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.stub import Stubber

from airctx.aws.errors import error_code, is_not_found, translate_errors
from airctx.errors import (
    AirctxError,
    ConfigError,
    ResourceConflict,
    ResourceError,
    SetupError,
)

ARN = "arn:aws:personalize:eu-west-1:123456789012:campaign/demo"


def client_error(code: str, message: str = "details from AWS") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}}, "DescribeCampaign"
    )


@pytest.mark.parametrize(
    ("code", "expected", "fragment"),
    [
        ("ResourceNotFoundException", ResourceError, "not found"),
        ("NoSuchEntity", ResourceError, "not found"),
        ("NoSuchBucket", ResourceError, "not found"),
        ("404", ResourceError, "not found"),
        ("ResourceInUseException", ResourceError, "in use"),
        ("ResourceAlreadyExistsException", ResourceConflict, "already exists"),
        ("EntityAlreadyExists", ResourceConflict, "already exists"),
        ("InvalidInputException", ResourceError, "rejected as invalid"),
        ("LimitExceededException", ResourceError, "service limit"),
        ("ThrottlingException", ResourceError, "service limit"),
        ("AccessDenied", SetupError, "access denied"),
        ("AccessDeniedException", SetupError, "access denied"),
        ("ExpiredToken", SetupError, "expired or invalid"),
        ("ExpiredTokenException", SetupError, "expired or invalid"),
        ("InvalidClientTokenId", SetupError, "aws configure"),
        ("SomethingNew", ResourceError, "DescribeCampaign failed"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_client_errors_map_by_code(
    code: str, expected: type[AirctxError], fragment: str
) -> None:
    original = client_error(code)

    with pytest.raises(expected) as info, translate_errors(ARN):
        raise original

    message = str(info.value)
    assert type(info.value) is expected
    assert fragment in message
    assert ARN in message
    assert f"AWS said {code}: details from AWS" in message
    assert info.value.__cause__ is original


def test_conflict_is_still_a_resource_error() -> None:
    with pytest.raises(ResourceError), translate_errors("x"):
        raise client_error("ResourceAlreadyExistsException")


def test_message_without_resource_names_the_operation() -> None:
    expected = pytest.raises(ResourceError, match="the resource of DescribeCampaign")
    with expected, translate_errors():
        raise client_error("ResourceNotFoundException")


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (NoCredentialsError(), "aws configure"),
        (PartialCredentialsError(provider="env", cred_var="AWS_SECRET"), "--profile"),
        (NoRegionError(), "--region"),
        (ProfileNotFound(profile="staging"), "aws configure --profile staging"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "airctx serve"),
    ],
    ids=["no-credentials", "partial-credentials", "no-region", "profile", "endpoint"],
)
def test_client_side_failures_become_setup_instructions(
    exc: Exception, fragment: str
) -> None:
    with pytest.raises(SetupError, match=fragment) as info, translate_errors("thing"):
        raise exc
    assert info.value.__cause__ is exc
    assert str(info.value).startswith("thing: ")


def test_airctx_errors_pass_through_unchanged() -> None:
    original = ConfigError("bad option")
    with pytest.raises(ConfigError) as info, translate_errors("x"):
        raise original
    assert info.value is original


def test_other_exceptions_are_not_swallowed() -> None:
    with pytest.raises(KeyError), translate_errors("x"):
        raise KeyError("missing")


def test_stubbed_personalize_error_is_translated() -> None:
    client = boto3.client(
        "personalize",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stub:
        stub.add_client_error(
            "describe_campaign",
            service_error_code="ResourceNotFoundException",
            service_message="Could not find campaign",
            expected_params={"campaignArn": ARN},
        )
        with pytest.raises(ResourceError) as info, translate_errors(ARN):
            client.describe_campaign(campaignArn=ARN)

    assert str(info.value).startswith(f"{ARN} not found (AWS said Resource")
    assert "Could not find campaign" in str(info.value)


def test_error_code_helpers() -> None:
    assert error_code(client_error("LimitExceededException")) == (
        "LimitExceededException"
    )
    assert error_code(ValueError("x")) is None
    assert is_not_found(client_error("NoSuchKey"))
    assert not is_not_found(client_error("AccessDenied"))
    assert not is_not_found(ValueError("x"))


@pytest.fixture
def local_client(tmp_path: Path) -> Iterator[Any]:
    """A Personalize client answered in-process by a real local engine."""
    from airctx.engine.core import LocalEngine
    from airctx.engine.inprocess import attach

    engine = LocalEngine(tmp_path / "state", region="us-east-1")
    client = boto3.client(
        "personalize",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    attach(client, engine)
    yield client
    engine.close()


def test_errors_from_the_local_engine_say_who_answered(local_client: Any) -> None:
    missing = "arn:aws:personalize:us-east-1:000000000000:campaign/gone"
    with pytest.raises(ResourceError) as not_found, translate_errors(missing):
        local_client.describe_campaign(campaignArn=missing)
    with pytest.raises(ResourceError) as invalid, translate_errors("schema bad"):
        local_client.create_schema(name="bad", schema="{not json")

    assert "(the local engine said ResourceNotFoundException" in str(not_found.value)
    assert "AWS" not in str(not_found.value)
    assert "the local engine said InvalidInputException" in str(invalid.value)
    assert "fix the value the local engine names" in str(invalid.value)
    assert "AWS" not in str(invalid.value)
