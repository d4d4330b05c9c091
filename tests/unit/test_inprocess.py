"""Real boto3 clients answered in-process by a fake engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from airctx.engine.errors import InvalidInput, ResourceNotFound
from airctx.engine.inprocess import attach

Answer = Callable[[dict[str, Any]], dict[str, Any]]


class FakeEngine:
    """Answers from a table of operation -> function, and records every call."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def call(
        self, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append((service, operation, params))
        if operation not in self.answers:
            raise NotImplementedError
        return self.answers[operation](params)


def _describe_schema(params: dict[str, Any]) -> dict[str, Any]:
    if params["schemaArn"] != "arn:aws:personalize:us-east-1:000000000000:schema/s":
        raise ResourceNotFound(f"Schema {params['schemaArn']} does not exist.")
    return {
        "schema": {
            "name": "s",
            "schemaArn": params["schemaArn"],
            "schema": "{}",
            "creationDateTime": 1709618828,
            "lastUpdatedDateTime": 1709618828.25,
        }
    }


def _get_recommendations(params: dict[str, Any]) -> dict[str, Any]:
    if "userId" not in params:
        raise InvalidInput("userId is required for USER_PERSONALIZATION campaigns.")
    return {"itemList": [{"itemId": "a1", "score": 0.75}], "recommendationId": "r"}


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(
        {
            "DescribeSchema": _describe_schema,
            "GetRecommendations": _get_recommendations,
            "PutEvents": lambda params: {},
        }
    )


@pytest.fixture
def make_client(
    no_aws_credentials: None, engine: FakeEngine
) -> Iterator[Callable[[str], Any]]:
    clients: list[Any] = []

    def make(service: str) -> Any:
        # A closed port and no retries: a call that escaped the hook fails at once.
        client = boto3.session.Session().client(
            service,
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        )
        attach(client, engine)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_success_is_parsed_by_botocore(
    make_client: Callable[[str], Any],
) -> None:
    personalize = make_client("personalize")
    arn = "arn:aws:personalize:us-east-1:000000000000:schema/s"

    response = personalize.describe_schema(schemaArn=arn)

    assert response["schema"]["creationDateTime"] == dt.datetime(
        2024, 3, 5, 6, 7, 8, tzinfo=dt.UTC
    )
    assert response["schema"]["lastUpdatedDateTime"].microsecond == 250000
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["RequestId"]


def test_modelled_errors_raise_the_clients_exception_classes(
    make_client: Callable[[str], Any],
) -> None:
    personalize = make_client("personalize")

    with pytest.raises(personalize.exceptions.ResourceNotFoundException) as raised:
        personalize.describe_schema(schemaArn="arn:missing")

    error = raised.value.response
    assert error["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "Schema arn:missing does not exist.",
    }
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_rest_json_services_work_the_same_way(
    make_client: Callable[[str], Any], engine: FakeEngine
) -> None:
    runtime = make_client("personalize-runtime")

    response = runtime.get_recommendations(
        campaignArn="arn:c", userId="u1", context={"CABIN_TYPE": "Economy"}
    )

    assert response["itemList"] == [{"itemId": "a1", "score": 0.75}]
    assert engine.calls == [
        (
            "personalize-runtime",
            "GetRecommendations",
            {
                "campaignArn": "arn:c",
                "userId": "u1",
                "context": {"CABIN_TYPE": "Economy"},
            },
        )
    ]
    with pytest.raises(runtime.exceptions.InvalidInputException) as raised:
        runtime.get_recommendations(campaignArn="arn:c")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_engine_receives_timestamps_as_epoch_seconds(
    make_client: Callable[[str], Any], engine: FakeEngine
) -> None:
    events = make_client("personalize-events")
    sent_at = dt.datetime(2024, 3, 5, 6, 7, 8, tzinfo=dt.UTC)

    events.put_events(
        trackingId="t",
        sessionId="s",
        eventList=[{"eventType": "RATING", "sentAt": sent_at}],
    )

    assert engine.calls[0][2]["eventList"][0]["sentAt"] == sent_at.timestamp()


def test_parameter_validation_happens_before_the_engine(
    make_client: Callable[[str], Any], engine: FakeEngine
) -> None:
    personalize = make_client("personalize")

    with pytest.raises(ParamValidationError, match="schemaArn"):
        personalize.describe_schema()

    assert engine.calls == []


def test_operations_the_engine_lacks_say_so(
    make_client: Callable[[str], Any],
) -> None:
    personalize = make_client("personalize")

    with pytest.raises(ClientError) as raised:
        personalize.list_recommenders()

    assert raised.value.response["Error"] == {
        "Code": "NotImplementedException",
        "Message": "The local Personalize engine does not implement ListRecommenders.",
    }


def test_engine_faults_reach_the_caller_unchanged(
    make_client: Callable[[str], Any], engine: FakeEngine
) -> None:
    def broken(params: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("missing column")

    engine.answers["ListSchemas"] = broken
    personalize = make_client("personalize")

    with pytest.raises(KeyError, match="missing column"):
        personalize.list_schemas()


def test_attaching_again_replaces_the_engine(
    make_client: Callable[[str], Any],
) -> None:
    personalize = make_client("personalize")
    other = FakeEngine({"ListSchemas": lambda params: {"schemas": [{"name": "b"}]}})

    attach(personalize, other)

    assert personalize.list_schemas()["schemas"] == [{"name": "b"}]
    assert len(other.calls) == 1
