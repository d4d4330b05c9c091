"""Answer a boto3 client's calls from the local engine, inside this process.

botocore emits ``before-call.<service>.<Operation>`` after it has validated and
serialized the parameters; a handler that returns ``(http_response, parsed)`` there
replaces the HTTP round trip. The handler below decodes the serialized request with
the same codec as the HTTP server, asks the engine, encodes the answer as bytes and
hands them to botocore's own parser, so callers see exactly what they would see over
HTTP: datetimes for timestamps, and modelled exception classes for errors.

No request is signed, so no credentials are needed; the client still needs a region
because botocore resolves its endpoint before emitting the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders
from botocore.endpoint import convert_to_response_dict
from botocore.model import OperationModel, Shape
from botocore.parsers import create_parser

from airctx.engine.api import EngineAPI
from airctx.engine.wire import WireError, call_engine, decode_request, encode_error

logger = logging.getLogger(__name__)

_HANDLER_ID = "airctx-local-engine"


class _BodyStream:
    """The raw body of an in-memory response, in the shape AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class _Responder:
    """The ``before-call`` handler bound to one engine and one service."""

    def __init__(self, engine: EngineAPI, service: str) -> None:
        self._engine = engine
        self._service = service

    def __call__(
        self, model: OperationModel, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]]:
        url = params["url"]
        split = urlsplit(url)
        target = f"{split.path}?{split.query}" if split.query else split.path
        body = params.get("body") or b""
        if isinstance(body, str):
            body = body.encode("utf-8")

        try:
            operation, wire_params = decode_request(
                self._service, params["method"], target, params["headers"], body
            )
        except WireError as exc:
            response = encode_error(self._service, exc)
        else:
            if operation != model.name:
                raise RuntimeError(
                    f"{model.name} was serialized as a request for {operation}"
                )
            logger.debug("in-process call %s.%s", self._service, operation)
            response = call_engine(self._engine, self._service, operation, wire_params)

        headers = HTTPHeaders()
        for name, value in response.headers.items():
            headers[name] = value
        http = AWSResponse(url, response.status, headers, _BodyStream(response.body))
        return http, _parse(model, http)


def _parse(model: OperationModel, http: AWSResponse) -> dict[str, Any]:
    """Parse a response as botocore's endpoint would, modelled error fields included."""
    service_model = model.service_model
    parser = create_parser(service_model.resolved_protocol)
    response_dict = convert_to_response_dict(http, model)
    # Operations without output have no shape; the parser accepts None for that.
    output_shape = cast(Shape, model.output_shape)
    parsed: dict[str, Any] = parser.parse(response_dict, output_shape)
    if http.status_code >= 300:
        code = parsed.get("Error", {}).get("Code")
        error_shape = service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(parser.parse(response_dict, error_shape))
    return parsed


def attach(client: BaseClient, engine: EngineAPI) -> None:
    """Route every call of ``client`` to ``engine`` instead of the network.

    Attaching again replaces the previous engine. Only this client is affected:
    botocore gives each client its own copy of the event system.
    """
    service_model = client.meta.service_model
    event = f"before-call.{service_model.service_id.hyphenize()}"
    unique_id = f"{_HANDLER_ID}-{service_model.service_name}"
    client.meta.events.unregister(event, unique_id=unique_id)
    # The stubs type handlers as returning None; before-call handlers may answer.
    handler = cast(Callable[..., None], _Responder(engine, service_model.service_name))
    client.meta.events.register(event, handler, unique_id=unique_id)
    logger.debug("%s client answered by the local engine", service_model.service_name)
