"""verify-export on log messages whose DER costs far more to read than its size suggests:
each must end in one named problem quickly and in little memory, never hang a verifier
or take gigabytes (a member may be up to ``MAX_MEMBER_SIZE``, 16 MiB).

- an OBJECT IDENTIFIER with one huge sub-identifier (X.690 §8.19.2: base 128, any
  length): it was decoded by shifting an ever larger integer, quadratic in its length,
  and named as a Python limit ("Exceeds the limit (4300 digits)");
- a log message SEQUENCE holding millions of tiny elements: every one became an object;
- processData as constructed strings nested many levels deep (X.690 §8.7.3, allowed in
  BER, which verify-export must accept for processData): each level decoded its whole
  subtree again;
- INTEGERs (version, logTime) too large to print, named as a Python limit;
- file names with control characters: printed raw, they could rewrite the verdict line
  on a terminal.
"""

from __future__ import annotations

import io
import tarfile
import time
import tracemalloc
from collections.abc import Sequence

import pytest

from posd_daemon.fiscal import der
from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal.verify_export import VerifyReport, verify_export

INFO = ("info.csv", b'"description:","x","manufacturer:","x","version:","1"\r\n')
NAME = "Unixt_1700000000_Sig-1_Log-Tra_No-1_Start_Client-C.log"
ALGORITHM = der.encode_sequence(der.encode_oid(lm.SIGNATURE_ALGORITHM_OIDS["ecdsa-plain-SHA256"]))


def pack(members: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def timed_verify(raw: bytes, name: str = NAME) -> tuple[VerifyReport, float]:
    data = pack([(name, raw), INFO])
    began = time.perf_counter()
    report = verify_export(io.BytesIO(data))
    return report, time.perf_counter() - began


def log_with(process_data_tlv: bytes, *, log_time: bytes | None = None) -> bytes:
    """A StartTransaction log message with the given processData element as stored."""
    certified = b"".join(
        [
            der.encode_printable_string(lm.OPERATION_START, tag=der.context_tag(0)),
            der.encode_printable_string("C", tag=der.context_tag(1)),
            process_data_tlv,
            der.encode_printable_string("Kassenbeleg-V1", tag=der.context_tag(3)),
            der.encode_integer(1, tag=der.context_tag(5)),
        ]
    )
    return der.encode_sequence(
        der.encode_integer(2),
        der.encode_oid(lm.OID_TRANSACTION_LOG),
        certified,
        der.encode_octet_string(bytes(32)),
        ALGORITHM,
        der.encode_integer(1),
        log_time if log_time is not None else der.encode_integer(1_700_000_000),
        der.encode_octet_string(bytes(64)),
    )


def nested_process_data(segments: int, depth: int) -> bytes:
    """processData [2] as ``depth`` levels of indefinite-length constructed OCTET STRINGs
    around ``segments`` empty primitive segments."""
    inner = b"\x04\x00" * segments
    for _ in range(depth):
        inner = b"\x24\x80" + inner + b"\x00\x00"
    return bytes([der.context_tag(2, constructed=True), 0x80]) + inner + b"\x00\x00"


def test_an_oid_with_a_huge_sub_identifier_is_refused_quickly() -> None:
    huge_oid = der.encode_tlv(der.TAG_OID, b"\x81" * 400_000 + b"\x01")
    raw = der.encode_sequence(der.encode_integer(2), huge_oid, *[der.encode_integer(0)] * 6)
    report, seconds = timed_verify(raw)
    first = report.first_problem
    assert first is not None and first.file == NAME, report.summary()
    assert "OBJECT IDENTIFIER" in first.what, str(first)
    assert "digits" not in first.what, str(first)
    assert seconds < 5, seconds


@pytest.mark.parametrize("form", ["definite", "indefinite"])
def test_a_log_message_of_millions_of_tiny_elements_takes_little_memory(form: str) -> None:
    nulls = b"\x05\x00" * 200_000  # 400 KB
    raw = der.encode_sequence(nulls) if form == "definite" else b"\x30\x80" + nulls + b"\x00\x00"
    data = pack([(NAME, raw), INFO])
    tracemalloc.start()
    try:
        report = verify_export(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    first = report.first_problem
    assert first is not None and first.file == NAME, report.summary()
    assert "not a valid log message" in first.what, str(first)
    # the member itself is 400 KB and held a few times (TAR, read copy, slices); one
    # object per element was some 60 bytes per byte of it (24 MB)
    assert peak < 12 * 1024 * 1024, peak


def test_deeply_nested_constructed_process_data_costs_what_flat_does() -> None:
    segments = 100_000
    flat_report, flat = timed_verify(log_with(nested_process_data(segments, 0)))
    deep_report, deep = timed_verify(log_with(nested_process_data(segments, 30)))
    # both parse; the export has no certificate, which is the problem named for both
    assert flat_report.log_messages == deep_report.log_messages == 1
    assert deep < 3 * flat + 1, (flat, deep)


def test_deep_constructed_strings_still_read_as_their_segments() -> None:
    segment = der.encode_octet_string(b"ab")
    inner = b"\x24\x80" + segment + b"\x24\x80" + segment + b"\x00\x00" + segment + b"\x00\x00"
    tlv = der.decode(b"\xa2\x80" + inner + segment + b"\x00\x00", ber=True)
    assert tlv.octets() == b"abababab"
    with pytest.raises(der.DerError):
        der.decode(b"\xa2\x80" + inner + b"\x00\x00", ber=False)
    # a segment that is not universal is still refused
    bad = der.decode(b"\xa2\x80" + b"\x24\x80\x80\x01x\x00\x00" + b"\x00\x00", ber=True)
    with pytest.raises(der.DerError, match="universal"):
        bad.octets()


@pytest.mark.parametrize("where", ["logTime", "version"])
def test_an_integer_too_large_to_print_is_named_not_a_python_limit(where: str) -> None:
    huge = der.encode_integer(1 << 20_000)
    if where == "logTime":
        raw = log_with(der.encode_octet_string(b"", tag=der.context_tag(2)), log_time=huge)
    else:
        raw = der.encode_sequence(huge, der.encode_oid(lm.OID_TRANSACTION_LOG), *[huge] * 6)
    report, _ = timed_verify(raw)
    first = report.first_problem
    assert first is not None and first.file == NAME, report.summary()
    assert where in first.what, str(first)
    assert "digits" not in first.what, str(first)


def test_control_characters_in_a_file_name_cannot_rewrite_the_verdict_line() -> None:
    name = "x\r\x1b[2KOK (3 log messages)\nmore"
    report = verify_export(io.BytesIO(pack([(name, b"data"), INFO])))
    assert not report.ok
    line = report.summary()
    assert all(ch.isprintable() for ch in line), repr(line)
    assert line.startswith("FAILED: "), line
