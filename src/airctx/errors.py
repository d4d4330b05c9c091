"""The exceptions airctx raises to its users.

Every class carries a message that names the thing that is wrong (file, line, field,
resource) and, where there is one, what to do about it. The CLI turns them into
``Error: ...`` lines and exit code 1; nothing below the CLI prints them.
"""

from __future__ import annotations


class AirctxError(Exception):
    """Base class for every error airctx reports to a user."""


class ConfigError(AirctxError):
    """The configuration file, an option or an environment variable is invalid."""


class DataError(AirctxError):
    """An input file cannot be read or does not have the expected shape."""


class OptionError(DataError):
    """A path given on the command line (or in its environment variable) is not a
    file that can be read; the CLI shows it as a usage error, exit code 2."""


class SchemaError(AirctxError):
    """A dataset's field list breaks one of Personalize's schema rules."""


class ValidationFailed(AirctxError):
    """A dataset failed validation; the report lists every problem found."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class SetupError(AirctxError):
    """The environment is not set up for the chosen backend (credentials, region)."""


class ResourceError(AirctxError):
    """A Personalize resource is missing, in the wrong state, or was rejected."""


class ResourceConflict(ResourceError):
    """A resource with this name exists with a different configuration."""


class ResourceFailed(ResourceError):
    """An asynchronous resource ended in CREATE FAILED; the message gives the reason."""

    def __init__(self, arn: str, status: str, reason: str | None) -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"{arn} ended in {status}{detail}")
        self.arn = arn
        self.status = status
        self.reason = reason


class WaitTimeout(ResourceError):
    """A resource did not reach a terminal state within the configured timeout."""


class ContextError(AirctxError):
    """A query's context names a field the interactions schema does not declare."""
