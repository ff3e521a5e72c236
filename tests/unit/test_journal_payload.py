"""A journal payload encoded ahead field by field hashes exactly as the whole payload
would: the chain verifies the stored body, so one character of difference (key order,
spacing, escaping) would make every posted receipt's record look altered."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.store import journal
from posd_daemon.store.database import migrate, transaction

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**18), max_value=10**18)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(max_size=10), json_values, max_size=8)


@given(payloads, st.text(max_size=10), json_values)
def test_encoded_ahead_is_the_canonical_encoding(
    payload: dict[str, Any], late_key: str, late_value: Any
) -> None:
    encoded = journal.EncodedPayload(payload)
    assert encoded.body == journal.canonical_json(payload)
    encoded.set(late_key, late_value)  # a field that came later (or replaces one)
    assert encoded.body == journal.canonical_json({**payload, late_key: late_value})


def test_a_record_appended_from_an_encoded_payload_verifies() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    record = {"sale_id": "S-1", "total": 1299, "lines": [{"name": 'Äpfel "lose"', "qty": "1"}]}
    when = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with transaction(conn):
        encoded = journal.EncodedPayload(record)
        encoded.set("tse", {"signature": "abc=", "transaction_number": 7})
        journal.append(
            conn, kind="NOTE", register_id="REG-1", ref="note:1", payload=encoded, when=when
        )
        journal.append(
            conn,
            kind="NOTE",
            register_id="REG-1",
            ref="note:2",
            payload={**record, "tse": {"signature": "abc=", "transaction_number": 7}},
            when=when,
        )
    bodies = [row[0] for row in conn.execute("SELECT payload FROM journal ORDER BY seq")]
    assert bodies[0] == bodies[1]
    assert journal.verify(conn).ok


@given(json_values)
def test_canonical_json_is_sorted_compact_unescaped_json(value: Any) -> None:
    """The journal's one shared encoder writes what json.dumps with the journal's options
    writes (records written before and after it was shared hash the same way)."""
    assert journal.canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
