"""The service errors the local engine answers with, named as Personalize names them."""

from __future__ import annotations


class EngineError(Exception):
    """A modelled Personalize error: the transport sends ``code`` and ``message``."""

    code = "InvalidInputException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(EngineError):
    """The request breaks a rule of the API (bad value, missing field, wrong state)."""

    code = "InvalidInputException"


class ResourceNotFound(EngineError):
    """No resource has the given ARN."""

    code = "ResourceNotFoundException"
    status = 404


class ResourceAlreadyExists(EngineError):
    """The name is taken by a resource of the same type."""

    code = "ResourceAlreadyExistsException"
    status = 409


class ResourceInUse(EngineError):
    """The resource is used by another one, or is not in a state that allows this."""

    code = "ResourceInUseException"
    status = 409


class LimitExceeded(EngineError):
    """A service quota was reached."""

    code = "LimitExceededException"
    status = 400


class InvalidNextToken(EngineError):
    """The pagination token is not one this engine issued."""

    code = "InvalidNextTokenException"


class TooManyTagKeys(EngineError):
    """More tags than a resource may carry."""

    code = "TooManyTagKeysException"


class AccessDenied(EngineError):
    """The request is not signed, or not signed with a configured key (HTTP only)."""

    code = "AccessDeniedException"
    status = 403
