"""Items the register sells: types, variants, units of measure, barcodes, tracking, vendors.

* An item's ``price`` is in the shop's local currency, gross or net (``price_basis``).
* Variants (size, colour) may carry their own price and barcodes; an item with variants
  is only ever sold as one of them.
* Units of measure: the base unit (``unit``, e.g. "pcs" or "kg") plus further units
  (e.g. "case" = 6 pcs) with their quantity per unit, an optional own price, whether
  quantities may be fractional, and barcodes. Stock is kept in base units.
* A barcode may belong to several items (the client then chooses); within one item it
  names exactly one variant/unit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from posd_daemon.domain.barcode import check_barcode, gtin_key
from posd_daemon.domain.errors import invalid
from posd_daemon.domain.money import MAX_MINOR, amount_out_of_range, round_half_up
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.domain.vat import PriceBasis, VatCategory

MAX_BARCODES = 32
MAX_VARIANTS = 200
MAX_UNITS = 16
MAX_VENDOR_ITEMS = 5000
MAX_UNIT_FACTOR = Decimal(100_000)


class ItemType(enum.Enum):
    INVENTORY = "INVENTORY"  # stock is kept
    SERVICE = "SERVICE"  # no stock
    VOUCHER = "VOUCHER"  # no stock; usually NOT_TAXABLE (Mehrzweckgutschein)

    @property
    def stocked(self) -> bool:
        return self is ItemType.INVENTORY


class Tracking(enum.Enum):
    NONE = "NONE"
    LOT = "LOT"  # every line names a lot (batch)
    SERIAL = "SERIAL"  # every line is one serial-numbered piece


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: str
    name: str
    barcodes: tuple[str, ...] = ()
    #: own price (local currency, the item's price basis); None: the item's price
    price: int | None = None


@dataclass(frozen=True, slots=True)
class UnitOfMeasure:
    unit: str
    #: base units in one of this unit (e.g. 6 for a case of 6 pcs)
    quantity_per_unit: Decimal
    #: price per this unit; None: the base price times quantity_per_unit
    price: int | None = None
    fractional_quantity: bool = False
    barcodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    name: str
    #: list price per base unit, local currency, gross or net as ``price_basis`` says
    price: int
    currency: str
    vat_category: VatCategory
    barcodes: tuple[str, ...] = ()
    unit: str = "pcs"
    fractional_quantity: bool = False
    price_basis: PriceBasis = PriceBasis.GROSS
    item_type: ItemType = ItemType.INVENTORY
    tracking: Tracking = Tracking.NONE
    variants: tuple[Variant, ...] = ()
    units: tuple[UnitOfMeasure, ...] = ()

    @property
    def price_field(self) -> str:
        return "item.gross_price" if self.price_basis is PriceBasis.GROSS else "item.net_price"

    def variant(self, variant_id: str) -> Variant | None:
        for v in self.variants:
            if v.variant_id == variant_id:
                return v
        return None

    def unit_of(self, unit: str) -> UnitOfMeasure | None:
        """The unit of measure called ``unit`` ("" or the base unit: the base unit)."""
        if unit in ("", self.unit):
            return UnitOfMeasure(self.unit, Decimal(1), None, self.fractional_quantity)
        for u in self.units:
            if u.unit == unit:
                return u
        return None

    def unit_price(self, variant: Variant | None, unit: UnitOfMeasure) -> int:
        """List price of one ``unit`` of ``variant`` (local currency, item basis)."""
        if unit.price is not None:
            return unit.price
        base = variant.price if variant is not None and variant.price is not None else self.price
        if unit.quantity_per_unit == 1:
            return base
        return round_half_up(Decimal(base) * unit.quantity_per_unit)

    def all_barcodes(self) -> list[tuple[str, str, str]]:
        """(code, variant_id, unit) for every barcode of the item."""
        out = [(code, "", "") for code in self.barcodes]
        for v in self.variants:
            out += [(code, v.variant_id, "") for code in v.barcodes]
        for u in self.units:
            out += [(code, "", u.unit) for code in u.barcodes]
        return out

    def validated(self) -> Item:
        check_code(self.item_id, "item.item_id")
        check_text(self.name, "item.name", max_len=120)
        check_text(self.unit, "item.unit", max_len=8)
        if self.price > MAX_MINOR:
            raise amount_out_of_range(f"{self.price_field}.amount_minor")
        if self.price < 0:
            raise invalid(f"{self.price_field}.amount_minor", "must be 0 or more")
        if len(self.barcodes) > MAX_BARCODES:
            raise invalid("item.barcodes", f"at most {MAX_BARCODES} barcodes")
        for i, code in enumerate(self.barcodes):
            check_barcode(code, f"item.barcodes[{i}]")
        if len(self.variants) > MAX_VARIANTS:
            raise invalid("item.variants", f"at most {MAX_VARIANTS} variants")
        seen_variants: set[str] = set()
        for i, v in enumerate(self.variants):
            check_code(v.variant_id, f"item.variants[{i}].variant_id")
            check_text(v.name, f"item.variants[{i}].name", max_len=60)
            if v.variant_id in seen_variants:
                raise invalid(f"item.variants[{i}].variant_id", "duplicate variant id")
            seen_variants.add(v.variant_id)
            if v.price is not None and v.price > MAX_MINOR:
                raise amount_out_of_range(f"item.variants[{i}].price.amount_minor")
            if v.price is not None and v.price < 0:
                raise invalid(f"item.variants[{i}].price.amount_minor", "must be 0 or more")
            if len(v.barcodes) > MAX_BARCODES:
                raise invalid(f"item.variants[{i}].barcodes", f"at most {MAX_BARCODES}")
            for j, code in enumerate(v.barcodes):
                check_barcode(code, f"item.variants[{i}].barcodes[{j}]")
        if len(self.units) > MAX_UNITS:
            raise invalid("item.units", f"at most {MAX_UNITS} units of measure")
        seen_units = {self.unit}
        for i, u in enumerate(self.units):
            check_text(u.unit, f"item.units[{i}].unit", max_len=8)
            if u.unit in seen_units:
                raise invalid(f"item.units[{i}].unit", "duplicate unit (or the base unit)")
            seen_units.add(u.unit)
            q = u.quantity_per_unit
            if not q.is_finite() or q <= 0 or q > MAX_UNIT_FACTOR:
                raise invalid(
                    f"item.units[{i}].quantity_per_unit", "must be greater than 0 (and sane)"
                )
            if q != q.quantize(Decimal("0.001")):
                raise invalid(f"item.units[{i}].quantity_per_unit", "at most 3 decimal places")
            if self.tracking is Tracking.SERIAL and (q != 1 or u.fractional_quantity):
                # a line with a serial number is one piece: one serial leaves stock, so
                # "1 case of 6" would charge six pieces and take one
                raise invalid(
                    f"item.units[{i}].quantity_per_unit",
                    "a serial-numbered item is sold in whole single pieces: every unit is"
                    " 1 piece, not fractional",
                    "SERIAL_UNIT_NOT_ONE_PIECE",
                )
            if u.price is not None and u.price > MAX_MINOR:
                raise amount_out_of_range(f"item.units[{i}].price.amount_minor")
            if u.price is not None and u.price < 0:
                raise invalid(f"item.units[{i}].price.amount_minor", "must be 0 or more")
            if u.price is None:
                self._check_derived_price(i, u)
            if len(u.barcodes) > MAX_BARCODES:
                raise invalid(f"item.units[{i}].barcodes", f"at most {MAX_BARCODES}")
            for j, code in enumerate(u.barcodes):
                check_barcode(code, f"item.units[{i}].barcodes[{j}]")
        codes = [gtin_key(code) for code, _, _ in self.all_barcodes()]
        if len(set(codes)) != len(codes):
            raise invalid("item.barcodes", "duplicate barcode")
        if self.tracking is Tracking.SERIAL and self.fractional_quantity:
            raise invalid("item.fractional_quantity", "serial-numbered items are whole pieces")
        if self.tracking is not Tracking.NONE and not self.item_type.stocked:
            raise invalid("item.tracking", "only inventory items have lots or serial numbers")
        return self

    def _check_derived_price(self, index: int, unit: UnitOfMeasure) -> None:
        """A unit without its own price costs the base price times its factor, which
        must be whole minor units: a line's unit price is rounded once and then
        multiplied by the quantity, so a gram of cheese at 29.90/kg (2.99 cents) rounded
        to 3 cents makes 500 g cost 15.00 instead of 14.95, and a gram of apples at
        2.49/kg would cost nothing. The shop sets the unit's price instead."""
        bases = [self.price, *(v.price for v in self.variants if v.price is not None)]
        for base in bases:
            exact = Decimal(base) * unit.quantity_per_unit
            if exact != exact.to_integral_value():
                raise invalid(
                    f"item.units[{index}].price",
                    f"{unit.quantity_per_unit} x {base} is no whole number of minor units"
                    f" ({exact}): give the unit {unit.unit!r} its own price",
                    "UNIT_PRICE_REQUIRED",
                )


@dataclass(frozen=True, slots=True)
class VendorItem:
    item_id: str
    vendor_item_number: str = ""


@dataclass(frozen=True, slots=True)
class Vendor:
    vendor_number: str
    name: str
    items: tuple[VendorItem, ...] = ()

    def validated(self) -> Vendor:
        check_code(self.vendor_number, "vendor.vendor_number")
        check_text(self.name, "vendor.name", max_len=120)
        if len(self.items) > MAX_VENDOR_ITEMS:
            raise invalid("vendor.items", f"at most {MAX_VENDOR_ITEMS} items")
        seen: set[str] = set()
        for i, it in enumerate(self.items):
            check_code(it.item_id, f"vendor.items[{i}].item_id")
            check_text(
                it.vendor_item_number,
                f"vendor.items[{i}].vendor_item_number",
                max_len=64,
                required=False,
            )
            if it.item_id in seen:
                raise invalid(f"vendor.items[{i}].item_id", "listed twice")
            seen.add(it.item_id)
        return self
