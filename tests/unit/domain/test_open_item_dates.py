"""Open item dates: only a calendar date YYYY-MM-DD is one (an ISO week date such as
2024-W01-1 has the same length and Python's date.fromisoformat takes it since 3.11; it
would be stored as it came and compared as text with the other date)."""

from __future__ import annotations

import pytest

from posd_daemon.domain.errors import DomainError
from tests.unit.domain.test_open_items import item


@pytest.mark.parametrize("text", ["2024-W01-1", "2024-W18-4", "+024-05-02", "2024-05-0２"])
@pytest.mark.parametrize("field", ["invoice_date", "due_date"])
def test_a_date_not_written_yyyy_mm_dd_is_refused(field: str, text: str) -> None:
    with pytest.raises(DomainError) as err:
        item(**{field: text}).validated()
    assert err.value.reason == "INVALID_DATE"
    assert err.value.violations[0].field == f"open_item.{field}"


def test_calendar_dates_pass() -> None:
    assert item(invoice_date="2024-02-29", due_date="2024-12-31").validated()
