"""What every pipeline step is handed: settings, clients, the waiter and a reporter.

Steps find their resources by name, so any step can run in a fresh process after
any other, and running one twice creates nothing twice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from airctx.aws.errors import error_code, translate_errors
from airctx.aws.session import Clients
from airctx.config import Settings
from airctx.errors import ResourceConflict, ResourceError
from airctx.pipeline.waiter import Waiter

log = logging.getLogger(__name__)

Report = Callable[[str], None]
F = TypeVar("F", bound=Callable[..., Any])
# What `--no-wait` does not wait for: `airctx wait` picks these up later.
LONG_RUNNING = frozenset({"dataset_import_job", "solution_version", "campaign"})


def _silent(_message: str) -> None:
    return None


@dataclass
class Project:
    """A configured project bound to one backend."""

    settings: Settings
    clients: Clients
    report: Report = _silent
    waiter: Waiter = field(default_factory=Waiter)
    wait: bool = True

    @property
    def personalize(self) -> Any:
        return self.clients.personalize

    def call(self, operation: str, resource: str | None = None, **params: Any) -> Any:
        """One control-plane call, with botocore errors turned into airctx errors."""
        log.debug("personalize %s %s", operation, resource or "")
        method = getattr(self.personalize, snake(operation))
        with translate_errors(resource):
            return method(**params)

    def paginate(
        self, operation: str, key: str, **params: Any
    ) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self.call(
                operation, **params, **({"nextToken": token} if token else {})
            )
            yield from page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return

    def describe(self, operation: str, key: str, arn_field: str, arn: str) -> Any:
        """The resource document, or None once it no longer exists."""
        method = getattr(self.personalize, snake(operation))
        with translate_errors(arn):
            try:
                return method(**{arn_field: arn})[key]
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                raise

    def wait_for(
        self,
        kind: str,
        arn: str,
        operation: str,
        key: str,
        arn_field: str,
        *,
        until: tuple[str, ...] = ("ACTIVE",),
        status_of: Callable[[Mapping[str, Any]], str] | None = None,
    ) -> Mapping[str, Any] | None:
        """Wait for a resource to reach ``until``.

        With ``wait`` off (``--no-wait``) the long jobs (imports, training, campaign
        deployments) are only described; the short prerequisites they build on are
        still waited for, since the next call would be rejected without them.
        """
        if not self.wait and kind in LONG_RUNNING:
            document: Mapping[str, Any] | None = self.describe(
                operation, key, arn_field, arn
            )
            return document
        engine = self.clients.local_engine
        return self.waiter.wait(
            kind,
            arn,
            lambda: self.describe(operation, key, arn_field, arn),
            timeout=self.settings.waits.timeout_for(kind),
            until=until,
            status_of=status_of,
            progress=(lambda: engine.progress(arn)) if engine is not None else None,
        )

    def find(
        self, operation: str, key: str, name_key: str, name: str, **params: Any
    ) -> Any:
        """The summary of the resource called ``name``, or None."""
        for item in self.paginate(operation, key, **params):
            if item.get(name_key) == name:
                return item
        return None

    def dataset_group_arn(self) -> str:
        found = self.find(
            "ListDatasetGroups",
            "datasetGroups",
            "name",
            self.settings.dataset_group_name,
        )
        if found is None:
            raise ResourceError(
                f"dataset group {self.settings.dataset_group_name} does not exist; run "
                "`airctx create-schemas` (or `airctx run`) first"
            )
        return str(found["datasetGroupArn"])


def raced(ensure: F) -> F:
    """Let a find-or-create step adopt what another run created a moment earlier.

    Two pipelines (say, two CI jobs) can both look a resource up, both miss it, and
    both create it: the loser gets ResourceAlreadyExistsException. Running the step
    again then finds the winner's resource and checks it like any other.
    """

    @functools.wraps(ensure)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return ensure(*args, **kwargs)
        except ResourceConflict as exc:
            if not lost_race(exc, "ResourceAlreadyExistsException"):
                raise
            log.info("%s lost a creation race; looking again", ensure.__name__)
            return ensure(*args, **kwargs)

    return cast(F, wrapper)


def lost_race(exc: BaseException, *codes: str) -> bool:
    """Whether ``exc`` is the service's answer ``codes`` (say, ResourceInUseException
    while another run's update is under way), which looking again may resolve."""
    cause = exc.__cause__
    return cause is not None and error_code(cause) in codes


def snake(operation: str) -> str:
    """The boto3 method of an operation: CreateDatasetGroup -> create_dataset_group."""
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
