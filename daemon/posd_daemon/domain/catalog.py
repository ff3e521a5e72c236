"""Items the register sells."""

from __future__ import annotations

from dataclasses import dataclass

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.money import MAX_MINOR
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.domain.vat import VatCategory

MAX_BARCODES = 32


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    name: str
    gross_price: int
    currency: str
    vat_category: VatCategory
    barcodes: tuple[str, ...] = ()
    unit: str = "pcs"
    fractional_quantity: bool = False

    def validated(self) -> Item:
        check_code(self.item_id, "item.item_id")
        check_text(self.name, "item.name", max_len=120)
        check_text(self.unit, "item.unit", max_len=8)
        if not 0 <= self.gross_price <= MAX_MINOR:
            raise invalid("item.gross_price.amount_minor", "must be 0 or more")
        if len(self.barcodes) > MAX_BARCODES:
            raise invalid("item.barcodes", f"at most {MAX_BARCODES} barcodes")
        for i, code in enumerate(self.barcodes):
            check_code(code, f"item.barcodes[{i}]")
        if len(set(self.barcodes)) != len(self.barcodes):
            raise invalid("item.barcodes", "duplicate barcode")
        return self
