"""A small, strict DER encoder/decoder (TLV) for TR-03151 log messages.

Only what TSE log messages need: INTEGER, BOOLEAN, OCTET STRING, PrintableString, OBJECT
IDENTIFIER, SEQUENCE, context-specific tags [0]..[30] (implicit), UTCTime and
GeneralizedTime. Encoding is always DER (X.690 §10): definite minimal lengths, minimal
INTEGER contents. Decoding is strict DER by default; ``ber=True`` additionally accepts
what real TSEs were seen to store (fiscal-de.md: "one vendor stores processData as
indefinite-length BER"): indefinite lengths (X.690 §8.1.3.6), non-minimal length octets
and constructed string encodings (X.690 §8.7.3).

Every decoded element keeps the exact bytes it was read from (:attr:`Tlv.raw`), so a
verifier can hash a log message's fields exactly as stored instead of re-encoding them.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Tag classes, bits 8-7 of the identifier octet (X.690 §8.1.2.2).
CLASS_UNIVERSAL = 0x00
CLASS_APPLICATION = 0x40
CLASS_CONTEXT = 0x80
CLASS_PRIVATE = 0xC0
CONSTRUCTED = 0x20

# Universal tag numbers (X.680 §8.4) as complete identifier octets.
TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_NULL = 0x05
TAG_OID = 0x06
TAG_PRINTABLE_STRING = 0x13
TAG_UTC_TIME = 0x17
TAG_GENERALIZED_TIME = 0x18
TAG_SEQUENCE = 0x30  # universal 16, constructed

# PrintableString alphabet (X.680 §41.4, table 10).
_PRINTABLE_RE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")


class DerError(ValueError):
    """Malformed or non-DER input (or a value that cannot be encoded)."""


# --------------------------------------------------------------------------- encoding


def context_tag(number: int, *, constructed: bool = False) -> int:
    """Identifier octet of context-specific tag ``[number]``."""
    if not 0 <= number <= 30:
        raise DerError(f"context tag [{number}] out of the low-tag-number range 0..30")
    return CLASS_CONTEXT | (CONSTRUCTED if constructed else 0) | number


def encode_length(length: int) -> bytes:
    """Definite length octets in the shortest form (X.690 §10.1)."""
    if length < 0:
        raise DerError("negative length")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(body) > 126:
        raise DerError("length too large")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, content: bytes) -> bytes:
    """One TLV with a single identifier octet ``tag`` (class, constructed bit, number)."""
    if not 0 <= tag <= 0xFF or (tag & 0x1F) == 0x1F:
        raise DerError(f"tag 0x{tag:x} is not a low-tag-number identifier octet")
    return bytes([tag]) + encode_length(len(content)) + content


def integer_content(value: int) -> bytes:
    """Minimal two's complement contents of an INTEGER (X.690 §8.3)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DerError("INTEGER value must be an int")
    length = (value + (value < 0)).bit_length() // 8 + 1
    return value.to_bytes(length, "big", signed=True)


def encode_integer(value: int, *, tag: int = TAG_INTEGER) -> bytes:
    return encode_tlv(tag, integer_content(value))


def encode_boolean(value: bool, *, tag: int = TAG_BOOLEAN) -> bytes:
    # DER: TRUE is 0xFF (X.690 §11.1).
    return encode_tlv(tag, b"\xff" if value else b"\x00")


def encode_octet_string(value: bytes, *, tag: int = TAG_OCTET_STRING) -> bytes:
    return encode_tlv(tag, bytes(value))


def check_printable(value: str) -> str:
    """Returns ``value`` if it only uses the PrintableString alphabet, else raises."""
    if _PRINTABLE_RE.fullmatch(value) is None:
        raise DerError(f"not a PrintableString: {value!r}")
    return value


def encode_printable_string(value: str, *, tag: int = TAG_PRINTABLE_STRING) -> bytes:
    return encode_tlv(tag, check_printable(value).encode("ascii"))


