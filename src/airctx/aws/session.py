"""The only place airctx builds boto3 sessions and clients.

Profile and region resolution is boto3's own (``AWS_PROFILE``, ``AWS_REGION``,
``AWS_DEFAULT_REGION``, the shared config files); this module only adds the
explicit ``--profile``/``--region`` on top and turns a broken setup into
instructions. Nothing here runs at import time and nothing is cached globally: the
CLI's composition point calls :func:`create_session` and :func:`create_clients`
once and hands the result down.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ProfileNotFound

from airctx import __version__
from airctx.aws.errors import CREDENTIALS_HELP, REGION_HELP, translate_errors
from airctx.errors import ConfigError, SetupError

if TYPE_CHECKING:
    from botocore.config import _RetryDict
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_personalize import PersonalizeClient
    from mypy_boto3_personalize_events import PersonalizeEventsClient
    from mypy_boto3_personalize_runtime import PersonalizeRuntimeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

logger = logging.getLogger(__name__)

RetryMode = Literal["legacy", "standard", "adaptive"]
RETRY_MODES: tuple[RetryMode, ...] = ("legacy", "standard", "adaptive")
PERSONALIZE_SERVICES = ("personalize", "personalize-runtime", "personalize-events")


@dataclass
class Clients:
    """The three Personalize clients, plus S3, IAM and STS made on first use.

    All clients share one session and one botocore ``Config``. ``endpoint_url``
    applies only to the Personalize clients; ``extra_endpoint_url`` (used by tests
    that run S3/IAM/STS against a local mock) to the others.
    """

    personalize: PersonalizeClient
    runtime: PersonalizeRuntimeClient
    events: PersonalizeEventsClient
    session: boto3.Session
    config: Config
    endpoint_url: str | None = None
    extra_endpoint_url: str | None = None
    # The embedded engine answering these clients on the local backend, else None;
    # it adds what only a local run can show (training progress, baseline metrics).
    local_engine: Any = None
    _extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        """The region every client was built for."""
        return str(self.personalize.meta.region_name)

    def extra(self, service: str) -> Any:
        """A client for a non-Personalize ``service``, built once and then reused."""
        if service in PERSONALIZE_SERVICES:
            raise ValueError(f"{service} is one of the Clients fields, not an extra")
        if service not in self._extra:
            logger.debug("creating %s client in %s", service, self.region)
            with translate_errors(f"{service} client"):
                self._extra[service] = self.session.client(
                    service,  # type: ignore[call-overload]
                    region_name=self.region,
                    endpoint_url=self.extra_endpoint_url,
                    config=self.config,
                )
        return self._extra[service]

    @property
    def s3(self) -> S3Client:
        return cast("S3Client", self.extra("s3"))

    @property
    def iam(self) -> IAMClient:
        return cast("IAMClient", self.extra("iam"))

    @property
    def sts(self) -> STSClient:
        return cast("STSClient", self.extra("sts"))


def client_config(*, max_attempts: int = 5, retry_mode: str = "standard") -> Config:
    """The botocore configuration every airctx client uses: retries and user agent."""
    if retry_mode not in RETRY_MODES:
        raise ConfigError(
            f"aws.retry_mode {retry_mode!r} is not one of {', '.join(RETRY_MODES)}"
        )
    if max_attempts < 1:
        raise ConfigError(
            f"aws.max_attempts must be at least 1 (the first try counts), "
            f"got {max_attempts}"
        )
    # botocore's "max_attempts" key counts retries only; "total_max_attempts"
    # counts the first try too, which is what aws.max_attempts means.
    retries: _RetryDict = {"total_max_attempts": max_attempts, "mode": retry_mode}
    return Config(
        retries=retries,
        user_agent_extra=f"airctx/{__version__}",
    )


def create_session(profile: str | None, region: str | None) -> boto3.Session:
    """A boto3 session for ``profile`` and ``region``, or boto3's defaults for them.

    Region precedence: ``region`` (the flag), ``AWS_REGION``, then boto3's own
    (``AWS_DEFAULT_REGION``, the profile's ``region``).

    Raises :class:`SetupError` with instructions when the profile does not exist or
    no region can be found anywhere.
    """
    # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which the AWS CLI v2 and
    # the other SDKs honour first; only that one variable is added here.
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        # A profile named by AWS_PROFILE is only looked up when something is read
        # from it, so read the region here rather than fail on the first call.
        resolved_region = session.region_name
    except ProfileNotFound as exc:
        name = profile or exc.kwargs.get("profile", "?")
        known = _available_profiles()
        hint = f" (configured profiles: {', '.join(known)})" if known else ""
        raise SetupError(
            f"AWS profile {name!r} is not configured{hint}; create it with "
            f"'aws configure --profile {name}', pass another --profile, or unset "
            "AWS_PROFILE to use the default credentials"
        ) from exc
    except BotoCoreError as exc:
        raise SetupError(f"the AWS configuration could not be read: {exc}") from exc

    if not resolved_region:
        raise SetupError(f"no AWS region is set; {REGION_HELP}")
    logger.debug(
        "AWS session: profile=%s region=%s", session.profile_name, resolved_region
    )
    return session


def create_clients(
    session: boto3.Session,
    *,
    endpoint_url: str | None = None,
    config: Config | None = None,
    extra_endpoint_url: str | None = None,
) -> Clients:
    """Build the Personalize clients for ``session``.

    ``endpoint_url`` points the three Personalize clients at another server (for
    instance ``airctx serve``); S3, IAM and STS keep their AWS endpoints unless
    ``extra_endpoint_url`` is given.
    """
    config = config or client_config()
    region = session.region_name
    if not region:
        raise SetupError(f"no AWS region is set; {REGION_HELP}")

    def make(service: str) -> Any:
        logger.debug(
            "creating %s client in %s (endpoint %s)",
            service,
            region,
            endpoint_url or "default",
        )
        return session.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=endpoint_url,
            config=config,
        )

    with translate_errors("Personalize clients"):
        return Clients(
            personalize=make("personalize"),
            runtime=make("personalize-runtime"),
            events=make("personalize-events"),
            session=session,
            config=config,
            endpoint_url=endpoint_url,
            extra_endpoint_url=extra_endpoint_url,
        )


def check_credentials(clients: Clients) -> str:
    """The AWS account id the credentials belong to (STS GetCallerIdentity).

    Raises :class:`SetupError` with instructions when there are no credentials or
    AWS rejects them.
    """
    if clients.session.get_credentials() is None:
        raise SetupError(f"no AWS credentials were found; {CREDENTIALS_HELP}")
    with translate_errors("AWS credentials"):
        identity = clients.sts.get_caller_identity()
    account = str(identity["Account"])
    logger.debug("AWS caller is in account %s", account)
    return account


def _available_profiles() -> list[str]:
    # A fresh session: the broken one raises on every lookup of its profile.
    try:
        return sorted(boto3.Session(profile_name=None).available_profiles)
    except BotoCoreError:
        return []
