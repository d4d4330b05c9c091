"""The one call every transport makes into the local engine."""

from __future__ import annotations

from typing import Any, Protocol

#: The botocore service names the local engine answers for.
SERVICES: tuple[str, ...] = (
    "personalize",
    "personalize-runtime",
    "personalize-events",
)


class EngineAPI(Protocol):
    """What the transports need from an engine.

    ``call`` takes the botocore service name, the API operation name and the request's
    JSON document exactly as it travels on the wire (timestamps as epoch seconds), and
    returns the response document in the same form. Modelled failures are raised as
    :class:`airctx.engine.errors.EngineError`; an operation the engine does not offer
    raises :class:`NotImplementedError`.
    """

    def call(
        self, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Answer one API call."""
        ...
