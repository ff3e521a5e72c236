"""Opaque page tokens and page sizes for List RPCs (AIP-158)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from typing import TypeVar

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.text import is_digits


def page_size(requested: int, *, default: int, maximum: int = 1000) -> int:
    if requested < 0:
        raise invalid("page_size", "must not be negative")
    return default if requested == 0 else min(requested, maximum)


T = TypeVar("T")

#: a request's filters, as the List RPC passes them (str, int, bool, None, enums,
#: datetimes, tuples of these): their repr() is the same in every process
Scope = tuple[object, ...]


def within_budget(rows: list[T], weight: Callable[[T], int], budget: int) -> tuple[list[T], bool]:
    """The leading rows whose weights add up to at most ``budget`` (at least one row,
    however heavy), and whether any were cut: a page of big rows (orders or sales of
    hundreds of lines) would be past the 4 MiB a gRPC message may have by default, and
    the call would fail instead of answering a shorter page."""
    total = 0
    for i, row in enumerate(rows):
        total += weight(row)
        if total > budget and i > 0:
            return rows[:i], True
    return rows, False


def _scope_tag(scope: Scope | None) -> str:
    """A short digest of the request's filters (8 characters: 48 bits), or "" for an RPC
    without filters. A digest rather than the filters themselves keeps tokens short
    whatever the filters hold (a 200-character query, many kinds)."""
    if scope is None:
        return ""
    digest = hashlib.sha256(repr(scope).encode()).digest()[:6]
    return "@" + base64.urlsafe_b64encode(digest).decode("ascii")


def encode(kind: str, value: str | int, scope: Scope | None = None) -> str:
    """A token of ``kind``: each List RPC has a kind of its own, no two alike (AIP-158: a
    token from another RPC is INVALID_ARGUMENT; two RPCs of one kind read each other's
    tokens as their own).

    ``scope``: the request's fields other than page_size and page_token, for an RPC that
    has any; decode() refuses the token with other values (AIP-158: "the page token must
    be rejected (INVALID_ARGUMENT) if other fields of the request changed", else a token
    silently continues another list from the middle)."""
    return base64.urlsafe_b64encode(f"{kind}{_scope_tag(scope)}:{value}".encode()).decode("ascii")


def decode(token: str, kind: str, scope: Scope | None = None) -> str:
    """The value inside a token of ``kind`` made with ``scope``; a clear error for anything
    else."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        text = raw.decode("utf-8")
    except (ValueError, UnicodeError, binascii.Error):
        raise invalid("page_token", "not a token from a previous response") from None
    # only the very text encode() makes: the decoding drops characters outside the
    # alphabet and takes "+" and "/" for "-" and "_", so a token with a space or a "!"
    # added read as the original
    if base64.urlsafe_b64encode(raw).decode("ascii") != token:
        raise invalid("page_token", "not a token from a previous response")
    head, sep, value = text.partition(":")
    k = head.partition("@")[0]
    if k != kind or not sep:
        raise invalid("page_token", "not a token from a previous response")
    if head != kind + _scope_tag(scope):
        raise invalid(
            "page_token",
            "made for a request with other filters: repeat that request's filters,"
            " or leave page_token empty to start over",
        )
    return value


def decode_int(token: str, kind: str, *, empty: int, scope: Scope | None = None) -> int:
    if not token:
        return empty
    value = decode(token, kind, scope)
    # ASCII digits within SQLite's 64-bit integers; anything else was not made here
    if not is_digits(value) or len(value) > 18:
        raise invalid("page_token", "not a token from a previous response")
    return int(value)
