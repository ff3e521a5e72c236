"""Printer capability profiles, as data.

Per-model differences (paper width, cutter, native QR, drawer wiring, status quirks) live
in :class:`PrinterProfile` values, never in code branches (see
shared/reference/devices.md: "per-model quirks belong in data (profiles), not in code").

A profile is picked by name from :data:`BUILTIN_PROFILES` and optionally overridden from
the configuration::

    [printer.profile]
    base = "epson-tm-t20"
    drawer_pin = 5
    drawer_sensor = "open-low"
"""

from __future__ import annotations

import codecs
import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from posd_daemon.devices.errors import ProfileError


class CutMode(enum.Enum):
    """What the autocutter can do."""

    #: ``GS V 0`` / feed-and-cut ``GS V 65 n``.
    FULL = "full"
    #: ``GS V 1`` / feed-and-cut ``GS V 66 n``.
    PARTIAL = "partial"
    #: No cutter: feed the paper past the tear bar.
    NONE = "none"


class DrawerSensor(enum.Enum):
    """How the drawer-open switch shows on drawer kick-out connector pin 3.

    ``DLE EOT 1`` bit 2 / ASB first byte bit 2 only report the pin level; which level
    means "open" depends on the drawer (shared/reference/devices.md: model-dependent).
    """

    #: Pin 3 HIGH means the drawer is open.
    OPEN_HIGH = "open-high"
    #: Pin 3 LOW means the drawer is open.
    OPEN_LOW = "open-low"
    #: No sensor wired: the drawer state is unknown.
    NONE = "none"


#: ``ESC t n`` table number of CP858 (CP850 with the euro sign at 0xD5).
CP858_TABLE = 19


@dataclass(frozen=True, slots=True)
class PrinterProfile:
    """What one printer model can do, and how it is wired."""

    name: str
    #: Characters per line in font A (58 mm: 32; 80 mm: 48, or 42 on 512-dot heads).
    columns: int
    #: Printable width in dots (58 mm: 384; 80 mm: 576 or 512).
    dots: int
    cut: CutMode = CutMode.PARTIAL
    #: Supports ``GS V 65/66 n`` (feed to the cutter, then cut) in one command.
    feed_and_cut: bool = True
    #: Lines to feed before ``GS V 0/1`` (or before tearing off without a cutter), so
    #: the last line clears the cutter; unused with feed-and-cut.
    cut_feed_lines: int = 4
    #: Extra feed of ``GS V 65/66 n`` in vertical motion units (0: to the cut position).
    feed_and_cut_units: int = 0
    #: Prints QR codes natively with ``GS ( k``; otherwise a raster image is sent.
    native_qr: bool = True
    #: ``ESC t n`` code table to pin at the start of every job.
    code_table: int = CP858_TABLE
    #: Python codec matching :attr:`code_table` (unmappable characters print as '?').
    encoding: str = "cp858"
    #: Drawer kick-out pin (2 or 5) and pulse times used by default.
    drawer_pin: int = 2
    drawer_on_ms: int = 100
    drawer_off_ms: int = 200
    drawer_sensor: DrawerSensor = DrawerSensor.OPEN_HIGH
    #: Answers real-time status requests (``DLE EOT n``).
    realtime_status: bool = True
    #: Quirk: the drawer only opens reliably when status is read right after the kick.
    read_status_after_kick: bool = False
    #: Open the drawer with the real-time pulse ``DLE DC4 1 m t`` (works while the
    #: printer is offline, e.g. paper end) instead of ``ESC p``.
    realtime_drawer_kick: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _VALIDATORS[field.name](self.name, field.name, getattr(self, field.name))
        if self.columns * 8 > self.dots:
            raise ProfileError(
                f"printer profile {self.name!r}: {self.columns} columns do not fit on "
                f"{self.dots} dots (font A needs at least 8 dots per character)"
            )

    def with_overrides(self, overrides: Mapping[str, Any]) -> PrinterProfile:
        """A copy with fields replaced from a config mapping (validated)."""
        return profile_from_mapping(overrides, base=self)


