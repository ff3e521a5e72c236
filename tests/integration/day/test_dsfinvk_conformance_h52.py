"""DSFinV-K export conformance against the spec's index.xml (DSFinV-K 2.x, Anhang:
index.xml; GDPdU DTD 1.5): every number written with exactly the Accuracy its column
declares (lines_vat POS_BRUTTO and the other Accuracy-5 amounts were written with two
decimals), the tables' keys declared (VariablePrimaryKey, ForeignKey), every row's key
unique, and tse.csv of a TSE that never signed anything (a Z recorded wholly in an
outage) still naming the TSE that transactions_tse.csv refers to. Through the API on a
real SQLite file; the outage with a fake fiskaly cloud TSE over HTTP."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.conftest import start_in_thread
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import read_export
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.cash import close_as_expected
from tests.support.fake_fiskaly import FakeFiskaly

CASH = common_pb2.PAYMENT_METHOD_CASH

Z_KEY = ["Z_KASSE_ID", "Z_ERSTELLUNG", "Z_NR"]


def _numeric_columns(index_xml: bytes) -> dict[str, dict[str, int]]:
    """Per file its numeric columns (keys and others) with their declared Accuracy."""
    out: dict[str, dict[str, int]] = {}
    for table in ET.fromstring(index_xml).iter("Table"):
        cols: dict[str, int] = {}
        for c in table.find("VariableLength") or []:
            numeric = c.find("Numeric")
            if c.tag in ("VariablePrimaryKey", "VariableColumn") and numeric is not None:
                cols[c.findtext("Name") or ""] = int(numeric.findtext("Accuracy") or 0)
        out[table.findtext("URL") or ""] = cols
    return out


def _keys(index_xml: bytes) -> dict[str, tuple[list[str], list[tuple[list[str], str]]]]:
    """Per file its primary key columns and its foreign keys (columns, referenced table)."""
    out: dict[str, tuple[list[str], list[tuple[list[str], str]]]] = {}
    for table in ET.fromstring(index_xml).iter("Table"):
        vl = table.find("VariableLength")
        assert vl is not None
        pk = [c.findtext("Name") or "" for c in vl.findall("VariablePrimaryKey")]
        fks = [
            ([n.text or "" for n in fk.findall("Name")], fk.findtext("References") or "")
            for fk in vl.findall("ForeignKey")
        ]
        out[table.findtext("URL") or ""] = (pk, fks)
    return out


def _sell(pos: PosdClient, item: str, quantity: str = "1") -> None:
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id=item, quantity=quantity)
    total = pos.get_sale(sid).total.amount_minor
    pos.add_payment(sid, CASH, total)
    pos.post_sale(sid)


def _a_day(day: Day) -> tuple[dict[str, list[dict[str, str]]], dict[str, bytes]]:
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 899)
    pos.upsert_item("B", "Kuchen", 350)
    dc.open_shift([])
    _sell(pos, "A")
    _sell(pos, "B", "3")
    aborted = pos.create_sale().sale_id
    pos.add_line(aborted, item_id="A")
    pos.cancel_sale(aborted, "Kunde geht")
    _sell(pos, "A", "2")
    # two VAT rates and two payment methods in one Vorgang: several rows of one BON_ID
    # in transactions_vat.csv and datapayment.csv, told apart by their keys
    pos.upsert_item("C", "Milch", 119, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    mixed = pos.create_sale().sale_id
    pos.add_line(mixed, item_id="A")
    pos.add_line(mixed, item_id="C")
    pos.add_payment(mixed, common_pb2.PAYMENT_METHOD_CARD, 500)
    pos.add_payment(mixed, CASH, pos.get_sale(mixed).total.amount_minor - 500)
    pos.post_sale(mixed)
    close_as_expected(dc)
    z = dc.z_closing()
    return read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))


def test_every_number_has_exactly_the_accuracy_index_xml_declares(day: Day) -> None:
    tables, raw = _a_day(day)
    declared = _numeric_columns(raw["index.xml"])
    # what the spec's index.xml declares (DSFinV-K 2.x; e.g. Bonpos MENGE and FAKTOR 3,
    # STK_BR 5, Bonpos_USt / Bonkopf_USt / Z_GV_Typ amounts 5, payments 2)
    assert declared["lines.csv"]["MENGE"] == 3
    assert declared["lines.csv"]["FAKTOR"] == 3
    assert declared["lines.csv"]["STK_BR"] == 5
    assert declared["lines_vat.csv"]["POS_BRUTTO"] == 5
    assert declared["transactions_vat.csv"]["BON_UST"] == 5
    assert declared["businesscases.csv"]["Z_UMS_BRUTTO"] == 5
    assert declared["transactions.csv"]["UMS_BRUTTO"] == 2
    assert declared["datapayment.csv"]["BASISWAEH_BETRAG"] == 2
    checked = 0
    for file, cols in declared.items():
        for row in tables[file]:
            for name, accuracy in cols.items():
                value = row[name]
                pattern = rf"-?\d+,\d{{{accuracy}}}" if accuracy else r"-?\d+"
                assert value == "" or re.fullmatch(pattern, value), (
                    f"{file} {name}: {value!r} has not exactly {accuracy} decimals"
                )
                checked += 1
    assert checked > 50
    assert {r["STK_BR"] for r in tables["lines.csv"]} >= {"8,99000", "3,50000"}


def test_index_xml_declares_the_keys_of_every_table(day: Day) -> None:
    tables, raw = _a_day(day)
    keys = _keys(raw["index.xml"])
    bon_key = [*Z_KEY, "BON_ID"]
    assert keys["cashpointclosing.csv"] == (Z_KEY, [])
    assert keys["transactions.csv"] == (bon_key, [(Z_KEY, "Stamm_Abschluss")])
    for file, more in (
        ("transactions_vat.csv", ["UST_SCHLUESSEL"]),
        ("datapayment.csv", ["ZAHLART_TYP", "ZAHLART_NAME", "ZAHLWAEH_CODE"]),
        ("transactions_tse.csv", ["TSE_ID", "TSE_TANR"]),
    ):
        assert keys[file] == (
            [*bon_key, *more],
            [(Z_KEY, "Stamm_Abschluss"), (bon_key, "Bonkopf")],
        ), file
    assert keys["lines.csv"] == (
        [*bon_key, "POS_ZEILE"],
        [(Z_KEY, "Stamm_Abschluss"), (bon_key, "Bonkopf")],
    )
    for file in ("vat.csv", "tse.csv", "businesscases.csv", "payment.csv"):
        pk, fks = keys[file]
        assert pk[:3] == Z_KEY and fks == [(Z_KEY, "Stamm_Abschluss")], file
    # the DTD's content model: primary keys first, then the columns, then foreign keys;
    # together in the files' column order
    for table in ET.fromstring(raw["index.xml"]).iter("Table"):
        vl = table.find("VariableLength")
        assert vl is not None
        tags = [c.tag for c in vl][3:]
        assert tags == sorted(
            tags, key=["VariablePrimaryKey", "VariableColumn", "ForeignKey"].index
        ), table.findtext("URL")
        names = [
            c.findtext("Name") for c in vl if c.tag in ("VariablePrimaryKey", "VariableColumn")
        ]
        file = table.findtext("URL") or ""
        header = raw[file].split(b"\r\n", 1)[0].decode("utf-8").split(";")
        assert names == header, file
    # and each key is unique in its file: a primary key names one row
    for file, (pk, _fks) in keys.items():
        seen = [tuple(r[c] for c in pk) for r in tables[file]]
        assert len(seen) == len(set(seen)), (file, pk)
    bon_nrs = [r["BON_NR"] for r in tables["transactions.csv"]]
    assert all(re.fullmatch(r"\d+", n) for n in bon_nrs), bon_nrs


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def test_tse_csv_of_a_tse_that_never_signed_carries_its_key(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    fake.fail_all(status=503)  # out from the very start: nothing is ever signed
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client(open_shift=False) as pos:
            pos.upsert_item("A", "Kaffee", 899)
            pos.open_shift(PosdClient.cash_counts(total=10000))
            _sell(pos, "A")
            pos.close_shift(PosdClient.cash_counts(total=10899))
            z = pos.z_closing()
            tables, _ = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    finally:
        running.stop()
    (ta,) = tables["transactions_tse.csv"]
    assert ta["TSE_TA_FEHLER"].startswith("TSE-Ausfall Nr. 1:"), ta
    assert ta["TSE_ID"], ta
    rows = tables["tse.csv"]
    assert rows, "tse.csv names no TSE"
    for row in rows:
        for column in (*Z_KEY, "TSE_ID"):
            assert row[column], (column, row)
    assert ta["TSE_ID"] in {r["TSE_ID"] for r in rows}
