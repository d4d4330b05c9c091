"""The local engine over HTTP, for any AWS SDK or the AWS CLI (``--endpoint-url``).

One port serves all three services: ``personalize`` requests carry an
``X-Amz-Target`` header, ``personalize-runtime`` and ``personalize-events`` ones are
told apart by their URIs (all three sign as ``personalize``).

Authentication rules:

- with ``credentials`` (access key id -> secret key), every request must carry a
  valid SigV4 signature by one of those keys, scoped to ``region``;
- without them, the server only binds a loopback address and accepts requests
  signed or not, without checking signatures: anyone who can reach it is already on
  this machine. Binding any other address without credentials is refused.

Each connection is served on its own thread, so ``engine.call`` may run
concurrently; the engine is responsible for its own locking.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airctx.engine.api import SERVICES, EngineAPI
from airctx.engine.sigv4 import SigV4Verifier
from airctx.engine.wire import (
    WireError,
    WireResponse,
    call_engine,
    codec,
    decode_request,
    encode_error,
    resolve_service,
)

logger = logging.getLogger(__name__)

#: The largest request body accepted. Personalize's own limits are far smaller
#: (PutEvents takes at most 10 events), so this only stops runaway clients.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not host:  # "" binds every interface
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(address).partition("%")[0]).is_loopback
        for address in addresses
    )


class Server(ThreadingHTTPServer):
    """An HTTP server answering the Personalize APIs from a local engine."""

    daemon_threads = True

    def __init__(
        self,
        engine: EngineAPI,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if credentials is None and not is_loopback(host):
            raise ValueError(
                f"Refusing to serve the local engine on {host!r} without credentials: "
                "only loopback addresses (127.0.0.1, ::1, localhost) may accept "
                "unsigned requests. Configure access keys to bind other addresses."
            )
        if credentials is not None and not credentials:
            raise ValueError(
                "credentials is empty: no request could ever be verified. Give at "
                "least one access key id and its secret key, or None on loopback."
            )
        self.engine = engine
        self.region = region
        self.max_body_bytes = max_body_bytes
        self.verifier: SigV4Verifier | None = None
        if credentials is not None:
            extra = {"clock": clock} if clock is not None else {}
            self.verifier = SigV4Verifier(credentials, region, **extra)
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        logger.info(
            "local Personalize engine listening on %s (signatures %s)",
            self.endpoint_url,
            "required" if self.verifier else "not checked",
        )

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a DNS query nobody needs.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def endpoint_url(self) -> str:
        """The URL to give SDKs as ``endpoint_url`` / ``--endpoint-url``."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Reached when a connection breaks mid-request (client gone): nothing to
        # answer, and the base class would print a traceback to stderr.
        logger.debug("connection from %s failed", client_address, exc_info=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[Server]:
        """Serve in a background thread until the block ends, then close."""
        # A short poll keeps shutdown() prompt; idle polling costs next to nothing.
        thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="airctx-engine-http",
            daemon=True,
        )
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()
            thread.join()


def make_server(
    engine: EngineAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    credentials: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Server:
    """Bind a server for ``engine``; port 0 picks a free port (see ``server_address``).

    Raises ValueError when ``host`` is not a loopback address and no credentials
    are given. Call ``serve_forever()`` or use ``with server.running(): ...``.
    """
    return Server(
        engine,
        host,
        port,
        credentials=credentials,
        region=region,
        max_body_bytes=max_body_bytes,
    )


class _Handler(BaseHTTPRequestHandler):
    """Answers one HTTP connection; every request goes through :meth:`_answer`."""

    server: Server
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections give their thread back after this many seconds.
    timeout = 60
    # Headers and body leave in separate writes; with Nagle's algorithm on, the
    # body waits for the client's delayed ACK, ~40 ms per request on keep-alive.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self._answer()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def _answer(self) -> None:
        started = time.perf_counter()
        headers = self._header_map()
        # Until the request is routed, errors are worded in the protocol its
        # headers suggest.
        service = "personalize" if "x-amz-target" in headers else SERVICES[1]
        operation = "-"
        try:
            body = self._read_body(headers)
            service, operation, response = self._dispatch(headers, body)
        except WireError as exc:
            response = encode_error(service, exc)
        except Exception:
            # The server boundary: one failing request must not take the server
            # down, and the client gets an AWS-style 500 instead of a dropped socket.
            logger.exception("%s %s failed", self.command, self.path)
            failure = WireError(
                "InternalFailure",
                "The local engine failed while answering this request; "
                "see the server log.",
                500,
            )
            response = encode_error(service, failure)
        self._send(response)
        logger.debug(
            "%s %s %s.%s -> %d (%d bytes) in %.1f ms",
            self.command,
            self.path,
            service,
            operation,
            response.status,
            len(response.body),
            (time.perf_counter() - started) * 1000,
        )

    def _dispatch(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, str, WireResponse]:
        """Verify, route, decode and answer; return service, operation, response."""
        verifier = self.server.verifier
        signed = (
            verifier.verify(self.command, self.path, headers, body)
            if verifier
            else None
        )
        service = resolve_service(self.command, self.path, headers)
        signing_name = codec(service).model.signing_name
        if signed is not None and signed.service != signing_name:
            raise WireError(
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{signing_name}'.",
                403,
            )
        operation, params = decode_request(
            service, self.command, self.path, headers, body
        )
        return (
            service,
            operation,
            call_engine(self.server.engine, service, operation, params),
        )

    def _header_map(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        return merged

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            raise WireError(
                "LengthRequiredException",
                "Chunked request bodies are not accepted; send a Content-Length.",
                411,
            )
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise WireError(
                "SerializationException", "The Content-Length header is invalid.", 400
            )
        limit = self.server.max_body_bytes
        if length > limit:
            # The unread body would be taken for the next request: drop the connection.
            self.close_connection = True
            raise WireError(
                "RequestEntityTooLargeException",
                f"The request body has {length} bytes; this server accepts at most "
                f"{limit}.",
                413,
            )
        return self.rfile.read(length)

    def _send(self, response: WireResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # _answer logs one line per request with the service and operation.
        pass

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)
