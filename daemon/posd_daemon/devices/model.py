"""The UnifiedPOS-style device model: classes, states, health, statistics, events.

Pure data; the manager (``devices/manager.py``) fills it in. Event payloads are published
on the daemon's event bus and streamed by ``DeviceService.SubscribeEvents``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class DeviceClass(enum.Enum):
    PRINTER = "printer"
    DRAWER = "drawer"
    DISPLAY = "display"
    SCANNER = "scanner"
    TSE = "tse"


class DeviceState(enum.Enum):
    """UnifiedPOS states: CLOSED (not opened/claimed), IDLE, BUSY (a job runs),
    ERROR (offline, unplugged, or a fault that stops it working)."""

    CLOSED = "closed"
    IDLE = "idle"
    BUSY = "busy"
    ERROR = "error"


class HealthLevel(enum.Enum):
    #: Checks without any visible effect (open the port, read the status).
    INTERNAL = "internal"
    #: Makes the device do something (test page, drawer kick, display pattern).
    EXTERNAL = "external"
    #: External, then the technician confirms what happened.
    INTERACTIVE = "interactive"


class HealthStatus(enum.Enum):
    UNKNOWN = "unknown"
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    #: Interactive check done on the device: waiting for the operator's answer.
    PENDING_CONFIRMATION = "pending_confirmation"


class StatusCode(enum.Enum):
    """UnifiedPOS status updates (typed, so a UI need not parse messages)."""

    ONLINE = "online"
    OFFLINE = "offline"
    COVER_OPEN = "cover_open"
    COVER_OK = "cover_ok"
    PAPER_END = "paper_end"
    PAPER_NEAR_END = "paper_near_end"
    PAPER_OK = "paper_ok"
    DRAWER_OPEN = "drawer_open"
    DRAWER_CLOSED = "drawer_closed"
    ERROR = "error"
    ERROR_CLEARED = "error_cleared"


@dataclass
class DeviceStatistics:
    """Counters since the daemon started (UnifiedPOS statistics)."""

    jobs: int = 0
    lines: int = 0
    cuts: int = 0
    drawer_openings: int = 0
    errors: int = 0
    bytes_written: int = 0
    status_reads: int = 0
    scans: int = 0
    scans_rejected: int = 0
    display_updates: int = 0
    #: Seconds the device was online (UnifiedPOS "hours powered").
    online_seconds: float = 0.0

    def copy(self) -> DeviceStatistics:
        return DeviceStatistics(**{k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class HealthReport:
    level: HealthLevel
    status: HealthStatus
    message: str
    time: datetime
    #: For an interactive check: the id to confirm it with, and what to ask.
    check_id: str = ""
    prompt: str = ""
    #: Scanner interactive check: the code that was scanned.
    scanned_code: str = ""


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """Everything ListDevices/GetDevice show about one device."""

    device_id: str
    alias: str
    #: None for a device found by discovery whose kind is not known.
    device_class: DeviceClass | None
    url: str
    description: str
    state: DeviceState
    online: bool
    configured: bool
    statistics: DeviceStatistics
    health: tuple[HealthReport, ...] = ()
    last_error: str = ""
    #: Decoded status flags (printer: online, cover_open, paper_end...; drawer: open).
    status: dict[str, bool] = field(default_factory=dict)
    status_summary: str = ""
    #: What a display shows now.
    display_lines: tuple[str, ...] = ()
    #: The stable id the device was found under (USB serial number, bus path, port).
    hardware_id: str = ""


# -- event payloads ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceStateChanged:
    device_id: str
    state: DeviceState
    previous: DeviceState
    online: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class DeviceStatusUpdate:
    device_id: str
    status: StatusCode
    message: str = ""


@dataclass(frozen=True, slots=True)
class DeviceFault:
    """An operation failed (the job stays queued where it came from the outbox)."""

    device_id: str
    code: str
    message: str
    operation: str = ""


@dataclass(frozen=True, slots=True)
class OutputComplete:
    device_id: str
    #: print, test_page, drawer_kick, display
    operation: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ScanData:
    """A code from a scanner and where it went."""

    device_id: str
    code: str
    symbology: str
    #: sale (added to the active sale), ui (for the UI to handle), health_check
    routed_to: str = "ui"
    sale_id: str = ""
    #: "" when the line was added; otherwise the reason it was not (UNKNOWN_CODE...)
    error_reason: str = ""
    error_message: str = ""


@dataclass(frozen=True, slots=True)
class ScanRejected:
    """Scanner input that is not a usable code (noise, partial code, burst...)."""

    device_id: str
    reason: str
    detail: str
