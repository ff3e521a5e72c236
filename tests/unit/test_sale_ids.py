"""Sale ids are UUIDs of version 7 (RFC 9562): unique, and in the order of their
creation time, so that a sale's rows are appended to the tables keyed by its id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from posd_daemon.services.ids import new_sale_id

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_layout_is_a_uuid_version_7() -> None:
    sale_id = new_sale_id(T0)
    assert len(sale_id) == 32 and int(sale_id, 16) >= 0
    u = uuid.UUID(hex=sale_id)
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    # the first 48 bits are the Unix time in milliseconds (RFC 9562, 5.7)
    assert u.int >> 80 == int(T0.timestamp() * 1000)


def test_ids_sort_by_creation_time() -> None:
    times = [T0 + timedelta(milliseconds=ms) for ms in (0, 1, 2, 999, 1000, 86_400_000)]
    # the highest random bits at the earlier time, the lowest at the later one
    ids = [new_sale_id(t, (1 << 74) - 1 if i % 2 == 0 else 0) for i, t in enumerate(times)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_of_one_millisecond_differ() -> None:
    ids = {new_sale_id(T0) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert {i[:12] for i in ids} == {f"{int(T0.timestamp() * 1000):012x}"}


def test_random_bits_keep_the_version_and_variant() -> None:
    for entropy in (0, (1 << 74) - 1, 1 << 73, (1 << 62) - 1, 1 << 80):
        u = uuid.UUID(hex=new_sale_id(T0, entropy))
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert u.int >> 80 == int(T0.timestamp() * 1000)
