"""Opaque page tokens and page sizes for List RPCs (AIP-158)."""

from __future__ import annotations

import base64
import binascii

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.text import is_digits


def page_size(requested: int, *, default: int, maximum: int = 1000) -> int:
    if requested < 0:
        raise invalid("page_size", "must not be negative")
    return default if requested == 0 else min(requested, maximum)


def encode(kind: str, value: str | int) -> str:
    """A token of ``kind``: each List RPC has a kind of its own, no two alike (AIP-158: a
    token from another RPC is INVALID_ARGUMENT; two RPCs of one kind read each other's
    tokens as their own)."""
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode("ascii")


def decode(token: str, kind: str) -> str:
    """The value inside a token of ``kind``; a clear error for anything else."""
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
    k, sep, value = text.partition(":")
    if k != kind or not sep:
        raise invalid("page_token", "not a token from a previous response")
    return value


def decode_int(token: str, kind: str, *, empty: int) -> int:
    if not token:
        return empty
    value = decode(token, kind)
    # ASCII digits within SQLite's 64-bit integers; anything else was not made here
    if not is_digits(value) or len(value) > 18:
        raise invalid("page_token", "not a token from a previous response")
    return int(value)
