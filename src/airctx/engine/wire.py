"""The wire formats of the Personalize services, read from botocore's own models.

``personalize`` speaks the ``json`` protocol (``POST /`` with ``X-Amz-Target:
AmazonPersonalize.<Operation>``); ``personalize-runtime`` and ``personalize-events``
speak ``rest-json`` (one HTTP method and URI per operation). Both transports, the
in-process hook and the HTTP server, go through the functions here, so a response
reaches botocore's parser with the same bytes either way.

The engine sees and returns the JSON documents of the protocol: request bodies as
botocore serialized them (timestamps as epoch seconds), plus, for ``rest-json``,
the members botocore carries in the URI, query string or headers, converted back to
their JSON types under their member names.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from functools import cache
from typing import Any, NamedTuple, SupportsFloat
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp

from airctx.engine.api import SERVICES, EngineAPI
from airctx.engine.errors import EngineError

logger = logging.getLogger(__name__)

_PROTOCOLS = ("json", "rest-json")


# Sent with every error the engine answers; airctx.aws.errors reads it.
ENGINE_HEADER = "x-airctx-engine"


class WireError(Exception):
    """A request the transport answers with an error of its own, not the engine's."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class WireResponse(NamedTuple):
    """An HTTP response as status, headers and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Route:
    """How one ``rest-json`` operation is recognised from its method and URI."""

    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    labels: dict[str, str]  # regex group name -> input member name
    required_query: tuple[str, ...]
    literal_length: int

    def matches(self, method: str, path: str, query: Mapping[str, Any]) -> bool:
        return (
            method == self.method
            and self.pattern.fullmatch(path) is not None
            and all(key in query for key in self.required_query)
        )


def _compile_route(operation: OperationModel) -> _Route:
    path, _, literal_query = operation.http["requestUri"].partition("?")
    label_members: dict[str, str] = {}
    if operation.input_shape is not None:
        for name, member in operation.input_shape.members.items():
            if member.serialization.get("location") == "uri":
                label_members[member.serialization.get("name", name)] = name

    # requestUri alternates literal text and {Label} / {Label+} (greedy) parts.
    regex, labels, literal_length = "", {}, 0
    for index, part in enumerate(re.split(r"\{([^}]+)\}", path)):
        if index % 2 == 0:
            regex += re.escape(part)
            literal_length += len(part)
            continue
        group = f"label{index}"
        greedy = part.endswith("+")
        regex += f"(?P<{group}>{'.+' if greedy else '[^/]+'})"
        labels[group] = label_members.get(part.rstrip("+"), part.rstrip("+"))
    return _Route(
        operation=operation,
        method=operation.http.get("method", "POST").upper(),
        pattern=re.compile(regex),
        labels=labels,
        required_query=tuple(
            key for key, _ in parse_qsl(literal_query, keep_blank_values=True)
        ),
        literal_length=literal_length,
    )


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _jsonable(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not a JSON wire value")


def _dumps(document: object) -> bytes:
    text = json.dumps(
        document, default=_jsonable, separators=(",", ":"), allow_nan=False
    )
    return text.encode("utf-8")


def _loads_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(
            "SerializationException", f"The request body is not valid JSON: {exc}", 400
        ) from exc
    if not isinstance(document, dict):
        raise WireError(
            "SerializationException", "The request body must be a JSON object.", 400
        )
    return document


def _from_text(shape: Shape, text: str, where: str) -> object:
    """Convert a URI, query or header string to the JSON value of its shape."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind == "timestamp":
            return parse_timestamp(text).timestamp()
    except (ValueError, OverflowError) as exc:
        raise WireError(
            "SerializationException",
            f"The {where} value {text!r} is not a valid {kind}.",
            400,
        ) from exc
    return text


def _to_text(shape: Shape, value: object) -> str:
    """Render a JSON value as a response header, the way botocore reads it back."""
    if shape.type_name == "timestamp":
        if isinstance(value, dt.datetime):
            value = _jsonable(value)
        if not isinstance(value, SupportsFloat | str):
            raise TypeError(f"{type(value).__name__} is not a timestamp")
        return formatdate(float(value), usegmt=True)
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


