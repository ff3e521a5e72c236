"""Idempotent mutations: a repeated request_id returns the first answer, changes nothing.

The answer is stored in the same transaction as the change itself, so a crash can never
leave a change without its recorded answer or the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.text import check_code
from posd_daemon.services.executor import Tx
from posd_daemon.store import idempotency as store

T = TypeVar("T")


def run(
    tx: Tx,
    *,
    method: str,
    request_id: str,
    digest: str,
    now: datetime,
    action: Callable[[Tx], T],
    encode: Callable[[T], bytes],
) -> bytes:
    check_code(request_id, "request_id")
    seen = store.lookup(tx.conn, request_id)
    if seen is not None:
        refuse_reuse(seen, method=method, request_id=request_id, digest=digest)
        return seen[2]
    result = action(tx)
    response = encode(result)
    store.store(tx.conn, request_id, method, digest, response, now)
    return response


def refuse_reuse(
    seen: tuple[str, str, bytes], *, method: str, request_id: str, digest: str
) -> None:
    """Refuses a request_id stored ``seen`` (method, digest, answer) for a different
    request: a repeat must be the same call with the same request."""
    seen_method, seen_digest, _ = seen
    if seen_method != method or seen_digest != digest:
        raise DomainError(
            ErrorKind.ALREADY_EXISTS,
            "REQUEST_ID_REUSED",
            f"request_id {request_id!r} was already used for a different request ({seen_method})",
        )
