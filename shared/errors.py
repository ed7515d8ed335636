"""The kernel's exception hierarchy.

    KernelError
    ├── ConcurrencyConflict      an append lost the race for an expected version (HTTP 409)
    ├── UnknownEventType         no registered class for a (type, version) read back
    ├── DomainError              base for the services' business-rule violations
    │   ├── NotFound             the thing does not exist for this tenant (HTTP 404)
    │   ├── Forbidden            the actor may not do this (HTTP 403)
    │   ├── Conflict             the request contradicts the current state (HTTP 409)
    │   └── InvalidRequest       well-formed but semantically invalid input (HTTP 422)
    └── InfrastructureError      a dependency (database, broker) is unavailable (HTTP 503)
        └── TemporarilyRefused   a known, temporary state refuses the request (503, told why)

The mapping to HTTP lives in one place: `shared.http.problems`.
"""

from __future__ import annotations


class KernelError(Exception):
    """Root of every error the kernel raises on purpose."""


class ConcurrencyConflict(KernelError):
    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None = None) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        detail = f"stream {stream_id} is not at version {expected_version}"
        if actual_version is not None:
            detail += f" (it is at {actual_version})"
        super().__init__(detail)


class UnknownEventType(KernelError):
    def __init__(self, event_type: str, schema_version: int) -> None:
        super().__init__(f"no event class registered for {event_type} v{schema_version}")
        self.event_type = event_type
        self.schema_version = schema_version


class DomainError(KernelError):
    """A business rule said no. `detail` is safe to show to the caller."""

    title = "Request not allowed"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(DomainError):
    title = "Not found"


class Forbidden(DomainError):
    title = "Forbidden"


class Conflict(DomainError):
    title = "Conflict"


class InvalidRequest(DomainError):
    title = "Invalid request"


class InfrastructureError(KernelError):
    """A dependency failed; the message is for logs, never for callers."""


class TemporarilyRefused(InfrastructureError):
    """The service refuses this request until a known state passes (say, a copy catching up);
    unlike other infrastructure errors, `detail` is meant for the caller, with a Retry-After."""

    def __init__(self, detail: str, *, retry_after_s: int, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.extensions = extensions
