"""Domain errors: a stable machine reason plus a human message.

The API layer maps :class:`ErrorKind` to gRPC status codes and the reason to
``google.rpc.ErrorInfo.reason``; field problems become ``BadRequest`` violations.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorKind(enum.Enum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    #: a conditional change lost a race (a stale etag, Google AIP-154): read and retry
    ABORTED = "ABORTED"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """A rule was broken; nothing was changed."""

    def __init__(
        self,
        kind: ErrorKind,
        reason: str,
        message: str,
        *,
        violations: tuple[FieldViolation, ...] = (),
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.message = message
        self.violations = violations
        self.metadata = dict(metadata or {})


def invalid(field: str, description: str, reason: str = "INVALID_ARGUMENT") -> DomainError:
    """A single bad field."""
    return DomainError(
        ErrorKind.INVALID_ARGUMENT,
        reason,
        f"{field}: {description}",
        violations=(FieldViolation(field, description),),
    )


def not_found(reason: str, message: str, **metadata: str) -> DomainError:
    return DomainError(ErrorKind.NOT_FOUND, reason, message, metadata=metadata)


def precondition(reason: str, message: str, **metadata: str) -> DomainError:
    return DomainError(ErrorKind.FAILED_PRECONDITION, reason, message, metadata=metadata)
