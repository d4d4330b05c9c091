"""Checking AWS Signature Version 4 on requests to the local engine's HTTP server.

The signature is recomputed with botocore's own signer, from the method, path,
query, signed headers and body as received, and the ``X-Amz-Date`` the client
signed with; it is compared in constant time. Failures raise :class:`WireError`
with the codes and messages AWS answers with, so SDKs report them as they would
against AWS. Only the ``Authorization`` header form is accepted (no presigned URLs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from airctx.engine.wire import WireError

logger = logging.getLogger(__name__)

ALGORITHM = "AWS4-HMAC-SHA256"
#: How far a request's X-Amz-Date may be from the server's clock, as AWS allows.
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)

_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_MISMATCH = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult the "
    "service documentation for details."
)


class SignedBy(NamedTuple):
    """Who signed a verified request, and for which signing name."""

    access_key: str
    service: str


class _Authorization(NamedTuple):
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key: str
    date: str
    region: str
    service: str
    signed_names: list[str]
    signature: str


class _SignedHeadersOnly(SigV4Auth):
    """botocore's signer, restricted to the headers the client says it signed."""

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name, value in request.headers.items():
            headers[name.lower()] = value
        return headers


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _incomplete(message: str) -> WireError:
    return WireError("IncompleteSignatureException", message, 400)


def _invalid(message: str) -> WireError:
    return WireError("InvalidSignatureException", message, 403)


class SigV4Verifier:
    """Verifies requests signed with one of a fixed set of access keys."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        region: str,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        if not credentials:
            raise ValueError("at least one access key id -> secret key is needed")
        self._secrets = dict(credentials)
        self._region = region
        self._clock = clock

    def verify(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> SignedBy:
        """Check the request's signature; raise :class:`WireError` when it fails."""
        lowered = {name.lower(): value for name, value in headers.items()}
        authorization = lowered.get("authorization", "").strip()
        if not authorization:
            raise WireError(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
                403,
            )
        auth = _parse(authorization)
        secret = self._secrets.get(auth.access_key)
        if secret is None:
            raise WireError(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                403,
            )
        amz_date = self._check_date(lowered, auth.date)
        if auth.region != self._region:
            raise _invalid(
                f"Credential should be scoped to a valid region, not '{auth.region}'. "
                f"This server answers for '{self._region}'."
            )
        missing = [name for name in auth.signed_names if name not in lowered]
        if "host" not in auth.signed_names or missing:
            raise _invalid(
                "The signed headers must include 'host' and be present in the "
                f"request; missing: {', '.join(missing) or 'host'}."
            )
        declared_hash = lowered.get("x-amz-content-sha256")
        if declared_hash is not None and declared_hash != _sha256(body):
            raise _invalid(
                "The x-amz-content-sha256 header does not match the request body."
            )

        expected = _signature(method, target, lowered, body, amz_date, auth, secret)
        if not hmac.compare_digest(expected, auth.signature):
            logger.debug("signature mismatch for access key %s", auth.access_key)
            raise _invalid(_MISMATCH)
        return SignedBy(auth.access_key, auth.service)

    def _check_date(self, headers: Mapping[str, str], scope_date: str) -> str:
        amz_date = headers.get("x-amz-date")
        if amz_date is None:
            raise _incomplete(
                "Authorization header requires existence of a 'X-Amz-Date' header."
            )
        try:
            signed_at = dt.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=dt.UTC)
        except ValueError as exc:
            raise _incomplete(
                f"X-Amz-Date {amz_date!r} is not of the form YYYYMMDDTHHMMSSZ."
            ) from exc
        if scope_date != amz_date[:8]:
            raise _invalid(
                f"Date in Credential scope ({scope_date}) does not match YYYYMMDD "
                f"from X-Amz-Date ({amz_date[:8]})."
            )
        now = self._clock()
        if signed_at < now - MAX_CLOCK_SKEW:
            raise _invalid(
                f"Signature expired: {amz_date} is now earlier than "
                f"{(now - MAX_CLOCK_SKEW).strftime(_AMZ_DATE)} "
                f"({now.strftime(_AMZ_DATE)} - 15 min.)"
            )
        if signed_at > now + MAX_CLOCK_SKEW:
            raise _invalid(
                f"Signature not yet current: {amz_date} is still later than "
                f"{(now + MAX_CLOCK_SKEW).strftime(_AMZ_DATE)} "
                f"({now.strftime(_AMZ_DATE)} + 15 min.)"
            )
        return amz_date


def _signature(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    amz_date: str,
    auth: _Authorization,
    secret: str,
) -> str:
    """Recompute the signature the client should have sent."""
    split = urlsplit(target)
    request = AWSRequest(
        method=method.upper(),
        # Only path and query take part in the signature; the host is a header.
        url=f"http://localhost{split.path or '/'}",
        headers={name: headers[name] for name in auth.signed_names},
        data=body,
        # botocore's signer takes pairs too, which keeps repeated query keys.
        params=cast(Any, parse_qsl(split.query, keep_blank_values=True)),
    )
    request.context["timestamp"] = amz_date
    credentials = Credentials(auth.access_key, secret)
    signer = _SignedHeadersOnly(credentials, auth.service, auth.region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _parse(authorization: str) -> _Authorization:
    """Split an Authorization header into its parts, or explain what is missing."""
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(
            f"Unsupported authorization type {algorithm!r}; sign with {ALGORITHM}."
        )
    fields = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    try:
        credential = fields["Credential"]
        signed_headers = fields["SignedHeaders"]
        signature = fields["Signature"]
    except KeyError as exc:
        raise _incomplete(
            f"Authorization header requires '{exc.args[0]}' parameter."
        ) from exc
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete(
            "Credential must have the form "
            "<access key>/<YYYYMMDD>/<region>/<service>/aws4_request."
        )
    signed_names = [name.strip().lower() for name in signed_headers.split(";")]
    access_key, date, region, service, _ = scope
    return _Authorization(access_key, date, region, service, signed_names, signature)
