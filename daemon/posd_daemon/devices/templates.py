"""Receipt templates as data: logo text, header/footer lines and printer control codes.

A shop's template (a TOML file, or the ``[receipt]`` table of the configuration)::

    logo = ["BÄCKEREI MÜSSIG"]        # printed large and centred at the top
    header = ["Mo-Sa 7-18 Uhr"]      # under the logo
    footer = ["Danke und bis bald!"] # at the end
    start_codes = "1c 70 01 00"      # hex: sent at the start (here: print NV logo 1)
    end_codes = "1b 42 02 02"        # hex: sent before the cut (here: beep twice)

Control codes are validated when the template is loaded: hex bytes, at most 256 of them,
and none of the commands that would break posd's guarantees: a drawer kick (the drawer
opens only after a committed cash payment or a journaled no-sale open), real-time
requests (they would confuse status reading), automatic status back, ``ESC @``
(it would reset the code page the receipt relies on), ``ESC =`` (selecting another
peripheral makes the printer ignore everything after it) and ``GS ( D`` (it can switch
off the real-time commands posd reads the status with).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posd_daemon.domain.document import Align, Block, Document, Feed, RawBytes, Text

MAX_CODE_BYTES = 256

#: (prefix, name) of commands a template must not contain.
_FORBIDDEN: tuple[tuple[bytes, str], ...] = (
    (b"\x1bp", "ESC p (drawer kick)"),
    (b"\x10\x14", "DLE DC4 (real-time drawer pulse / power off)"),
    (b"\x10\x04", "DLE EOT (real-time status request)"),
    (b"\x10\x05", "DLE ENQ (real-time request)"),
    (b"\x1da", "GS a (automatic status back)"),
    (b"\x1b@", "ESC @ (initialise: resets the code page)"),
    # Epson ESC/POS Command Reference, "ESC = n: Select peripheral device": with bit 0
    # of n clear the printer is deselected and ignores all data until ESC = 1.
    (b"\x1b=", "ESC = (select peripheral device)"),
    # Epson ESC/POS Command Reference, "GS ( D: Enable/disable real-time command"
    # (fn 20): disabling DLE EOT / DLE ENQ / DLE DC4 silences posd's status reads.
    (b"\x1d(D", "GS ( D (enable/disable real-time commands)"),
)


class TemplateError(ValueError):
    """A receipt template is invalid; the message names the key."""


def parse_hex_codes(text: str, where: str) -> bytes:
    """``"1b 61 01"`` (spaces, commas, ``0x`` prefixes allowed) -> bytes, validated."""
    cleaned = text.replace(",", " ").replace("0x", " ").replace("0X", " ")
    digits = "".join(cleaned.split())
    if len(digits) % 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise TemplateError(
            f'{where}: not hex bytes: {text[:60]!r} (write e.g. "1b 61 01", two digits a byte)'
        )
    data = bytes.fromhex(digits)
    if len(data) > MAX_CODE_BYTES:
        raise TemplateError(f"{where}: {len(data)} bytes; at most {MAX_CODE_BYTES}")
    for prefix, name in _FORBIDDEN:
        at = data.find(prefix)
        if at >= 0:
            raise TemplateError(f"{where}: contains {name} at byte {at}: not allowed in templates")
    return data


@dataclass(frozen=True, slots=True)
class ReceiptTemplate:
    logo: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    start_codes: bytes = b""
    end_codes: bytes = b""

    @property
    def empty(self) -> bool:
        return not (self.logo or self.header or self.footer or self.start_codes or self.end_codes)

    def apply(self, doc: Document) -> Document:
        """The document with the template's blocks around it."""
        if self.empty:
            return doc
        width = doc.columns
        head: list[Block] = []
        if self.start_codes:
            head.append(RawBytes(self.start_codes))
        head += [
            Text(line[: width // 2], Align.CENTER, bold=True, large=True) for line in self.logo
        ]
        head += [Text(line[:width], Align.CENTER) for line in self.header]
        tail: list[Block] = []
        if self.footer:
            tail += [Text(line[:width], Align.CENTER) for line in self.footer]
            tail.append(Feed())
        if self.end_codes:
            tail.append(RawBytes(self.end_codes))
        return Document(
            columns=width,
            blocks=(*head, *doc.blocks, *tail),
            cut=doc.cut,
            copy=doc.copy,
        )


_KEYS = ("logo", "header", "footer", "start_codes", "end_codes")


def template_from_mapping(data: Mapping[str, Any], where: str = "receipt") -> ReceiptTemplate:
    unknown = sorted(set(data) - set(_KEYS) - {"template"})
    if unknown:
        raise TemplateError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(_KEYS)})")
    lines: dict[str, tuple[str, ...]] = {}
    for key in ("logo", "header", "footer"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TemplateError(f"{where}.{key}: must be a list of strings")
        for v in value:
            if any(ord(c) < 0x20 for c in v):
                raise TemplateError(f"{where}.{key}: control characters in {v[:40]!r}")
        lines[key] = tuple(value)
    codes: dict[str, bytes] = {}
    for key in ("start_codes", "end_codes"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise TemplateError(f"{where}.{key}: must be a string of hex bytes")
        codes[key] = parse_hex_codes(value, f"{where}.{key}") if value.strip() else b""
    return ReceiptTemplate(
        logo=lines["logo"],
        header=lines["header"],
        footer=lines["footer"],
        start_codes=codes["start_codes"],
        end_codes=codes["end_codes"],
    )


def load_template(path: Path) -> ReceiptTemplate:
    """A template file (TOML); raises TemplateError naming the file and key."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{path}: no such receipt template") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the receipt template: {exc}") from None
    return template_from_mapping(data, str(path))
