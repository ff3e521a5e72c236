"""Timestamps as stored: ISO-8601 UTC text with microseconds (sorts as text).

The form is ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, 27 characters. It is written and read with
``isoformat`` / ``fromisoformat`` (several times faster than ``strftime`` /
``strptime``, and every scan writes a few); text of any other shape is read by the strict
``strptime`` form, which refuses it."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_LENGTH = 27


def to_db(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_db(text: str) -> datetime:
    if len(text) == _LENGTH and text[26] == "Z":
        with suppress(ValueError):
            when = datetime.fromisoformat(text[:26])
            # fromisoformat also reads other ISO shapes (offsets, week dates): only the
            # text this module writes is taken; anything else goes to the strict parser
            if when.tzinfo is None and when.isoformat(timespec="microseconds") == text[:26]:
                return when.replace(tzinfo=UTC)
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


def opt_from_db(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)
