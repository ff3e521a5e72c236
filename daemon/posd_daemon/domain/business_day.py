"""The register's business day: the calendar date of a moment in the register's time zone.

The daemon's clock and every stored timestamp are UTC. Business rules that depend on a
calendar date (the VAT rate valid that day, the day's exchange rate, "today" for pickup
dates, the Z closing's business date, export dates) use the date on the register's
wall calendar: at 00:30 in Berlin on 1 January 2021 it is 2021-01-01, although it is
still 31 December in UTC. Pure: the caller passes the moment and the zone.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo


def business_day(now: datetime, zone: tzinfo) -> date:
    """The calendar date of ``now`` (an aware moment) in ``zone``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"business_day needs an aware moment, got naive {now.isoformat()}")
    return now.astimezone(zone).date()