def oid_content(dotted: str) -> bytes:
    """Contents octets of an OBJECT IDENTIFIER (X.690 §8.19)."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError:
        raise DerError(f"bad OID {dotted!r}") from None
    if len(arcs) < 2 or any(a < 0 for a in arcs) or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise DerError(f"bad OID {dotted!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def encode_oid(dotted: str) -> bytes:
    return encode_tlv(TAG_OID, oid_content(dotted))


def encode_sequence(*elements: bytes, tag: int = TAG_SEQUENCE) -> bytes:
    """SEQUENCE of already encoded elements."""
    return encode_tlv(tag, b"".join(elements))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise DerError("time must be timezone-aware")
    return moment.astimezone(UTC)


def encode_utc_time(moment: datetime, *, tag: int = TAG_UTC_TIME) -> bytes:
    """UTCTime ``YYMMDDHHMMSSZ`` (DER: seconds present, 'Z', X.690 §11.8)."""
    moment = _utc(moment)
    if not 1950 <= moment.year <= 2049:
        raise DerError("UTCTime covers 1950..2049 only")
    return encode_tlv(tag, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))


def encode_generalized_time(moment: datetime, *, tag: int = TAG_GENERALIZED_TIME) -> bytes:
    """GeneralizedTime ``YYYYMMDDHHMMSS[.fff]Z`` (DER: no trailing fraction zeros)."""
    moment = _utc(moment)
    text = moment.strftime("%Y%m%d%H%M%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return encode_tlv(tag, (text + "Z").encode("ascii"))


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class Tlv:
    """One decoded element, with the exact bytes it was read from."""

    #: The identifier octet (class | constructed | number).
    tag: int
    #: The complete element exactly as stored: identifier, length, contents (and the
    #: end-of-contents octets for an indefinite length).
    raw: bytes
    #: Offset of the contents within :attr:`raw`.
    header_length: int
    #: True when the element used the indefinite length form (BER only).
    indefinite: bool
    #: Whether decoding was done in lenient BER mode (inherited by :meth:`children`).
    ber: bool = False

    @property
    def tag_class(self) -> int:
        return self.tag & 0xC0

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)

    @property
    def number(self) -> int:
        return self.tag & 0x1F

    @property
    def content(self) -> bytes:
        """Contents octets as stored (without the end-of-contents octets)."""
        end = len(self.raw) - 2 if self.indefinite else len(self.raw)
        return self.raw[self.header_length : end]

    def is_context(self, number: int) -> bool:
        return self.tag_class == CLASS_CONTEXT and self.number == number

    def children(self, *, limit: int | None = None) -> list[Tlv]:
        """The elements inside a constructed element (at most ``limit``, see
        :func:`decode_all`)."""
        if not self.constructed:
            raise DerError(f"tag 0x{self.tag:02x} is primitive, it has no children")
        return decode_all(self.content, ber=self.ber, limit=limit)

    def octets(self) -> bytes:
        """String value: the contents, or for a constructed (BER) string the segments joined.

        Works for any string type, including implicitly tagged ones.
        """
        if not self.constructed:
            return self.content
        if not self.ber:
            raise DerError("constructed string encoding is not DER")
        return _string_segments(self.content)


def _read_length(data: bytes, pos: int, *, ber: bool) -> tuple[int | None, int]:
    """Returns (length or None for indefinite, position after the length octets)."""
    if pos >= len(data):
        raise DerError("truncated: length octets missing")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    if first == 0x80:
        if not ber:
            raise DerError("indefinite length is not DER")
        return None, pos
    count = first & 0x7F
    if count == 0x7F:
        raise DerError("reserved length octet 0xff")
    if pos + count > len(data):
        raise DerError("truncated: long form length")
    length = int.from_bytes(data[pos : pos + count], "big")
    if not ber and (length < 0x80 or data[pos] == 0):
        raise DerError("length not in the shortest form (not DER)")
    return length, pos + count


def decode_one(data: bytes, offset: int = 0, *, ber: bool = False) -> tuple[Tlv, int]:
    """Decodes the element at ``offset``; returns it and the offset just after it."""
    return _decode_one(bytes(data), offset, ber=ber)


_MAX_DEPTH = 32


def _header(data: bytes, offset: int, *, ber: bool) -> tuple[int, int | None, int]:
    """(identifier octet, content length or None for indefinite, offset of the contents)
    of the element at ``offset``; a definite length is checked against the data."""
    if offset >= len(data):
        raise DerError("truncated: identifier octet missing")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers (>= 31) are not supported")
    length, pos = _read_length(data, offset + 1, ber=ber)
    if length is not None and pos + length > len(data):
        raise DerError(f"truncated: element 0x{tag:02x} needs {length} content bytes")
    if length is None and not tag & CONSTRUCTED:
        raise DerError("indefinite length on a primitive element")
    return tag, length, pos


def _element_end(data: bytes, offset: int, *, ber: bool, depth: int) -> tuple[int, int, bool]:
    """(identifier octet, offset just after the element, indefinite) without copying
    anything: finding the end of an indefinite-length element means walking the
    elements inside it, and a copy of each on the way made the walk cost the size
    times the depth."""
    if depth > _MAX_DEPTH:
        raise DerError("nesting too deep")
    tag, length, pos = _header(data, offset, ber=ber)
    if length is not None:
        return tag, pos + length, False
    # Indefinite: contents are elements up to the end-of-contents octets 00 00.
    while True:
        if pos + 2 <= len(data) and data[pos] == 0 and data[pos + 1] == 0:
            return tag, pos + 2, True
        if pos >= len(data):
            raise DerError("truncated: end-of-contents missing")
        _, pos, _ = _element_end(data, pos, ber=ber, depth=depth + 1)


def _decode_one(data: bytes, offset: int, *, ber: bool) -> tuple[Tlv, int]:
    tag, end, indefinite = _element_end(data, offset, ber=ber, depth=0)
    _, _, content_start = _header(data, offset, ber=ber)
    return Tlv(tag, data[offset:end], content_start - offset, indefinite, ber), end


def _string_segments(content: bytes) -> bytes:
    """The segments of a constructed (BER) string joined, in one pass over ``content``.

    Segments may themselves be constructed (X.690 §8.7.3.2); decoding each level with
    :meth:`Tlv.children` walked every level's subtree again, so a string nested 30 deep
    cost 30 times its size. Here every octet is looked at once: a stack holds the end of
    each open constructed segment (None while it waits for its end-of-contents)."""
    # Collected in one buffer: a list of millions of tiny segments took a hundred bytes
    # of memory per segment.
    joined = bytearray()
    view = memoryview(content)
    # The outermost level is ``content`` itself: it ends with the data.
    open_ends: list[int | None] = [len(content)]
    pos = 0
    while open_ends:
        end = open_ends[-1]
        if end is not None and pos == end:
            open_ends.pop()
            continue
        if end is None and content[pos : pos + 2] == b"\x00\x00":
            open_ends.pop()
            pos += 2
            continue
        if end is not None and pos > end:
            raise DerError("segment runs past the end of its constructed string")
        tag, length, start = _header(content, pos, ber=True)
        if tag & 0xC0 != CLASS_UNIVERSAL:
            raise DerError("segment of a constructed string must be universal")
        if tag & CONSTRUCTED:
            if len(open_ends) > _MAX_DEPTH:
                raise DerError("nesting too deep")
            open_ends.append(None if length is None else start + length)
            pos = start
        else:
            assert length is not None  # _header refuses an indefinite primitive
            joined += view[start : start + length]
            pos = start + length
    if pos != len(content):
        raise DerError("trailing bytes after the segments of a constructed string")
    return bytes(joined)


def decode_all(data: bytes, *, ber: bool = False, limit: int | None = None) -> list[Tlv]:
    """Decodes consecutive elements that must fill ``data`` exactly.

    ``limit``: more elements than that are an error, raised before they are all made
    (a caller that knows how many it expects bounds the memory a hostile input takes:
    a few megabytes of two-octet elements are millions of objects)."""
    data = bytes(data)
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        if limit is not None and len(out) >= limit:
            raise DerError(f"more than {limit} elements")
        tlv, pos = _decode_one(data, pos, ber=ber)
        out.append(tlv)
    return out


def decode(data: bytes, *, ber: bool = False) -> Tlv:
    """Decodes exactly one element; trailing bytes are an error."""
    tlv, end = decode_one(data, 0, ber=ber)
    if end != len(data):
        raise DerError(f"{len(data) - end} trailing bytes after the element")
    return tlv


def has_der_header(tlv: Tlv) -> bool:
    """True when the element's length octets are the DER form for its contents: definite
    and in the shortest form (X.690 §10.1). Lenient (``ber=True``) decoding accepts
    others; a caller that must insist on DER for an element checks it with this."""
    return not tlv.indefinite and tlv.raw[1 : tlv.header_length] == encode_length(len(tlv.content))


def _expect(tlv: Tlv, tag: int | None, what: str) -> None:
    if tag is not None and tlv.tag != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{tlv.tag:02x}")


def decode_integer(tlv: Tlv, *, tag: int | None = TAG_INTEGER) -> int:
    """INTEGER value (``tag=None`` accepts any tag, e.g. an implicit one)."""
    _expect(tlv, tag, "INTEGER")
    if tlv.constructed:
        raise DerError("INTEGER must be primitive")
    content = tlv.content
    if not content:
        raise DerError("empty INTEGER")
    if len(content) > 1 and (
        (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise DerError("INTEGER not minimally encoded")
    return int.from_bytes(content, "big", signed=True)


def decode_boolean(tlv: Tlv, *, tag: int | None = TAG_BOOLEAN) -> bool:
    _expect(tlv, tag, "BOOLEAN")
    content = tlv.content
    if tlv.constructed or len(content) != 1:
        raise DerError("BOOLEAN must be one primitive octet")
    if content[0] not in (0x00, 0xFF) and not tlv.ber:
        raise DerError("BOOLEAN TRUE must be 0xff in DER")
    return content[0] != 0


def decode_octet_string(tlv: Tlv, *, tag: int | None = TAG_OCTET_STRING) -> bytes:
    _expect(tlv, tag, "OCTET STRING")
    return tlv.octets()


def decode_printable_string(tlv: Tlv, *, tag: int | None = TAG_PRINTABLE_STRING) -> str:
    _expect(tlv, tag, "PrintableString")
    try:
        text = tlv.octets().decode("ascii")
    except UnicodeDecodeError:
        raise DerError("PrintableString is not ASCII") from None
    return check_printable(text)


def decode_oid(tlv: Tlv, *, tag: int | None = TAG_OID) -> str:
    _expect(tlv, tag, "OBJECT IDENTIFIER")
    content = tlv.content
    if tlv.constructed or not content or content[-1] & 0x80:
        raise DerError("malformed OBJECT IDENTIFIER")
    if len(content) > MAX_OID_LENGTH:
        # Each sub-identifier is built by shifting a growing integer: one of n octets
        # costs n squared, a hostile megabyte hours.
        raise DerError(f"OBJECT IDENTIFIER of {len(content)} octets (at most {MAX_OID_LENGTH})")
    arcs: list[int] = []
    value = 0
    start = True
    for byte in content:
        if start and byte == 0x80:
            raise DerError("OID sub-identifier not minimally encoded")
        value = (value << 7) | (byte & 0x7F)
        start = not byte & 0x80
        if start:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


#: Longest OBJECT IDENTIFIER contents decoded. The OIDs of a log message are about ten
#: octets (fiscal-de.md), a 128-bit UUID arc (2.25.x) needs 19; longer ones are refused.
MAX_OID_LENGTH = 128


_UTC_RE = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z")
_GEN_RE = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z")


def decode_utc_time(tlv: Tlv, *, tag: int | None = TAG_UTC_TIME) -> datetime:
    """UTCTime in the DER form ``YYMMDDHHMMSSZ`` (years 50..99 are 19xx, X.509 rule)."""
    _expect(tlv, tag, "UTCTime")
    match = _UTC_RE.fullmatch(tlv.octets().decode("ascii", "replace"))
    if match is None:
        raise DerError("UTCTime not in the form YYMMDDHHMMSSZ")
    yy, mo, dd, hh, mi, ss = (int(g) for g in match.groups())
    year = 1900 + yy if yy >= 50 else 2000 + yy
    try:
        return datetime(year, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError as exc:
        raise DerError(f"bad UTCTime: {exc}") from None


def decode_generalized_time(tlv: Tlv, *, tag: int | None = TAG_GENERALIZED_TIME) -> datetime:
    """GeneralizedTime in the DER form ``YYYYMMDDHHMMSS[.f+]Z``."""
    _expect(tlv, tag, "GeneralizedTime")
    match = _GEN_RE.fullmatch(tlv.octets().decode("ascii", "replace"))
    if match is None:
        raise DerError("GeneralizedTime not in the form YYYYMMDDHHMMSS[.f]Z")
    year, mo, dd, hh, mi, ss = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    try:
        moment = datetime(year, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError as exc:
        raise DerError(f"bad GeneralizedTime: {exc}") from None
    if fraction:
        micro = int((fraction + "000000")[:6])
        moment += timedelta(microseconds=micro)
    return moment
