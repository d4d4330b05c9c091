"""The one place where botocore exceptions become airctx exceptions.

Every AWS (or local engine) call below the CLI runs inside :func:`translate_errors`.
Modelled service errors are recognised by their error code, never by message text,
and the botocore original is kept as ``__cause__`` so ``--debug`` can still show it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from airctx.errors import AirctxError, ResourceConflict, ResourceError, SetupError

logger = logging.getLogger(__name__)

# The header the local engine sends with its errors (airctx.engine.wire.ENGINE_HEADER;
# botocore lowercases header names). Named here so this layer imports no engine code.
ENGINE_HEADER = "x-airctx-engine"

CREDENTIALS_HELP = (
    "configure credentials with 'aws configure' (or 'aws sso login' for an SSO "
    "profile), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --profile NAME "
    "(for `airctx serve` started without keys, any values will do)"
)
REGION_HELP = (
    "pass --region (or set 'region' in the configuration file), set AWS_REGION, or "
    "run 'aws configure set region REGION' for your profile"
)

# Codes by meaning. S3 and IAM name the same situations differently from
# Personalize, and HeadBucket/HeadObject answer with a bare HTTP status code.
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchBucketPolicy",
        "NotFound",
        "404",
    }
)
IN_USE_CODES = frozenset({"ResourceInUseException", "DeleteConflict"})
ALREADY_EXISTS_CODES = frozenset(
    {
        "ResourceAlreadyExistsException",
        "EntityAlreadyExists",
        "BucketAlreadyExists",
    }
)
INVALID_INPUT_CODES = frozenset(
    {
        "InvalidInputException",
        "ValidationException",
        "ValidationError",
        "MalformedPolicyDocument",
        "InvalidParameterValue",
        "InvalidRequest",
        "InvalidBucketName",
        "InvalidNextTokenException",
        "TooManyTagKeysException",
    }
)
LIMIT_CODES = frozenset(
    {
        "LimitExceededException",
        "LimitExceeded",
        "TooManyBuckets",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "SlowDown",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AllAccessDisabled",
        "403",
    }
)
BAD_CREDENTIALS_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "AuthFailure",
    }
)


def error_code(exc: BaseException) -> str | None:
    """The modelled error code of a botocore ``ClientError``, else ``None``."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` says the resource asked for does not exist."""
    return error_code(exc) in NOT_FOUND_CODES


@contextmanager
def translate_errors(resource: str | None = None) -> Iterator[None]:
    """Run a block of AWS calls, turning botocore errors into airctx errors.

    ``resource`` names what the calls act on (an ARN, ``s3://bucket``, a role name)
    so the message can say which resource the service complained about. airctx's own
    exceptions pass through untouched.
    """
    try:
        yield
    except AirctxError:
        raise
    except ClientError as exc:
        raise client_error(exc, resource) from exc
    except BotoCoreError as exc:
        raise setup_error(exc, resource) from exc


def client_error(exc: ClientError, resource: str | None = None) -> AirctxError:
    """The airctx exception for one modelled service error."""
    code = error_code(exc) or "Unknown"
    who = _answered_by(exc)
    said = _said(exc, who, code)
    what = resource or _operation_target(exc)
    logger.debug("%s failed with %s on %s", exc.operation_name, code, what)

    if code in NOT_FOUND_CODES:
        return ResourceError(
            f"{what} not found ({said}); check the name, account and region, or run "
            "the step that creates it first"
        )
    if code in IN_USE_CODES:
        return ResourceError(
            f"{what} is in use or not in a state that allows {exc.operation_name} "
            f"({said}); wait for pending work on it to finish, or delete what depends "
            "on it first"
        )
    if code in ALREADY_EXISTS_CODES:
        return ResourceConflict(
            f"{what} already exists ({said}); reuse it, delete it, or choose another "
            "name"
        )
    if code in INVALID_INPUT_CODES:
        return ResourceError(
            f"{what}: the request was rejected as invalid ({said}); fix the value "
            f"{who} names and run the step again"
        )
    if code in LIMIT_CODES:
        return ResourceError(
            f"{what}: a service limit was reached ({said}); wait for pending resources "
            "to finish, delete unused ones"
            + (", or ask AWS for a higher quota" if who == "AWS" else "")
        )
    if code in ACCESS_DENIED_CODES:
        return SetupError(
            f"{what}: access denied for {exc.operation_name} ({said}); grant the "
            "calling identity this permission, or use another --profile"
        )
    if code in BAD_CREDENTIALS_CODES:
        return SetupError(
            f"{what}: the AWS credentials were rejected ({said}); they are expired or "
            f"invalid: {CREDENTIALS_HELP}"
        )
    return ResourceError(f"{what}: {exc.operation_name} failed ({said})")


def setup_error(exc: BotoCoreError, resource: str | None = None) -> AirctxError:
    """The airctx exception for a client-side botocore failure (no request answered)."""
    where = f"{resource}: " if resource else ""
    if isinstance(exc, ProfileNotFound):
        profile = exc.kwargs.get("profile", "?")
        return SetupError(
            f"{where}AWS profile {profile!r} is not configured; create it with "
            f"'aws configure --profile {profile}', or pass another --profile"
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return SetupError(
            f"{where}no usable AWS credentials were found; {CREDENTIALS_HELP}"
        )
    if isinstance(exc, SSOError | TokenRetrievalError | CredentialRetrievalError):
        return SetupError(
            f"{where}the AWS credentials could not be loaded ({exc}); "
            f"{CREDENTIALS_HELP}"
        )
    if isinstance(exc, NoRegionError):
        return SetupError(f"{where}no AWS region is set; {REGION_HELP}")
    if isinstance(exc, ConnectionError):
        return SetupError(
            f"{where}cannot reach the service ({exc}); check the network and the "
            "region, and if an endpoint URL is configured (aws.endpoint_url or "
            "--endpoint-url) that 'airctx serve' is running there"
        )
    return SetupError(f"{where}the AWS SDK failed before a request was answered: {exc}")


def _answered_by(exc: ClientError) -> str:
    """Who gave the error: the local engine marks its answers with a header
    (``airctx.engine.wire.ENGINE_HEADER``), in-process and through `airctx serve`."""
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return "the local engine" if headers.get(ENGINE_HEADER) else "AWS"


def _said(exc: ClientError, who: str, code: str) -> str:
    message = exc.response.get("Error", {}).get("Message")
    return f"{who} said {code}: {message}" if message else f"{who} said {code}"


def _operation_target(exc: ClientError) -> str:
    return f"the resource of {exc.operation_name}"
