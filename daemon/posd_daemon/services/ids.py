"""Ids the register makes for its own records."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

_MS_BITS = 48
_RANDOM_BITS = 74  # 12 (rand_a) + 62 (rand_b)


def new_sale_id(at: datetime, entropy: int | None = None) -> str:
    """A sale's id: 32 hex digits laid out as a UUID version 7 (RFC 9562, section 5.7):
    48 bits of Unix time in milliseconds, the version 7, 12 random bits, the RFC variant,
    62 random bits. Unique as a random UUID is (74 random bits per millisecond), and it
    sorts by time: a sale's rows go in at the end of every table keyed by its id
    (sale_lines, sale_payments, sale_tse, sale_vat_totals, idempotent answers) instead of
    at a random place of it, so a day's receipts lie together and a period is read
    nearly in key order. (A uuid4's random keys spread each day over the whole of those
    tables, and every later read of a period jumps across them.)

    ``at``: the sale's creation time; ``entropy`` (tests, generated data): the 74 random
    bits, else from ``secrets``."""
    ms = max(0, int(at.timestamp() * 1000)) & ((1 << _MS_BITS) - 1)
    rand = secrets.randbits(_RANDOM_BITS) if entropy is None else entropy
    rand &= (1 << _RANDOM_BITS) - 1
    rand_a, rand_b = rand >> 62, rand & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value).hex
