"""Session and client factory: profile/region resolution, endpoints, credentials."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from airctx import __version__
from airctx.aws.session import (
    check_credentials,
    client_config,
    create_clients,
    create_session,
)
from airctx.errors import ConfigError, SetupError

SERVE_URL = "http://127.0.0.1:4566"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS settings at all: empty shared files, no AWS_* variables, no IMDS."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    config = tmp_path / "config"
    credentials = tmp_path / "credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    # Without this botocore would ask the EC2 metadata service for credentials.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return config


@pytest.fixture
def fake_credentials(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return clean_env


@pytest.fixture
def mocked(fake_credentials: Path) -> Iterator[None]:
    with mock_aws():
        yield


def test_explicit_region_wins_over_environment(
    fake_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert create_session(None, "eu-central-1").region_name == "eu-central-1"


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_region_from_environment(
    fake_credentials: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "ap-southeast-2")
    assert create_session(None, None).region_name == "ap-southeast-2"


def test_aws_region_wins_over_aws_default_region(
    fake_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_REGION", "eu-south-1")
    assert create_session(None, None).region_name == "eu-south-1"


def test_profile_region_from_config_file(fake_credentials: Path) -> None:
    fake_credentials.write_text("[profile analytics]\nregion = eu-north-1\n")
    session = create_session("analytics", None)
    assert session.profile_name == "analytics"
    assert session.region_name == "eu-north-1"


def test_profile_from_environment(
    fake_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_credentials.write_text("[profile analytics]\nregion = eu-north-1\n")
    monkeypatch.setenv("AWS_PROFILE", "analytics")
    assert create_session(None, None).region_name == "eu-north-1"


def test_unknown_profile_lists_the_configured_ones(fake_credentials: Path) -> None:
    fake_credentials.write_text("[profile analytics]\nregion = eu-north-1\n")
    with pytest.raises(SetupError) as info:
        create_session("nope", "eu-west-1")
    message = str(info.value)
    assert "AWS profile 'nope' is not configured" in message
    assert "configured profiles: analytics" in message
    assert "aws configure --profile nope" in message


def test_unknown_profile_from_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ghost")
    with pytest.raises(SetupError, match=r"'ghost' is not configured.*AWS_PROFILE"):
        create_session(None, "eu-west-1")


def test_no_region_gives_instructions(clean_env: Path) -> None:
    with pytest.raises(SetupError, match=r"no AWS region is set.*--region.*AWS_REGION"):
        create_session(None, None)


def test_client_config_sets_retries_and_user_agent() -> None:
    # Config sets its options as attributes the stubs do not declare.
    config: Any = client_config(max_attempts=7, retry_mode="adaptive")
    assert config.retries == {"total_max_attempts": 7, "mode": "adaptive"}
    assert config.user_agent_extra == f"airctx/{__version__}"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"retry_mode": "eager"}, "aws.retry_mode 'eager'"),
        ({"max_attempts": 0}, "at least 1"),
    ],
    ids=["bad-mode", "zero-attempts"],
)
def test_client_config_rejects_bad_values(
    kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        client_config(**kwargs)  # type: ignore[arg-type]


def test_endpoint_applies_to_personalize_clients_only(fake_credentials: Path) -> None:
    session = create_session(None, "eu-west-1")
    clients = create_clients(session, endpoint_url=SERVE_URL)

    for client in (clients.personalize, clients.runtime, clients.events):
        assert client.meta.endpoint_url == SERVE_URL
        assert client.meta.region_name == "eu-west-1"
    assert clients.runtime.meta.service_model.service_name == "personalize-runtime"
    assert clients.events.meta.service_model.service_name == "personalize-events"
    assert "amazonaws.com" in clients.s3.meta.endpoint_url
    assert "amazonaws.com" in clients.sts.meta.endpoint_url
    assert clients.region == "eu-west-1"


def test_extra_clients_are_built_once_with_the_shared_config(
    fake_credentials: Path,
) -> None:
    config = client_config(max_attempts=3)
    clients = create_clients(
        create_session(None, "eu-west-1"),
        config=config,
        extra_endpoint_url="http://127.0.0.1:5000",
    )

    assert clients.s3 is clients.s3
    assert clients.iam is clients.extra("iam")
    assert clients.s3.meta.endpoint_url == "http://127.0.0.1:5000"
    assert clients.personalize.meta.endpoint_url != "http://127.0.0.1:5000"
    assert clients.s3.meta.config.retries["total_max_attempts"] == 3
    assert clients.personalize.meta.config.retries["total_max_attempts"] == 3
    with pytest.raises(ValueError, match="personalize-runtime"):
        clients.extra("personalize-runtime")


def test_check_credentials_returns_account(mocked: None) -> None:
    clients = create_clients(create_session(None, "eu-west-1"))
    assert check_credentials(clients) == "123456789012"


def test_missing_credentials_give_instructions(clean_env: Path) -> None:
    clients = create_clients(create_session(None, "eu-west-1"))
    with pytest.raises(SetupError, match=r"no AWS credentials.*aws configure"):
        check_credentials(clients)


def test_rejected_credentials_give_instructions(fake_credentials: Path) -> None:
    clients = create_clients(create_session(None, "eu-west-1"))
    with Stubber(clients.sts) as stub:
        stub.add_client_error(
            "get_caller_identity",
            service_error_code="InvalidClientTokenId",
            service_message="The security token included in the request is invalid.",
            http_status_code=403,
        )
        with pytest.raises(SetupError, match=r"AWS credentials: .*rejected"):
            check_credentials(clients)


def test_no_session_is_built_at_import() -> None:
    import airctx.aws.session as module

    assert not any(isinstance(value, boto3.Session) for value in vars(module).values())
