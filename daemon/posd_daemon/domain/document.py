"""A printable document (receipt, slip, report) as pure data.

Rendering a sale into a document is domain work; turning a document into printer bytes
is a device codec's work (``devices/escpos``); sending the bytes is a transport's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Align(enum.Enum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class Text:
    """One line of text. Longer than the paper's columns is the renderer's bug."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    #: Double width and height (headline, total).
    large: bool = False


@dataclass(frozen=True, slots=True)
class QrCode:
    """A QR code, printed natively (ESC/POS ``GS ( k``) where the printer can."""

    data: str
    #: Module size in dots (1..16).
    size: int = 3


@dataclass(frozen=True, slots=True)
class Barcode:
    """A 1-D barcode (EAN13 or CODE128)."""

    data: str
    symbology: str = "CODE128"


@dataclass(frozen=True, slots=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True, slots=True)
class RawBytes:
    """Printer control codes from a shop's template (validated hex), passed through."""

    data: bytes


Block = Text | QrCode | Barcode | Feed | RawBytes


@dataclass(frozen=True, slots=True)
class Document:
    """A document for a paper of ``columns`` characters (font A)."""

    columns: int
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    #: Cut the paper at the end.
    cut: bool = True
    #: True for a deliberate reprint: the renderer marks it as a copy.
    copy: bool = False

    def plain_text(self) -> str:
        """The document as plain text (what a simulated printer shows)."""
        out: list[str] = []
        for block in self.blocks:
            if isinstance(block, Text):
                if block.align is Align.CENTER:
                    out.append(block.text.center(self.columns).rstrip())
                elif block.align is Align.RIGHT:
                    out.append(block.text.rjust(self.columns))
                else:
                    out.append(block.text)
            elif isinstance(block, QrCode):
                out.append(f"[QR {block.data}]")
            elif isinstance(block, Barcode):
                out.append(f"[{block.symbology} {block.data}]".center(self.columns).rstrip())
            elif isinstance(block, Feed):
                out.extend([""] * block.lines)
        return "\n".join(out) + "\n"