def _check_int(lo: int, hi: int) -> Callable[[str, str, object], None]:
    def check(profile: str, name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ProfileError(
                f"printer profile {profile!r}: {name} must be an integer from {lo} to {hi}, "
                f"got {value!r}"
            )

    return check


def _check_bool(profile: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ProfileError(
            f"printer profile {profile!r}: {name} must be true or false, got {value!r}"
        )


def _check_name(profile: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"printer profile: {name} must be a non-empty string, got {value!r}")


def _check_enum(cls: type[enum.Enum]) -> Callable[[str, str, object], None]:
    def check(profile: str, name: str, value: object) -> None:
        if not isinstance(value, cls):
            choices = ", ".join(repr(m.value) for m in cls)
            raise ProfileError(
                f"printer profile {profile!r}: {name} must be one of {choices}, got {value!r}"
            )

    return check


def _check_encoding(profile: str, name: str, value: object) -> None:
    try:
        if not isinstance(value, str):
            raise LookupError(value)
        codecs.lookup(value)
    except LookupError:
        raise ProfileError(
            f"printer profile {profile!r}: {name} {value!r} is not a known text encoding "
            "(e.g. 'cp858', 'cp437', 'cp1252')"
        ) from None


def _check_pin(profile: str, name: str, value: object) -> None:
    if value not in (2, 5) or isinstance(value, bool):
        raise ProfileError(
            f"printer profile {profile!r}: {name} must be 2 or 5 (drawer kick-out connector "
            f"pin), got {value!r}"
        )


_VALIDATORS: dict[str, Callable[[str, str, object], None]] = {
    "name": _check_name,
    "columns": _check_int(16, 80),
    "dots": _check_int(128, 1024),
    "cut": _check_enum(CutMode),
    "feed_and_cut": _check_bool,
    "cut_feed_lines": _check_int(0, 20),
    "feed_and_cut_units": _check_int(0, 255),
    "native_qr": _check_bool,
    "code_table": _check_int(0, 255),
    "encoding": _check_encoding,
    "drawer_pin": _check_pin,
    # ESC p: on/off time = t x 2 ms with 1 <= t <= 255
    "drawer_on_ms": _check_int(2, 510),
    "drawer_off_ms": _check_int(2, 510),
    "drawer_sensor": _check_enum(DrawerSensor),
    "realtime_status": _check_bool,
    "read_status_after_kick": _check_bool,
    "realtime_drawer_kick": _check_bool,
}

_ENUM_FIELDS: dict[str, type[enum.Enum]] = {"cut": CutMode, "drawer_sensor": DrawerSensor}


BUILTIN_PROFILES: Mapping[str, PrinterProfile] = {
    p.name: p
    for p in (
        # 80 mm at 203 dpi: 576 dots, 48 columns font A.
        PrinterProfile(name="generic-80mm", columns=48, dots=576),
        # 58 mm at 203 dpi: 384 dots, 32 columns. Cheap 58 mm printers usually have no
        # cutter and no native QR.
        PrinterProfile(
            name="generic-58mm",
            columns=32,
            dots=384,
            cut=CutMode.NONE,
            feed_and_cut=False,
            native_qr=False,
        ),
        PrinterProfile(name="epson-tm-t20", columns=48, dots=576),
        # TM-T88V/VI: 80 mm paper on a 512-dot head, 42 columns font A.
        PrinterProfile(name="epson-tm-t88", columns=42, dots=512),
    )
}


def get_profile(name: str) -> PrinterProfile:
    """A built-in profile by name."""
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_PROFILES))
        raise ProfileError(f"unknown printer profile {name!r} (known: {known})") from None


def profile_from_mapping(
    data: Mapping[str, Any], *, base: PrinterProfile | None = None
) -> PrinterProfile:
    """Build a profile from configuration data.

    ``data["base"]`` names a built-in profile to start from (default: ``base`` or
    "generic-80mm"); every other key overrides a field of :class:`PrinterProfile`.
    Enum fields take their string values ("partial", "open-low"). Unknown keys and bad
    values raise :class:`ProfileError` naming the key.
    """
    fields = {f.name for f in dataclasses.fields(PrinterProfile)}
    values = dict(data)
    base_name = values.pop("base", None)
    if base_name is not None:
        if not isinstance(base_name, str):
            raise ProfileError(f"printer profile: base must be a profile name, got {base_name!r}")
        base = get_profile(base_name)
    elif base is None:
        base = BUILTIN_PROFILES["generic-80mm"]
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ProfileError(
            f"printer profile: unknown setting(s) {', '.join(unknown)} "
            f"(known: base, {', '.join(sorted(fields))})"
        )
    name = values.get("name", base.name)
    converted: dict[str, Any] = {}
    for key, raw in values.items():
        enum_cls = _ENUM_FIELDS.get(key)
        if enum_cls is not None and not isinstance(raw, enum_cls):
            try:
                converted[key] = enum_cls(raw)
            except ValueError:
                choices = ", ".join(repr(m.value) for m in enum_cls)
                raise ProfileError(
                    f"printer profile {name!r}: {key} must be one of {choices}, got {raw!r}"
                ) from None
        else:
            converted[key] = raw
    return dataclasses.replace(base, **converted)
