"""Clients for the configured backend: Amazon Personalize, or the local engine.

Both backends hand the pipeline the same three boto3 clients. For ``local`` they are
real boto3 clients whose calls are answered in-process by the embedded engine after
botocore has validated and serialised them, so every pipeline run exercises the exact
requests that would go to AWS.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import boto3

from airctx.aws.session import Clients, client_config, create_clients, create_session
from airctx.errors import ConfigError

if TYPE_CHECKING:
    from airctx.config import Settings

log = logging.getLogger(__name__)

# The local engine never checks these; botocore only needs something to hold.
LOCAL_KEY = "airctx-local"


def _check_endpoints(settings: Settings) -> None:
    """botocore refuses a URL without a scheme with a bare ValueError."""
    configured = {
        "aws.endpoint_url": settings.aws.endpoint_url,
        "aws.services_endpoint_url": settings.aws.services_endpoint_url,
    }
    for key, url in configured.items():
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{key} {url!r} is not a URL; write it with its scheme, e.g. "
                f"http://{url.split('://', 1)[-1]}"
            )


def clients_for(settings: Settings) -> Clients:
    """Build the Personalize clients for ``settings.backend``."""
    config = client_config(
        max_attempts=settings.aws.max_attempts, retry_mode=settings.aws.retry_mode
    )
    if settings.backend == "aws":
        _check_endpoints(settings)
        session = create_session(settings.aws.profile, settings.region)
        # services_endpoint_url points S3, IAM and STS elsewhere (a moto server in the
        # functional tests) while endpoint_url points Personalize at `airctx serve`.
        return create_clients(
            session,
            endpoint_url=settings.aws.endpoint_url,
            config=config,
            extra_endpoint_url=settings.aws.services_endpoint_url,
        )

    from airctx.engine.core import LocalEngine
    from airctx.engine.inprocess import attach

    session = boto3.Session(
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
        region_name=settings.region,
    )
    clients = create_clients(session, config=config)
    try:
        engine = LocalEngine(settings.state_dir, region=settings.region)
    except ValueError as exc:
        raise ConfigError(
            f"cannot open the local engine in {settings.state_dir}: {exc}"
        ) from exc
    for client in (clients.personalize, clients.runtime, clients.events):
        attach(client, engine)
    clients.local_engine = engine
    log.debug("local engine at %s", settings.state_dir)
    return clients
