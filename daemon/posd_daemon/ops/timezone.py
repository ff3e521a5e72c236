"""The register's time zone (``register.timezone``): an IANA name, or the system's zone.

The system's zone is what the C library uses for local time: ``$TZ`` when set (systemd
units pass it through ``Environment=``), else ``/etc/localtime``, else UTC.
"""

from __future__ import annotations

import os
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KEY = "register.timezone"
_LOCALTIME = Path("/etc/localtime")


class ZoneError(ValueError):
    """A time zone that cannot be used; the message says which and what to do."""


def named_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` ("Europe/Berlin"); :class:`ZoneError` if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ZoneError(
            f'unknown time zone {name!r}: an IANA name like "Europe/Berlin",'
            ' or "" for the system\'s time zone'
        ) from None


def system_zone() -> tzinfo:
    """The system's local time zone, as the C library resolves it."""
    tz = os.environ.get("TZ")
    if tz is not None:
        name = tz.removeprefix(":")
        if not name:
            return UTC  # TZ set but empty: the C library uses UTC
        try:
            if name.startswith("/"):
                with open(name, "rb") as f:
                    return ZoneInfo.from_file(f, key=name)
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ZoneError(
                f"the TZ environment variable {tz!r} names no IANA time zone;"
                f' set {KEY} (e.g. "Europe/Berlin")'
            ) from None
    try:
        target = _LOCALTIME.resolve(strict=True)
    except FileNotFoundError:
        return UTC  # no /etc/localtime: the C library uses UTC
    except OSError as exc:
        raise ZoneError(f'{_LOCALTIME}: {exc}; set {KEY} (e.g. "Europe/Berlin")') from None
    _, marker, key = str(target).rpartition("zoneinfo/")
    if marker:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # read the file itself
    try:
        with open(target, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError) as exc:
        raise ZoneError(
            f'{_LOCALTIME} is no time zone file ({exc}); set {KEY} (e.g. "Europe/Berlin")'
        ) from None


def zone_name(zone: tzinfo) -> str:
    """The IANA name of ``zone`` ("Europe/Berlin", "UTC"); "" for a zone read from a file
    that has none (a TZ path, an /etc/localtime outside the zoneinfo tree)."""
    if zone is UTC:
        return "UTC"
    key = getattr(zone, "key", None)
    if not isinstance(key, str) or key == "localtime" or key.startswith("/"):
        return ""
    return key


def register_zone(name: str) -> tzinfo:
    """The zone ``register.timezone`` names ("" = the system's)."""
    return named_zone(name) if name else system_zone()
