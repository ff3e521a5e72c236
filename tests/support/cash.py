"""Counting the drawer in tests: a shift close needs a count (COUNT_REQUIRED) with a line
for every currency the drawer is expected to hold (COUNT_MISSING_CURRENCY)."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import closing_pb2


def expected_counts(client: PosdClient, shift: closing_pb2.Shift) -> list[closing_pb2.CashCount]:
    """The open ``shift``'s expected cash as a count: one total per currency (0.00 for
    an empty drawer; a negative expectation is counted as an empty drawer)."""
    return [
        closing_pb2.CashCount(currency_code=m.currency_code, total_minor=max(0, m.amount_minor))
        for m in shift.expected_cash
    ] or PosdClient.cash_counts(total=0)


def close_as_expected(client: PosdClient) -> closing_pb2.Shift:
    """Closes the open shift, counted as holding exactly what it should (no difference
    booked). ``client`` needs permission CLOSING to see the expected cash."""
    shift = client.get_shift()
    assert shift.state == closing_pb2.SHIFT_STATE_OPEN, shift
    closed = client.close_shift(expected_counts(client, shift), shift_id=shift.shift_id)
    assert all(b.difference.amount_minor == 0 for b in closed.balances), closed
    return closed
