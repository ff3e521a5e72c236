"""Limits of an item's barcodes hold for its units of measure as for the item itself."""

from __future__ import annotations

from decimal import Decimal

import pytest

from posd_daemon.domain.barcode import gtin_valid
from posd_daemon.domain.catalog import MAX_BARCODES, Item, UnitOfMeasure
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.vat import VatCategory


def _codes(n: int) -> tuple[str, ...]:
    out: list[str] = []
    body = 200000000000
    while len(out) < n:
        for check in range(10):
            code = f"{body}{check}"
            if gtin_valid(code):
                out.append(code)
                break
        body += 1
    return tuple(out)


def test_a_unit_of_measure_has_at_most_max_barcodes() -> None:
    unit = UnitOfMeasure("case", Decimal(6), barcodes=_codes(MAX_BARCODES + 1))
    item = Item("1", "Wasser", 50, "EUR", VatCategory.NORMAL, units=(unit,))
    with pytest.raises(DomainError) as err:
        item.validated()
    assert err.value.violations[0].field == "item.units[0].barcodes"
