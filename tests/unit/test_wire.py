"""The wire codec against botocore's own serializers and parsers."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.awsrequest import HeadersDict
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from airctx.engine import wire
from airctx.engine.api import SERVICES
from airctx.engine.errors import InvalidInput, ResourceInUse, ResourceNotFound
from airctx.engine.wire import ServiceCodec, WireError

WHEN = dt.datetime(2024, 3, 5, 6, 7, 8, tzinfo=dt.UTC)


def _sample(shape: Shape, depth: int = 0) -> Any:
    """A value for every member of ``shape``, in the form boto3 callers use."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return {"free": ["form", 1]}
        members = shape.members  # type: ignore[attr-defined]
        if depth > 4:
            return {}
        if shape.is_tagged_union:
            name = next(iter(members))
            return {name: _sample(members[name], depth + 1)}
        return {name: _sample(member, depth + 1) for name, member in members.items()}
    if kind == "list":
        return [_sample(shape.member, depth + 1)]  # type: ignore[attr-defined]
    if kind == "map":
        return {"key": _sample(shape.value, depth + 1)}  # type: ignore[attr-defined]
    if kind == "string":
        return shape.enum[0] if shape.enum else f"text-{shape.name}"  # type: ignore[attr-defined]
    return {
        "integer": 7,
        "long": 70_000_000_000,
        "float": 0.25,
        "double": 0.5,
        "boolean": True,
        "timestamp": WHEN,
        "blob": b"\x00bytes",
    }[kind]


