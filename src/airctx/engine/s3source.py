"""Import sources on S3, for an engine that has been given an S3 endpoint to read from.

The local engine reads local files. When ``AIRCTX_ENGINE_S3_ENDPOINT_URL`` is set
(for instance to a moto server, so that the aws backend's S3 staging can be run
against ``airctx serve``), ``s3://bucket/key`` data locations are accepted too and
downloaded before the import reads them. The setting is an environment variable
because import jobs run in detached worker processes, which inherit it.

Credentials and region come from the environment as for any boto3 client; boto3 is
imported only when an s3:// location is actually read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from airctx.engine.jobs import JobFailed

log = logging.getLogger(__name__)

ENDPOINT_ENV = "AIRCTX_ENGINE_S3_ENDPOINT_URL"


def endpoint_url() -> str | None:
    """The S3 endpoint the engine may read from, or None when s3:// is refused."""
    return os.environ.get(ENDPOINT_ENV) or None


def split_uri(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); ValueError when either part is missing."""
    if not location.startswith("s3://"):
        raise ValueError(f"{location} is not an s3:// URI")
    bucket, _sep, key = location[len("s3://") :].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ValueError(f"{location} does not name one object (s3://bucket/key.csv)")
    return bucket, key


def download(location: str, directory: Path | None = None) -> Path:
    """Copy the object at ``location`` to a local file and return its path.

    Raises :class:`JobFailed` with the bucket, key and S3's answer when the object
    cannot be read, so the import job fails with a reason a user can act on.
    """
    url = endpoint_url()
    if url is None:
        raise JobFailed(
            f"{location}: this engine reads local files; set {ENDPOINT_ENV} to an S3 "
            "endpoint to let it read s3:// locations"
        )
    try:
        bucket, key = split_uri(location)
    except ValueError as exc:
        raise JobFailed(str(exc)) from None

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    folder = directory or Path(tempfile.gettempdir()) / "airctx-s3"
    folder.mkdir(parents=True, exist_ok=True)
    # One file per location: a retried job overwrites its own download.
    target = folder / (hashlib.sha256(location.encode()).hexdigest()[:16] + ".csv")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    client = boto3.client("s3", endpoint_url=url, region_name=region or "us-east-1")
    try:
        client.download_file(bucket, key, str(target))
    except (ClientError, BotoCoreError) as exc:
        raise JobFailed(f"Cannot read {location} from {url}: {exc}") from None
    log.info("downloaded %s to %s", location, target)
    return target
