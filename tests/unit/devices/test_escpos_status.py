"""DLE EOT replies and ASB packets, bit by bit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.devices.errors import StatusDecodeError
from posd_daemon.devices.escpos.profile import DrawerSensor
from posd_daemon.devices.escpos.status import (
    AsbPacket,
    ErrorCause,
    OfflineCause,
    PaperSensor,
    PrinterInfo,
    PrinterStatus,
    RealtimeReply,
    StatusStreamSplitter,
    UnknownByte,
    check_reply,
    decode_asb,
    decode_error_cause,
    decode_offline_cause,
    decode_paper_sensor,
    decode_printer_info,
    decode_status,
)

OK = bytes((0x12, 0x12, 0x12, 0x12))


def test_idle_reply_bytes_decode_to_all_clear() -> None:
    assert decode_printer_info(0x12) == PrinterInfo(pin3_high=False, offline=False)
    assert decode_offline_cause(0x12) == OfflineCause(False, False, False, False)
    assert decode_error_cause(0x12) == ErrorCause(False, False, False, False)
    assert decode_paper_sensor(0x12) == PaperSensor(near_end=False, end=False)


@pytest.mark.parametrize(
    ("n", "byte", "expected"),
    [
        (1, 0x16, PrinterInfo(pin3_high=True, offline=False)),  # bit 2
        (1, 0x1A, PrinterInfo(pin3_high=False, offline=True)),  # bit 3
        (2, 0x16, OfflineCause(True, False, False, False)),  # bit 2 cover open
        (2, 0x1A, OfflineCause(False, True, False, False)),  # bit 3 feed button
        (2, 0x32, OfflineCause(False, False, True, False)),  # bit 5 paper end stop
        (2, 0x52, OfflineCause(False, False, False, True)),  # bit 6 error
        (3, 0x16, ErrorCause(True, False, False, False)),  # bit 2 recoverable
        (3, 0x1A, ErrorCause(False, True, False, False)),  # bit 3 autocutter
        (3, 0x32, ErrorCause(False, False, True, False)),  # bit 5 unrecoverable
        (3, 0x52, ErrorCause(False, False, False, True)),  # bit 6 auto-recoverable
        (4, 0x1E, PaperSensor(near_end=True, end=False)),  # bits 2+3
        (4, 0x72, PaperSensor(near_end=False, end=True)),  # bits 5+6
        (4, 0x7E, PaperSensor(near_end=True, end=True)),
        (4, 0x16, PaperSensor(near_end=True, end=False)),  # one bit of the pair suffices
    ],
)
def test_every_status_bit(n: int, byte: int, expected: object) -> None:
    decoder = {
        1: decode_printer_info,
        2: decode_offline_cause,
        3: decode_error_cause,
        4: decode_paper_sensor,
    }[n]
    assert decoder(byte) == expected


@pytest.mark.parametrize("byte", [0x00, 0x02, 0x10, 0x13, 0x92, 0x93, 0xFF, 0x1B])
def test_malformed_reply_bytes_are_rejected(byte: int) -> None:
    with pytest.raises(StatusDecodeError, match=r"malformed DLE EOT 2 \(offline cause\) reply"):
        decode_offline_cause(byte)


def test_reply_must_be_a_byte() -> None:
    with pytest.raises(StatusDecodeError, match="one byte"):
        check_reply(0x112)


@given(st.integers(0, 255))
def test_shape_check_is_exactly_0xx1xx10(byte: int) -> None:
    shaped = (byte >> 7) & 1 == 0 and (byte >> 4) & 1 == 1 and byte & 0b11 == 0b10
    if shaped:
        assert check_reply(byte) == byte
    else:
        with pytest.raises(StatusDecodeError):
            check_reply(byte)


def test_combined_status_ok() -> None:
    status = decode_status(OK)
    assert status.ready
    assert status.online
    assert status.drawer_open is False
    assert status.problems() == ()
    assert status.summary() == "ready"
    assert status.fault_code() == ""


def test_paper_near_end_is_a_warning_only() -> None:
    status = decode_status(bytes((0x12, 0x12, 0x12, 0x1E)))
    assert status.ready
    assert status.paper_near_end
    assert status.problems() == ("paper near end: have a new roll ready",)


@pytest.mark.parametrize(
    ("replies", "code", "field"),
    [
        ((0x1A, 0x32, 0x12, 0x72), "PAPER_END", "paper_end"),
        ((0x1A, 0x16, 0x12, 0x12), "COVER_OPEN", "cover_open"),
        ((0x1A, 0x52, 0x1A, 0x12), "CUTTER_ERROR", "cutter_error"),
        ((0x1A, 0x52, 0x32, 0x12), "PRINTER_ERROR", "unrecoverable_error"),
        ((0x1A, 0x52, 0x52, 0x12), "PRINTER_ERROR", "auto_recoverable_error"),
        ((0x1A, 0x12, 0x12, 0x12), "OFFLINE", "online"),
    ],
)
def test_faults_stop_printing(replies: tuple[int, ...], code: str, field: str) -> None:
    status = decode_status(bytes(replies))
    assert not status.ready
    assert status.fault_code() == code
    assert getattr(status, field) is (field != "online")
    assert status.problems()


def test_paper_end_from_the_offline_cause_alone_counts() -> None:
    assert decode_status(bytes((0x1A, 0x32, 0x12, 0x12))).paper_end


@pytest.mark.parametrize(
    ("sensor", "pin3_high", "drawer_open"),
    [
        (DrawerSensor.OPEN_HIGH, True, True),
        (DrawerSensor.OPEN_HIGH, False, False),
        (DrawerSensor.OPEN_LOW, True, False),
        (DrawerSensor.OPEN_LOW, False, True),
        (DrawerSensor.NONE, True, None),
    ],
)
def test_drawer_sensor_polarity_comes_from_the_profile(
    sensor: DrawerSensor, pin3_high: bool, drawer_open: bool | None
) -> None:
    first = 0x16 if pin3_high else 0x12
    assert decode_status(bytes((first, 0x12, 0x12, 0x12)), sensor).drawer_open is drawer_open


def test_decode_status_needs_four_well_formed_replies() -> None:
    with pytest.raises(StatusDecodeError, match="expected 4 status replies"):
        decode_status(b"\x12\x12\x12")
    with pytest.raises(StatusDecodeError, match=r"DLE EOT 3 \(error cause\)"):
        decode_status(b"\x12\x12\x00\x12")


def test_unreachable_and_assumed_status() -> None:
    status = PrinterStatus.unreachable("connection refused by 10.0.0.9:9100")
    assert not status.ready
    assert status.fault_code() == "UNREACHABLE"
    assert status.summary() == "no answer from printer: connection refused by 10.0.0.9:9100"
    assumed = PrinterStatus.assumed_online("status not readable over device file /tmp/x")
    assert assumed.ready
    assert not assumed.known
    assert assumed.summary().startswith("ready (assumed")


# --- ASB --------------------------------------------------------------------------------


def test_asb_all_clear() -> None:
    status = decode_asb(b"\x10\x00\x00\x00")
    assert status.ready
    assert status.drawer_open is False


@pytest.mark.parametrize(
    ("packet", "field", "value"),
    [
        (b"\x14\x00\x00\x00", "drawer_open", True),  # byte 1 bit 2: pin 3
        (b"\x18\x00\x00\x00", "online", False),  # byte 1 bit 3
        (b"\x30\x00\x00\x00", "cover_open", True),  # byte 1 bit 5
        (b"\x50\x00\x00\x00", "paper_feed_button", True),  # byte 1 bit 6
        (b"\x10\x04\x00\x00", "recoverable_error", True),  # byte 2 bit 2
        (b"\x10\x08\x00\x00", "cutter_error", True),  # byte 2 bit 3
        (b"\x10\x20\x00\x00", "unrecoverable_error", True),  # byte 2 bit 5
        (b"\x10\x40\x00\x00", "auto_recoverable_error", True),  # byte 2 bit 6
        (b"\x10\x00\x03\x00", "paper_near_end", True),  # byte 3 bits 0+1
        (b"\x10\x00\x0c\x00", "paper_end", True),  # byte 3 bits 2+3
    ],
)
def test_every_asb_bit(packet: bytes, field: str, value: bool) -> None:
    assert getattr(decode_asb(packet), field) is value


def test_asb_drawer_polarity() -> None:
    assert decode_asb(b"\x14\x00\x00\x00", DrawerSensor.OPEN_LOW).drawer_open is False
    assert decode_asb(b"\x14\x00\x00\x00", DrawerSensor.NONE).drawer_open is None


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (b"\x10\x00\x00", "an ASB packet has 4 bytes"),
        (b"\x12\x00\x00\x00", "malformed ASB first byte 0x12"),
        (b"\x00\x00\x00\x00", "malformed ASB first byte 0x00"),
        (b"\x10\x10\x00\x00", "malformed ASB byte 2 0x10"),
        (b"\x10\x00\x00\x80", "malformed ASB byte 4 0x80"),
    ],
)
def test_malformed_asb_is_rejected(packet: bytes, message: str) -> None:
    with pytest.raises(StatusDecodeError, match=message):
        decode_asb(packet)


# --- stream splitter --------------------------------------------------------------------


def test_splitter_tells_asb_packets_from_replies() -> None:
    splitter = StatusStreamSplitter()
    stream = b"\x12" + b"\x18\x00\x0c\x00" + b"\x16\x12" + b"\x10\x00\x00\x00" + b"\x72"
    assert splitter.feed(stream) == [
        RealtimeReply(0x12),
        AsbPacket(b"\x18\x00\x0c\x00"),
        RealtimeReply(0x16),
        RealtimeReply(0x12),
        AsbPacket(b"\x10\x00\x00\x00"),
        RealtimeReply(0x72),
    ]
    assert splitter.pending == b""


def test_splitter_waits_for_the_rest_of_an_asb_packet() -> None:
    splitter = StatusStreamSplitter()
    assert splitter.feed(b"\x12\x30\x00") == [RealtimeReply(0x12)]
    assert splitter.pending == b"\x30\x00"
    assert splitter.feed(b"\x00") == []
    assert splitter.feed(b"\x00\x16") == [AsbPacket(b"\x30\x00\x00\x00"), RealtimeReply(0x16)]


def test_splitter_drops_xon_xoff_even_inside_an_asb_packet() -> None:
    splitter = StatusStreamSplitter()
    assert splitter.feed(b"\x11\x10\x13\x00\x00\x11\x00") == [AsbPacket(b"\x10\x00\x00\x00")]


def test_splitter_reports_garbage() -> None:
    splitter = StatusStreamSplitter()
    # 0x10 looks like an ASB start, but 0x12 cannot be an ASB tail byte
    assert splitter.feed(b"\xff\x10\x12\x00") == [
        UnknownByte(0xFF),
        UnknownByte(0x10),
        RealtimeReply(0x12),
        UnknownByte(0x00),
    ]
    splitter.feed(b"\x10")
    splitter.reset()
    assert splitter.pending == b""


@given(st.binary(max_size=64), st.integers(1, 8))
def test_splitter_is_independent_of_chunking(data: bytes, chunk: int) -> None:
    whole = StatusStreamSplitter()
    expected = whole.feed(data)
    pieces = StatusStreamSplitter()
    got = []
    for i in range(0, len(data), chunk):
        got.extend(pieces.feed(data[i : i + chunk]))
    assert got == expected
    assert pieces.pending == whole.pending
