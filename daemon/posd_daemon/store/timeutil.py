"""Timestamps as stored: ISO-8601 UTC text with microseconds (sorts as text)."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def opt_from_db(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)
