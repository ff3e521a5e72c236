"""Domain errors -> gRPC status with google.rpc.Status details (ErrorInfo, BadRequest)."""

from __future__ import annotations

import sqlite3

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from posd_daemon.domain.errors import DomainError, ErrorKind

DOMAIN = "posd"
Violation = error_details_pb2.BadRequest.FieldViolation

_CODES: dict[ErrorKind, tuple[grpc.StatusCode, int]] = {
    ErrorKind.INVALID_ARGUMENT: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    ErrorKind.NOT_FOUND: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    ErrorKind.FAILED_PRECONDITION: (
        grpc.StatusCode.FAILED_PRECONDITION,
        code_pb2.FAILED_PRECONDITION,
    ),
    ErrorKind.ALREADY_EXISTS: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    ErrorKind.PERMISSION_DENIED: (grpc.StatusCode.PERMISSION_DENIED, code_pb2.PERMISSION_DENIED),
    ErrorKind.UNAUTHENTICATED: (grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED),
    ErrorKind.RESOURCE_EXHAUSTED: (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        code_pb2.RESOURCE_EXHAUSTED,
    ),
    ErrorKind.UNAVAILABLE: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    ErrorKind.ABORTED: (grpc.StatusCode.ABORTED, code_pb2.ABORTED),
}


def to_status(error: DomainError) -> grpc.Status:
    grpc_code, rpc_code = _CODES[error.kind]
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
    for key, value in error.metadata.items():
        info.metadata[key] = value[:500]
    details = []
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        packed_bad = any_pb2.Any()
        packed_bad.Pack(bad)
        details.append(packed_bad)
    status = status_pb2.Status(code=rpc_code, message=error.message[:1000], details=details)
    result: grpc.Status = rpc_status.to_status(status)
    assert result.code == grpc_code
    return result


def internal_status(message: str) -> grpc.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN))
    status = status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=[info])
    result: grpc.Status = rpc_status.to_status(status)
    return result


_SQLITE_FULL = 13  # "database or disk is full" (primary result code)


def store_error(exc: BaseException) -> DomainError | None:
    """A store failure the technician can act on, as a domain error (None: a bug,
    answered INTERNAL). A full disk (or tmpfs) refuses every write, a Login included:
    UNAVAILABLE with reason DISK_FULL says what is wrong without the daemon log."""
    if isinstance(exc, sqlite3.DatabaseError) and (
        (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_FULL
        or "database or disk is full" in str(exc)
    ):
        return DomainError(
            ErrorKind.UNAVAILABLE,
            "DISK_FULL",
            "the register's disk is full: nothing can be saved; free space on the state"
            " directory's file system (posctl status shows the database size)",
        )
    return None
