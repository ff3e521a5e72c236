"""ESC/POS receipt printers: capability profiles, a pure encoder and status decoders."""

from posd_daemon.devices.escpos.codec import drawer_kick, encode_document, status_request
from posd_daemon.devices.escpos.profile import (
    BUILTIN_PROFILES,
    CutMode,
    DrawerSensor,
    PrinterProfile,
    get_profile,
    profile_from_mapping,
)
from posd_daemon.devices.escpos.status import (
    PrinterStatus,
    StatusStreamSplitter,
    decode_asb,
    decode_status,
)

__all__ = [
    "BUILTIN_PROFILES",
    "CutMode",
    "DrawerSensor",
    "PrinterProfile",
    "PrinterStatus",
    "StatusStreamSplitter",
    "decode_asb",
    "decode_status",
    "drawer_kick",
    "encode_document",
    "get_profile",
    "profile_from_mapping",
    "status_request",
]