def _to_wire(shape: Shape, value: Any) -> Any:
    """The JSON document form of a boto3 value: what the engine sees and returns."""
    kind = shape.type_name
    if kind == "structure" and not shape.is_document_type:
        members = shape.members  # type: ignore[attr-defined]
        return {
            members[name].serialization.get("name", name): _to_wire(members[name], item)
            for name, item in value.items()
        }
    if kind == "list":
        return [_to_wire(shape.member, item) for item in value]  # type: ignore[attr-defined]
    if kind == "map":
        return {k: _to_wire(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "timestamp":
        return value.timestamp()
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    return value


def _operations() -> list[tuple[str, str]]:
    session = botocore.session.get_session()
    return [
        (service, name)
        for service in SERVICES
        for name in session.get_service_model(service).operation_names
    ]


def _model(service: str, operation: str) -> OperationModel:
    return wire.codec(service).model.operation_model(operation)


def _serialize(model: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    protocol = model.service_model.resolved_protocol
    request: dict[str, Any] = create_serializer(protocol).serialize_to_request(
        params, model
    )
    return request


def _target(request: dict[str, Any]) -> str:
    query = urlencode(request["query_string"], doseq=True)
    return f"{request['url_path']}?{query}" if query else request["url_path"]


def _parse(model: OperationModel, response: wire.WireResponse) -> dict[str, Any]:
    parser = create_parser(model.service_model.resolved_protocol)
    parsed: dict[str, Any] = parser.parse(
        {
            "status_code": response.status,
            "headers": HeadersDict(response.headers),
            "body": response.body,
        },
        model.output_shape,  # type: ignore[arg-type]
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


@pytest.mark.parametrize(("service", "operation"), _operations())
def test_every_request_decodes_to_its_operation_and_wire_params(
    service: str, operation: str
) -> None:
    model = _model(service, operation)
    params = _sample(model.input_shape) if model.input_shape else {}
    request = _serialize(model, params)

    decoded = wire.decode_request(
        service,
        request["method"],
        _target(request),
        request["headers"],
        request["body"],
    )

    expected = _to_wire(model.input_shape, params) if model.input_shape else {}
    assert decoded == (operation, expected)


@pytest.mark.parametrize(("service", "operation"), _operations())
def test_every_response_parses_back_to_what_the_engine_returned(
    service: str, operation: str
) -> None:
    model = _model(service, operation)
    result = _sample(model.output_shape) if model.output_shape else {}
    wire_result = _to_wire(model.output_shape, result) if model.output_shape else {}

    response = wire.encode_response(service, operation, wire_result)

    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(response.body))
    assert _parse(model, response) == result


@pytest.mark.parametrize(("service", "operation"), _operations())
def test_every_operation_routes_to_its_own_service(
    service: str, operation: str
) -> None:
    model = _model(service, operation)
    request = _serialize(model, _sample(model.input_shape) if model.input_shape else {})

    found = wire.resolve_service(
        request["method"], _target(request), request["headers"]
    )

    assert found == service


def test_response_timestamps_become_datetimes() -> None:
    model = _model("personalize", "DescribeSchema")
    document = {"schema": {"name": "s", "creationDateTime": 1709618828.5}}

    parsed = _parse(
        model, wire.encode_response("personalize", "DescribeSchema", document)
    )

    created = parsed["schema"]["creationDateTime"]
    assert created == dt.datetime(2024, 3, 5, 6, 7, 8, 500000, tzinfo=dt.UTC)


def test_datetimes_in_a_result_are_sent_as_epoch_seconds() -> None:
    document = {"schema": {"name": "s", "creationDateTime": WHEN}}

    response = wire.encode_response("personalize", "DescribeSchema", document)

    assert json.loads(response.body)["schema"]["creationDateTime"] == WHEN.timestamp()


def test_a_result_that_is_not_json_is_refused() -> None:
    with pytest.raises(TypeError, match="set is not a JSON wire value"):
        wire.encode_response("personalize", "DescribeSchema", {"schema": {1, 2}})


def test_json_protocol_errors_carry_type_and_message_in_the_body() -> None:
    response = wire.encode_error("personalize", ResourceNotFound("No schema arn:x."))

    assert response.status == 400
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert json.loads(response.body) == {
        "__type": "ResourceNotFoundException",
        "message": "No schema arn:x.",
    }


@pytest.mark.parametrize(
    ("service", "error", "status"),
    [
        ("personalize-runtime", ResourceNotFound("No campaign arn:c."), 404),
        ("personalize-runtime", InvalidInput("userId is required."), 400),
        ("personalize-events", ResourceInUse("Tracker is being deleted."), 409),
    ],
    ids=["runtime-not-found", "runtime-invalid", "events-in-use"],
)
def test_rest_json_errors_use_the_modelled_status_and_error_type_header(
    service: str, error: ResourceNotFound, status: int
) -> None:
    response = wire.encode_error(service, error)
    model = _model(service, wire.codec(service).model.operation_names[0])

    parsed = create_parser("rest-json").parse(
        {
            "status_code": response.status,
            "headers": HeadersDict(response.headers),
            "body": response.body,
        },
        model.output_shape,  # type: ignore[arg-type]
    )

    assert response.status == status
    assert response.headers["x-amzn-ErrorType"] == error.code
    assert parsed["Error"] == {"Code": error.code, "Message": error.message}


def test_transport_errors_keep_their_own_status() -> None:
    error = WireError("MissingAuthenticationTokenException", "Missing token", 403)

    response = wire.encode_error("personalize", error)

    assert response.status == 403
    assert json.loads(response.body)["__type"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    ("method", "headers", "body", "code"),
    [
        ("POST", {}, b"{}", "UnknownOperationException"),
        ("GET", {"X-Amz-Target": "AmazonPersonalize.ListSchemas"}, b"", "Unknown"),
        ("POST", {"X-Amz-Target": "AmazonPersonalize.NoSuchThing"}, b"{}", "Unknown"),
        ("POST", {"X-Amz-Target": "OtherService.ListSchemas"}, b"{}", "Unknown"),
        ("POST", {"X-Amz-Target": "AmazonPersonalize.ListSchemas"}, b"{", "Serial"),
        ("POST", {"X-Amz-Target": "AmazonPersonalize.ListSchemas"}, b"[]", "Serial"),
        ("POST", {"X-Amz-Target": "AmazonPersonalize.ListSchemas"}, b"\xff", "Serial"),
    ],
    ids=[
        "no-target",
        "not-post",
        "unknown-op",
        "other-prefix",
        "broken-json",
        "json-array",
        "not-utf8",
    ],
)
def test_bad_json_protocol_requests_raise_wire_errors(
    method: str, headers: dict[str, str], body: bytes, code: str
) -> None:
    with pytest.raises(WireError) as raised:
        wire.decode_request("personalize", method, "/", headers, body)

    assert raised.value.code.startswith(code)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/no-such-route"), ("GET", "/recommendations"), ("POST", "/events")],
    ids=["unknown-path", "wrong-method", "other-service"],
)
def test_unknown_rest_json_routes_are_404(method: str, path: str) -> None:
    with pytest.raises(WireError) as raised:
        wire.decode_request("personalize-runtime", method, path, {}, b"{}")

    assert (raised.value.code, raised.value.status) == (
        "UnknownOperationException",
        404,
    )
    assert path in raised.value.message


def test_resolve_service_rejects_unknown_targets_and_paths() -> None:
    with pytest.raises(WireError, match=r"AmazonS3\.GetObject"):
        wire.resolve_service("POST", "/", {"X-Amz-Target": "AmazonS3.GetObject"})
    with pytest.raises(WireError, match="POST /nowhere") as raised:
        wire.resolve_service("POST", "/nowhere?x=1", {})
    assert raised.value.status == 404


def test_encoding_an_unknown_operation_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="personalize has no operation 'Nope'"):
        wire.encode_response("personalize", "Nope", {})


def test_unknown_service_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no service named 'personalise'"):
        wire.codec("personalise")


class _Engine:
    def __init__(self, outcome: Exception | dict[str, Any]) -> None:
        self.outcome = outcome

    def call(
        self, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_call_engine_encodes_results_and_modelled_errors() -> None:
    ok = wire.call_engine(_Engine({"schemas": []}), "personalize", "ListSchemas", {})
    failed = wire.call_engine(
        _Engine(ResourceNotFound("No dataset group arn:g.")),
        "personalize",
        "DescribeDatasetGroup",
        {"datasetGroupArn": "arn:g"},
    )

    assert (ok.status, json.loads(ok.body)) == (200, {"schemas": []})
    assert failed.status == 400
    assert json.loads(failed.body)["message"] == "No dataset group arn:g."


def test_call_engine_names_the_operation_the_engine_lacks() -> None:
    response = wire.call_engine(
        _Engine(NotImplementedError()), "personalize", "CreateRecommender", {}
    )

    assert response.status == 501
    assert json.loads(response.body) == {
        "__type": "NotImplementedException",
        "message": "The local Personalize engine does not implement CreateRecommender.",
    }


def test_call_engine_lets_engine_faults_through() -> None:
    with pytest.raises(ZeroDivisionError):
        wire.call_engine(_Engine(ZeroDivisionError()), "personalize", "ListSchemas", {})


# A made-up rest-json service using the URI, query and header bindings Personalize
# does not use today, so a botocore model update that adds them is already handled.
_SYNTHETIC = {
    "metadata": {
        "protocol": "rest-json",
        "serviceId": "Synthetic",
        "endpointPrefix": "synthetic",
        "signatureVersion": "v4",
        "apiVersion": "2024-01-01",
    },
    "operations": {
        "GetThing": {
            "name": "GetThing",
            "http": {"method": "GET", "requestUri": "/things/{thingId}"},
            "input": {"shape": "GetThingRequest"},
            "output": {"shape": "GetThingResponse"},
        },
        "GetFile": {
            "name": "GetFile",
            "http": {"method": "GET", "requestUri": "/files/{path+}?download"},
            "input": {"shape": "GetFileRequest"},
        },
        "GetLatest": {
            "name": "GetLatest",
            "http": {"method": "GET", "requestUri": "/things/latest"},
        },
    },
    "shapes": {
        "GetThingRequest": {
            "type": "structure",
            "required": ["thingId"],
            "members": {
                "thingId": {
                    "shape": "String",
                    "location": "uri",
                    "locationName": "thingId",
                },
                "limit": {
                    "shape": "Integer",
                    "location": "querystring",
                    "locationName": "max",
                },
                "tags": {
                    "shape": "StringList",
                    "location": "querystring",
                    "locationName": "tag",
                },
                "since": {
                    "shape": "Timestamp",
                    "location": "header",
                    "locationName": "X-Since",
                },
                "verbose": {
                    "shape": "Boolean",
                    "location": "header",
                    "locationName": "X-Verbose",
                },
            },
        },
        "GetThingResponse": {
            "type": "structure",
            "members": {
                "name": {"shape": "String"},
                "updated": {
                    "shape": "Timestamp",
                    "location": "header",
                    "locationName": "X-Updated",
                },
                "code": {"shape": "Integer", "location": "statusCode"},
            },
        },
        "GetFileRequest": {
            "type": "structure",
            "required": ["path"],
            "members": {
                "path": {"shape": "String", "location": "uri", "locationName": "path"}
            },
        },
        "String": {"type": "string"},
        "Integer": {"type": "integer"},
        "Boolean": {"type": "boolean"},
        "Timestamp": {"type": "timestamp"},
        "StringList": {"type": "list", "member": {"shape": "String"}},
    },
}


@pytest.fixture(scope="module")
def synthetic() -> ServiceCodec:
    return ServiceCodec(ServiceModel(_SYNTHETIC, service_name="synthetic"))


def test_uri_query_and_header_members_become_typed_params(
    synthetic: ServiceCodec,
) -> None:
    model = synthetic.model.operation_model("GetThing")
    params = {"thingId": "a b", "limit": 5, "tags": ["x", "y"], "since": WHEN}
    params["verbose"] = False
    request = _serialize(model, params)

    operation, decoded = synthetic.decode_request(
        "GET", _target(request), request["headers"], request["body"]
    )

    assert operation == "GetThing"
    assert decoded == {
        "thingId": "a b",
        "limit": 5,
        "tags": ["x", "y"],
        "since": WHEN.timestamp(),
        "verbose": False,
    }


def test_literal_routes_win_and_greedy_labels_span_slashes(
    synthetic: ServiceCodec,
) -> None:
    assert synthetic.decode_request("GET", "/things/latest", {}, b"")[0] == "GetLatest"
    assert synthetic.decode_request("GET", "/files/a/b.csv?download", {}, b"") == (
        "GetFile",
        {"path": "a/b.csv"},
    )
    with pytest.raises(WireError):
        synthetic.decode_request("GET", "/files/a/b.csv", {}, b"")


def test_unreadable_typed_values_are_serialization_errors(
    synthetic: ServiceCodec,
) -> None:
    expected = "query value 'many' is not a valid integer"
    with pytest.raises(WireError, match=expected) as raised:
        synthetic.decode_request("GET", "/things/t1?max=many", {}, b"")
    assert raised.value.code == "SerializationException"


def test_header_and_status_members_are_sent_outside_the_body(
    synthetic: ServiceCodec,
) -> None:
    model = synthetic.model.operation_model("GetThing")
    result = {"name": "thing", "updated": WHEN.timestamp(), "code": 202}

    response = synthetic.encode_response("GetThing", result)

    assert response.status == 202
    assert json.loads(response.body) == {"name": "thing"}
    assert _parse(model, response) == {"name": "thing", "updated": WHEN, "code": 202}


def test_only_json_protocols_are_supported() -> None:
    query = dict(_SYNTHETIC, metadata={**_SYNTHETIC["metadata"], "protocol": "query"})

    with pytest.raises(ValueError, match="uses the query protocol"):
        ServiceCodec(ServiceModel(query, service_name="synthetic"))
