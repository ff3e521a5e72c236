"""Errors of the device layer.

Every message is written for the technician standing next to the register: it names the
device, what went wrong and, where we can tell, what to do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posd_daemon.services.device_ports import DeviceError as PortDeviceError

if TYPE_CHECKING:
    from posd_daemon.devices.escpos.status import PrinterStatus


class DeviceError(PortDeviceError):
    """Base class of every device failure.

    It is the use cases' port error (``services.device_ports.DeviceError``), so the
    outbox worker keeps the job queued and retries it; ``code`` is stable.
    """

    default_code = "DEVICE_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(code or self.default_code, message)


class TransportError(DeviceError):
    """Bytes could not be sent to or read from a device (unplugged, refused, busy...)."""

    default_code = "UNREACHABLE"


class JobSendError(TransportError):
    """The connection failed while a job was being sent: the printer may have printed
    part of it. The job stays queued; its retry is printed as a copy."""

    partly_done = True

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(f"{message} (the job may be partly printed)", code)


class DeviceUrlError(TransportError, ValueError):
    """A device URL in the configuration is malformed."""

    default_code = "BAD_DEVICE_URL"


class ProfileError(ValueError):
    """A printer or display profile in the configuration is invalid."""


class EncodeError(ValueError):
    """A document cannot be encoded for this printer (a renderer or configuration bug)."""


class StatusDecodeError(ValueError):
    """A status byte from the printer is not shaped like the reply it should be."""


class PrinterNotReadyError(DeviceError):
    """The printer cannot take a job now (paper end, cover open, offline, unreachable).

    Raised *before* any byte of the job is sent, so the job can stay queued and be
    retried once the fault is cleared (after the job: :class:`PrintInterruptedError`).
    """

    def __init__(self, status: PrinterStatus, action: str = "print") -> None:
        self.status = status
        self.action = action
        super().__init__(
            f"printer not ready to {action}: {status.summary()}", status.fault_code() or None
        )


class PrinterJobError(DeviceError):
    """A job cannot be encoded for this printer (renderer or profile mismatch).

    Retrying will not help until the configuration is fixed; it stays visible in the
    outbox instead of stopping the worker.
    """

    default_code = "BAD_DOCUMENT"


class PrintInterruptedError(PrinterNotReadyError):
    """The printer reported a fault (paper end, cover open...) right after a job was sent:
    the receipt may be cut short. The job stays queued; its retry is printed as a copy."""

    partly_done = True

    def __init__(self, status: PrinterStatus) -> None:
        super().__init__(status, "finish the job")
        self.message = f"{self.message} (the job may be partly printed)"
        self.args = (f"{self.code}: {self.message}",)


class DrawerKickExpired(DeviceError):
    """A drawer kick the device got to only after its deadline (queued behind a long
    print): not done, since nobody stands at the drawer any more. No device fault."""

    default_code = "DRAWER_KICK_EXPIRED"
