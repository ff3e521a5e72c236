"""The DSFinV-K export keeps to its own index.xml (every alphanumeric value within its
declared MaxLength, every number within its declared Accuracy) and names the customer
of a sale in the Bonkopf's KUNDE_* columns (transactions.csv)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from posd.client import PosdClient
from posd.v1 import common_pb2, customer_pb2

from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected

CARD = common_pb2.PAYMENT_METHOD_CARD

KUNDE = (
    "KUNDE_NAME",
    "KUNDE_ID",
    "KUNDE_TYP",
    "KUNDE_STRASSE",
    "KUNDE_PLZ",
    "KUNDE_ORT",
    "KUNDE_LAND",
    "KUNDE_USTID",
)

# as long as posd accepts (domain.text.check_code: 64; domain.customer: name and street
# 120, city 80, postal code 16, VAT id 20), longer than DSFinV-K allows
LONG_NUMBER = "K" + "1234567890" * 6 + "XYZ"
LONG_NAME = "Erika " + "Mustermann-" * 9 + "Schulze"
LONG_COMPANY = "Ö" + "sterreichische Handelsgesellschaft " * 3 + "mbH & Co. KG"
LONG_STREET = "Sehr lange Straße mit einem äußerst ausführlichen Namen " * 2
LONG_CITY = "Sankt Marien im Mühlkreis an der Donau bei Linz " + "x" * 31
LONG_PLZ = "A-4040-LINZ-1234"
LONG_ITEM_ID = "ART-" + "9" * 60


def _columns(index_xml: bytes) -> dict[str, list[tuple[str, str, int]]]:
    """Per file its columns as index.xml declares them: (name, kind, length/accuracy)."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for table in ET.fromstring(index_xml).iter("Table"):
        cols: list[tuple[str, str, int]] = []
        # its VariablePrimaryKey then its VariableColumn elements, in document order
        fields = ("VariablePrimaryKey", "VariableColumn")
        for c in (c for c in table.iter() if c.tag in fields):
            name = c.findtext("Name") or ""
            if c.find("AlphaNumeric") is not None:
                cols.append((name, "A", int(c.findtext("MaxLength") or 0)))
            else:
                numeric = c.find("Numeric")
                assert numeric is not None, name
                cols.append((name, "N", int(numeric.findtext("Accuracy") or 0)))
        out[table.findtext("URL") or ""] = cols
    return out


def _check_against_index(tables: dict[str, list[dict[str, str]]], index_xml: bytes) -> int:
    """Every value of every file within what index.xml declares; returns values checked."""
    checked = 0
    for file, cols in _columns(index_xml).items():
        for row in tables[file]:
            assert list(row) == [c[0] for c in cols], file
            for name, kind, n in cols:
                value = row[name]
                if kind == "A":
                    assert len(value) <= n, f"{file} {name}: {len(value)} > {n}: {value!r}"
                else:
                    pattern = rf"-?\d+(,\d{{1,{n}}})?" if n else r"-?\d+"
                    assert value == "" or re.fullmatch(pattern, value), (
                        f"{file} {name}: {value!r} is not a number with at most {n} decimals"
                    )
                checked += 1
    return checked


def _sell_to(pos: PosdClient, customer: str | None, item: str) -> str:
    sid = pos.create_sale().sale_id
    if customer:
        pos.set_customer(sid, customer)
    pos.add_line(sid, item_id=item, quantity="1")
    total = pos.get_sale(sid).total.amount_minor
    pos.add_payment(sid, CARD, total)
    return pos.post_sale(sid).receipt_number


def test_every_value_keeps_to_the_length_index_xml_declares(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item(LONG_ITEM_ID, "Kaffee " + "extra stark " * 9, 899)
    pos.create_customer(
        customer_pb2.Customer(
            customer_number=LONG_NUMBER,
            name=LONG_NAME,
            company=LONG_COMPANY,
            street=LONG_STREET,
            postal_code=LONG_PLZ,
            city=LONG_CITY,
            country_code="AT",
            vat_id="CHE-123.456.789 MWST",
        )
    )
    dc.open_shift([])
    _sell_to(pos, LONG_NUMBER, LONG_ITEM_ID)
    close_as_expected(dc)
    z = dc.z_closing()
    tables, raw = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))

    assert _check_against_index(tables, raw["index.xml"]) > 100
    # cut at the declared length, from the start (what an importer would keep)
    line = next(r for r in tables["lines.csv"] if r["ART_NR"].startswith("ART-"))
    assert line["ART_NR"] == LONG_ITEM_ID[:50]
    head = next(r for r in tables["transactions.csv"] if r["KUNDE_ID"])
    assert head["KUNDE_ID"] == LONG_NUMBER[:50]
    assert head["KUNDE_NAME"] == LONG_COMPANY[:50]
    assert head["KUNDE_STRASSE"] == LONG_STREET[:60]
    assert head["KUNDE_ORT"] == LONG_CITY[:62]
    assert head["KUNDE_PLZ"] == LONG_PLZ[:10]
    # the VAT id without its separators (16 characters) still one too long for A15
    assert head["KUNDE_USTID"] == "CHE123456789MWS"


def test_a_sales_customer_is_named_in_the_bonkopf(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 899)
    pos.create_customer(
        customer_pb2.Customer(
            customer_number="B-1",
            name="Max Muster",
            company="Muster GmbH",
            street="Hauptstr. 1",
            postal_code="1010",
            city="Wien",
            country_code="AT",
            vat_id="ATU12345678",
            price_entry=common_pb2.PRICE_BASIS_NET,
        )
    )
    pos.create_customer(
        customer_pb2.Customer(
            customer_number="P-7",
            name="Erika Mustermann",
            street="Am Markt 3",
            postal_code="10115",
            city="Berlin",
            country_code="DE",
        )
    )
    dc.open_shift([])
    business = _sell_to(pos, "B-1", "A")
    walk_in = _sell_to(pos, None, "A")
    consumer = _sell_to(pos, "P-7", "A")
    close_as_expected(dc)
    z = dc.z_closing()
    tables, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))

    # the sales' Bonköpfe (a cash movement's has its BON_NAME and its own BON_NR)
    heads = {
        int(r["BON_NR"]): r
        for r in tables["transactions.csv"]
        if r["BON_TYP"] == "Beleg" and not r["BON_NAME"]
    }
    assert set(heads) >= {business, walk_in, consumer}

    def kunde(receipt: str) -> tuple[str, ...]:
        return tuple(heads[int(receipt)][c] for c in KUNDE)

    # the company is the Leistungsempfänger; the country as ISO 3166-1 alpha-3
    assert kunde(business) == (
        "Muster GmbH",
        "B-1",
        "Unternehmen",
        "Hauptstr. 1",
        "1010",
        "Wien",
        "AUT",
        "ATU12345678",
    )
    # a consumer: no type claimed (the sale does not know one)
    assert kunde(consumer) == (
        "Erika Mustermann",
        "P-7",
        "",
        "Am Markt 3",
        "10115",
        "Berlin",
        "DEU",
        "",
    )
    # the anonymous walk-in customer names nobody
    assert kunde(walk_in) == ("",) * 8