class ServiceCodec:
    """Decodes requests and encodes responses of one service, from botocore's model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self.name: str = model.service_name
        self.protocol: str = model.resolved_protocol
        if self.protocol not in _PROTOCOLS:
            raise ValueError(
                f"{self.name} uses the {self.protocol} protocol; the local engine's "
                f"transports speak only {', '.join(_PROTOCOLS)}"
            )
        self.target_prefix: str = model.metadata.get("targetPrefix", "")
        json_version = model.metadata.get("jsonVersion", "1.0")
        self._content_type = (
            f"application/x-amz-json-{json_version}"
            if self.protocol == "json"
            else "application/json"
        )
        self._error_shapes = {shape.name: shape for shape in model.error_shapes}
        routes = []
        if self.protocol == "rest-json":
            routes = [
                _compile_route(model.operation_model(name))
                for name in model.operation_names
            ]
        # The most literal URI wins when a labelled one would also match.
        self._routes = sorted(routes, key=lambda route: -route.literal_length)

    def has_route(self, method: str, target: str) -> bool:
        """Whether a ``rest-json`` operation of this service answers the request."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        path = split.path or "/"
        return any(route.matches(method.upper(), path, query) for route in self._routes)

    def decode_request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, dict[str, Any]]:
        """Return the operation name and its JSON parameters.

        ``target`` is the request target as on the HTTP request line: path and
        optional query string. Raises :class:`WireError` for a request no operation
        answers or whose body cannot be read.
        """
        lowered = _lower_keys(headers)
        if self.protocol == "json":
            operation = self._json_operation(method, lowered)
            return operation, _loads_object(body)

        split = urlsplit(target)
        path = split.path or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        for route in self._routes:
            if route.matches(method.upper(), path, query):
                match = route.pattern.fullmatch(path)
                break
        else:
            raise WireError(
                "UnknownOperationException",
                f"No {self.name} operation answers {method.upper()} {path}.",
                404,
            )
        labels = {
            route.labels[group]: unquote(value)
            for group, value in (match.groupdict() if match else {}).items()
        }
        params = self._rest_params(route.operation, labels, query, lowered, body)
        return route.operation.name, params

    def _json_operation(self, method: str, headers: Mapping[str, str]) -> str:
        target = headers.get("x-amz-target")
        if method.upper() != "POST" or target is None:
            raise WireError(
                "UnknownOperationException",
                f"The {self.name} API takes POST requests with an X-Amz-Target "
                f"header of the form {self.target_prefix}.<Operation>.",
                400,
            )
        prefix, _, operation = target.partition(".")
        if prefix != self.target_prefix or operation not in self.model.operation_names:
            raise WireError(
                "UnknownOperationException",
                f"{self.name} has no operation {target!r}.",
                400,
            )
        return operation

    def _rest_params(
        self,
        operation: OperationModel,
        labels: Mapping[str, str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        payload = shape.serialization.get("payload")
        params: dict[str, Any]
        if payload is None:
            params = _loads_object(body)
        elif shape.members[payload].type_name == "structure":
            params = {payload: _loads_object(body)} if body else {}
        elif shape.members[payload].type_name == "blob":
            params = {payload: base64.b64encode(body).decode("ascii")} if body else {}
        else:
            params = {payload: body.decode("utf-8")} if body else {}

        claimed = {
            member.serialization.get("name", name)
            for name, member in shape.members.items()
            if member.serialization.get("location") == "querystring"
            and member.type_name != "map"
        }
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire_name = member.serialization.get("name", name)
            if location == "uri" and name in labels:
                params[name] = _from_text(member, labels[name], "URI")
            elif location == "querystring":
                value = self._query_value(member, wire_name, query, claimed)
                if value is not None:
                    params[name] = value
            elif location == "header" and wire_name.lower() in headers:
                text = headers[wire_name.lower()]
                if isinstance(member, ListShape):
                    params[name] = [
                        _from_text(member.member, item.strip(), "header")
                        for item in text.split(",")
                    ]
                else:
                    params[name] = _from_text(member, text, "header")
            elif location == "headers":
                prefix = wire_name.lower()
                found = {
                    key[len(prefix) :]: value
                    for key, value in headers.items()
                    if key.startswith(prefix)
                }
                if found:
                    params[name] = found
        return params

    @staticmethod
    def _query_value(
        member: Shape, wire_name: str, query: Mapping[str, list[str]], claimed: set[str]
    ) -> object:
        if isinstance(member, MapShape):
            rest = {key: values for key, values in query.items() if key not in claimed}
            if not rest:
                return None
            if member.value.type_name == "list":
                return rest
            return {key: values[0] for key, values in rest.items()}
        if wire_name not in query:
            return None
        if isinstance(member, ListShape):
            return [_from_text(member.member, v, "query") for v in query[wire_name]]
        return _from_text(member, query[wire_name][0], "query")

    def encode_response(
        self, operation: str, result: Mapping[str, Any]
    ) -> WireResponse:
        """Encode an operation's JSON result as the service would send it."""
        model = self._operation(operation)
        if self.protocol == "json":
            return self._response(200, {}, _dumps(dict(result)))

        status = int(model.http.get("responseCode", 200))
        headers: dict[str, str] = {}
        document = dict(result)
        shape = model.output_shape
        if shape is None:
            return self._response(status, headers, _dumps(document))
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if location is None or name not in document:
                continue
            value = document.pop(name)
            wire_name = member.serialization.get("name", name)
            if location == "statusCode":
                status = int(value)
            elif location == "header":
                headers[wire_name] = _to_text(member, value)
            elif location == "headers":
                for key, item in value.items():
                    headers[f"{wire_name}{key}"] = str(item)
        payload = shape.serialization.get("payload")
        if payload is None:
            return self._response(status, headers, _dumps(document))
        value = document.get(payload)
        kind = shape.members[payload].type_name
        if kind == "structure":
            body = _dumps(value if value is not None else {})
        elif value is None:
            body = b""
        elif kind == "blob":
            body = base64.b64decode(value)
        else:
            body = str(value).encode("utf-8")
        return self._response(status, headers, body)

    def encode_error(self, error: EngineError | WireError) -> WireResponse:
        """Encode an error the way botocore's parser for this protocol reads it.

        The status is the one the service model declares for the error code; a
        modelled error without one is a client fault, which these protocols send as
        400. Errors the model does not know (transport errors) keep their own status.
        """
        status = self._error_status(error)
        # Marks who answered, so messages do not attribute the error to AWS.
        headers = {ENGINE_HEADER: "local"}
        if self.protocol == "json":
            document = {"__type": error.code, "message": error.message}
            return self._response(status, headers, _dumps(document))
        headers["x-amzn-ErrorType"] = error.code
        return self._response(status, headers, _dumps({"message": error.message}))

    def _error_status(self, error: EngineError | WireError) -> int:
        shape = self._error_shapes.get(error.code)
        if shape is None:
            return int(error.status)
        declared = shape.metadata.get("error", {}).get("httpStatusCode")
        if declared is not None:
            return int(declared)
        return 500 if shape.metadata.get("fault") else 400

    def _operation(self, operation: str) -> OperationModel:
        if operation not in self.model.operation_names:
            raise ValueError(f"{self.name} has no operation {operation!r}")
        return self.model.operation_model(operation)

    def _response(
        self, status: int, headers: dict[str, str], body: bytes
    ) -> WireResponse:
        headers.setdefault("Content-Type", self._content_type)
        headers["Content-Length"] = str(len(body))
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return WireResponse(status, headers, body)


@cache
def codec(service: str) -> ServiceCodec:
    """The codec for a botocore service name, built once from botocore's model."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError as exc:
        raise ValueError(f"botocore has no service named {service!r}") from exc
    return ServiceCodec(model)


def decode_request(
    service: str, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> tuple[str, dict[str, Any]]:
    """Return ``(operation, params)`` for an HTTP request to ``service``."""
    return codec(service).decode_request(method, path, headers, body)


def encode_response(
    service: str, operation: str, result: Mapping[str, Any]
) -> WireResponse:
    """Encode an operation's JSON result as ``(status, headers, body)``."""
    return codec(service).encode_response(operation, result)


def encode_error(service: str, error: EngineError | WireError) -> WireResponse:
    """Encode a modelled or transport error as ``(status, headers, body)``."""
    return codec(service).encode_error(error)


def call_engine(
    engine: EngineAPI, service: str, operation: str, params: dict[str, Any]
) -> WireResponse:
    """Ask the engine and encode its answer, modelled errors included.

    Any other exception from the engine propagates: it is a fault of the engine,
    and the caller decides how to report it.
    """
    try:
        result = engine.call(service, operation, params)
    except EngineError as exc:
        logger.debug("%s.%s answered %s", service, operation, exc.code)
        return encode_error(service, exc)
    except NotImplementedError as exc:
        detail = f": {exc}" if str(exc) else "."
        message = f"The local Personalize engine does not implement {operation}{detail}"
        return encode_error(service, WireError("NotImplementedException", message, 501))
    return encode_response(service, operation, result)


def resolve_service(
    method: str,
    path: str,
    headers: Mapping[str, str],
    services: Iterable[str] = SERVICES,
) -> str:
    """Pick the service an HTTP request is for.

    ``json`` services are told apart by the ``X-Amz-Target`` prefix, ``rest-json``
    ones by their routes (all three Personalize services sign as ``personalize``,
    so the credential scope cannot tell them apart).
    """
    target = _lower_keys(headers).get("x-amz-target")
    codecs = [codec(name) for name in services]
    if target is not None:
        prefix = target.partition(".")[0]
        for candidate in codecs:
            if candidate.protocol == "json" and candidate.target_prefix == prefix:
                return candidate.name
        raise WireError(
            "UnknownOperationException", f"No service answers {target!r}.", 400
        )
    for candidate in codecs:
        if candidate.protocol == "rest-json" and candidate.has_route(method, path):
            return candidate.name
    raise WireError(
        "UnknownOperationException",
        f"No operation answers {method.upper()} {urlsplit(path).path}.",
        404,
    )
