"""A register's day through the gRPC API with real SQLite: shift, sales of every payment
method, an aborted sale, cash movements, X, shift close, Z, and the DSFinV-K export
re-read and reconciled to the cent with the journal and checked against index.xml."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, common_pb2, sale_pb2

from posd_daemon.exports import dsfinvk_spec
from tests.integration.day.conftest import Day
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
K = closing_pb2


def seed(pos: PosdClient) -> None:
    pos.upsert_item("A", "Kaffee", 899)
    pos.upsert_item("B", "Brot", 349, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    pos.upsert_item("C", 'Wein "trocken"; 0,75l', 1299)


def sell(
    pos: PosdClient, lines: list[tuple[str, str]], payments: list[tuple[int, int]]
) -> sale_pb2.Sale:
    s = pos.create_sale()
    for item, qty in lines:
        pos.add_line(s.sale_id, item_id=item, quantity=qty)
    for method, amount in payments:
        pos.add_payment(s.sale_id, method, amount)
    return pos.post_sale(s.sale_id)


def db(day: Day) -> sqlite3.Connection:
    return sqlite3.connect(day.running.config.database_path)


def journal(day: Day, kind: str) -> list[dict[str, object]]:
    with db(day) as c:
        rows = c.execute("SELECT payload FROM journal WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(r[0]) for r in rows]


def cents(text: str) -> int:
    """A DSFinV-K decimal-comma number in minor units (exactly)."""
    if not text:
        return 0
    minor = Decimal(text.replace(",", ".")) * 100
    assert minor == minor.to_integral_value(), text  # no fraction of a cent
    return int(minor)


def read_export(data: bytes) -> tuple[dict[str, list[dict[str, str]]], dict[str, bytes]]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    raw = {n: zf.read(n) for n in zf.namelist()}
    tables: dict[str, list[dict[str, str]]] = {}
    for name, body in raw.items():
        if name.endswith(".csv"):
            text = body.decode("utf-8")
            tables[name] = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    return tables, raw


def index_columns(index_xml: bytes) -> dict[str, list[str]]:
    root = ET.fromstring(index_xml)
    out: dict[str, list[str]] = {}
    for table in root.iter("Table"):
        url = table.findtext("URL")
        assert url
        vl = table.find("VariableLength")
        assert vl is not None
        assert vl.findtext("ColumnDelimiter") == ";"
        assert vl.findtext("RecordDelimiter") == "\r\n"
        assert vl.findtext("TextEncapsulator") == '"'
        assert table.findtext("DecimalSymbol") == ","
        assert table.find("UTF8") is not None
        # a table's columns are its VariablePrimaryKey then its VariableColumn elements,
        # in document order (gdpdu-01-09-2004.dtd: VariablePrimaryKey+, VariableColumn*)
        fields = [c for c in vl if c.tag in ("VariablePrimaryKey", "VariableColumn")]
        out[url] = [c.findtext("Name") or "" for c in fields]
    return out


def test_a_full_day_reconciles_to_the_cent(day: Day) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    # no shift yet: cash movements are refused
    with pytest.raises(PosdError) as e:
        dc.add_cash_movement(K.CASH_MOVEMENT_KIND_DEPOSIT, 1000, "Wechselgeld")
    assert e.value.reason == "NO_OPEN_SHIFT"

    shift = dc.open_shift(PosdClient.cash_counts({5000: 2, 200: 10}))
    assert shift.state == K.SHIFT_STATE_OPEN
    assert sum(c.total_minor for c in shift.opening_counts) == 12000

    s1 = sell(pos, [("A", "2"), ("B", "1")], [(CASH, 5000)])  # 21.47, change 28.53
    s2 = sell(pos, [("C", "1")], [(CARD, 1299)])
    s3 = sell(pos, [("A", "1"), ("B", "3")], [(CARD, 1000), (CASH, 1000)])  # 19.46
    aborted = pos.create_sale()
    pos.add_line(aborted.sale_id, item_id="C")
    pos.cancel_sale(aborted.sale_id, "Kunde ohne Geld")

    m_in = dc.add_cash_movement(K.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechselgeld Bank")
    m_out = dc.add_cash_movement(K.CASH_MOVEMENT_KIND_WITHDRAWAL, 2000, "Privat")
    m_tr = dc.add_cash_movement(
        K.CASH_MOVEMENT_KIND_TRANSIT, 3000, "Tresor", direction=K.CASH_DIRECTION_OUT
    )
    m_tip = dc.add_cash_movement(
        K.CASH_MOVEMENT_KIND_TIP, 500, "Trinkgeld Tisch 4", direction=K.CASH_DIRECTION_IN
    )
    assert [m.amount.amount_minor for m in (m_in, m_out, m_tr, m_tip)] == [5000, -2000, -3000, 500]
    assert m_in.tse.state == "SIGNED" and m_in.tse.process_data == (
        "Beleg^0.00_0.00_0.00_0.00_50.00^50.00:Bar"
    )
    assert m_out.tse.process_data == "Beleg^0.00_0.00_0.00_0.00_-20.00^-20.00:Bar"
    assert [m.number for m in (m_in, m_out, m_tr, m_tip)] == [1, 2, 3, 4]
    assert m_tr.gv_typ == "Geldtransit" and m_tip.gv_typ == "TrinkgeldAN"

    gross = s1.total.amount_minor + s2.total.amount_minor + s3.total.amount_minor
    cash_sales = s1.total.amount_minor + (s3.total.amount_minor - 1000)
    expected_cash = 12000 + cash_sales + 5000 - 2000 - 3000 + 500

    # X report: the totals so far, and nothing changes
    before = journal_count(day)
    x = dc.x_report()
    assert journal_count(day) == before
    assert x.z_nr == 0
    assert x.receipts == 3 and x.aborted == 1 and x.cash_movements == 4
    assert x.gross.amount_minor == gross
    pay = {p.method: p.amount.amount_minor for p in x.payments}
    assert pay == {"CASH": cash_sales + 5000 - 2000 - 3000 + 500, "CARD": 1299 + 1000}
    assert not x.payment_gateways
    assert [c.amount_minor for c in x.open_shift_expected_cash] == [expected_cash]
    assert sum(v.gross.amount_minor for v in x.vat_totals) == gross
    for v in x.vat_totals:
        assert v.net.amount_minor + v.tax.amount_minor == v.gross.amount_minor
    cases = {c.business_case: c for c in x.business_cases}
    assert cases["SALES"].gross.amount_minor == gross
    assert cases["CASH_DEPOSITS"].gross.amount_minor == 5000
    assert cases["CASH_WITHDRAWALS"].gross.amount_minor == -2000
    assert cases["CASH_TRANSITS"].gross.amount_minor == -3000
    assert cases["TIPS"].gross.amount_minor == 500
    assert cases["RETURNS"].count == 0 and cases["VOUCHERS_SOLD"].count == 0
    assert {o.operator_id: o.receipts for o in x.operators} == {"1": 3}

    # close the shift one euro short, counted by denomination
    counted = expected_cash - 100
    notes = {5000: counted // 5000}
    rest = counted - notes[5000] * 5000
    notes[1] = rest  # the rest in cents
    closed = dc.close_shift(PosdClient.cash_counts(notes))
    (b,) = closed.balances
    assert (b.expected.amount_minor, b.counted.amount_minor) == (expected_cash, counted)
    assert b.difference.amount_minor == -100
    assert journal(day, "SHIFT_CLOSED")[0]["balances"][0]["difference"] == -100  # type: ignore[index]

    z = dc.z_closing()
    assert z.z_nr == 1
    rep = z.report
    assert rep.receipts == 3 and rep.aborted == 1 and rep.cash_movements == 5  # + difference
    cases = {c.business_case: c for c in rep.business_cases}
    assert cases["CASH_DIFFERENCES"].gross.amount_minor == -100
    (zb,) = rep.cash_balances
    assert zb.difference.amount_minor == -100
    assert dc.get_closing(1).report_sha256 == z.report_sha256
    assert journal(day, "Z_CLOSING")[0]["report_sha256"] == z.report_sha256

    # -- the DSFinV-K export -------------------------------------------------------------
    data = dc.export_dsfinvk(z_from=1, z_to=1)
    tables, raw = read_export(data)
    assert set(raw) == {t.file for t in dsfinvk_spec.TABLES} | {
        "index.xml",
        "gdpdu-01-09-2004.dtd",
    }
    assert b"<!ELEMENT DataSet" in raw["gdpdu-01-09-2004.dtd"]
    columns = index_columns(raw["index.xml"])
    assert set(columns) == {n for n in raw if n.endswith(".csv")}
    for name, cols in columns.items():
        body = raw[name]
        assert body.endswith(b"\r\n") and b"\n" not in body.replace(b"\r\n", b"")
        header = body.split(b"\r\n", 1)[0].decode("utf-8").split(";")
        assert header == cols, name
        assert cols[:3] == ["Z_KASSE_ID", "Z_ERSTELLUNG", "Z_NR"]
        for row in tables[name]:
            assert len(row) == len(cols) and None not in row.values(), name
            assert (row["Z_KASSE_ID"], row["Z_NR"]) == ("REG-1", "1"), name
            assert row["Z_ERSTELLUNG"].startswith(z.create_time.ToDatetime().strftime("%Y-%m-%d"))

    tx = tables["transactions.csv"]
    assert len(tx) == 3 + 1 + 5
    belege = [t for t in tx if t["BON_TYP"] == "Beleg"]
    (abort,) = [t for t in tx if t["BON_TYP"] == "AVBelegabbruch"]
    assert abort["UMS_BRUTTO"] == "0,00"
    sales = [t for t in belege if not t["BON_NAME"]]
    moves = [t for t in belege if t["BON_NAME"]]
    assert sorted(int(t["BON_NR"]) for t in sales) == [
        s1.receipt_number,
        s2.receipt_number,
        s3.receipt_number,
    ]
    # reconcile with the journal, to the cent
    posted = journal(day, "SALE_POSTED")
    assert sum(cents(t["UMS_BRUTTO"]) for t in sales) == sum(p["total"] for p in posted)  # type: ignore[misc]
    movements = journal(day, "CASH_MOVEMENT")
    assert sum(cents(t["UMS_BRUTTO"]) for t in moves) == sum(m["amount"] for m in movements)  # type: ignore[misc]
    journal_vat: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in posted:
        for v in p["vat"]:  # type: ignore[attr-defined]
            acc = journal_vat[int(v["category"])]
            acc[0] += v["gross"]
            acc[1] += v["net"]
            acc[2] += v["tax"]
    export_vat: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    sale_bons = {t["BON_ID"] for t in sales}
    for row in tables["transactions_vat.csv"]:
        if row["BON_ID"] in sale_bons:
            acc = export_vat[int(row["UST_SCHLUESSEL"])]
            acc[0] += cents(row["BON_BRUTTO"])
            acc[1] += cents(row["BON_NETTO"])
            acc[2] += cents(row["BON_UST"])
    assert dict(export_vat) == dict(journal_vat)
    # every Beleg: its VAT rows, its line rows and its payments add up to its gross
    for t in belege:
        bon, total = t["BON_ID"], cents(t["UMS_BRUTTO"])
        tv = [r for r in tables["transactions_vat.csv"] if r["BON_ID"] == bon]
        lv = [r for r in tables["lines_vat.csv"] if r["BON_ID"] == bon]
        dp = [r for r in tables["datapayment.csv"] if r["BON_ID"] == bon]
        assert sum(cents(r["BON_BRUTTO"]) for r in tv) == total
        assert sum(cents(r["POS_BRUTTO"]) for r in lv) == total
        assert sum(cents(r["BASISWAEH_BETRAG"]) for r in dp) == total
        for r in tv:
            assert cents(r["BON_NETTO"]) + cents(r["BON_UST"]) == cents(r["BON_BRUTTO"])
    # the closing's own totals
    (cp,) = tables["cashpointclosing.csv"]
    all_payments = sum(cents(r["BASISWAEH_BETRAG"]) for r in tables["datapayment.csv"])
    bar = sum(
        cents(r["BASISWAEH_BETRAG"]) for r in tables["datapayment.csv"] if r["ZAHLART_TYP"] == "Bar"
    )
    assert cents(cp["Z_SE_ZAHLUNGEN"]) == all_payments == rep.payments_total.amount_minor
    assert cents(cp["Z_SE_BARZAHLUNGEN"]) == bar == rep.cash_total.amount_minor
    assert cp["Z_START_ID"] == str(rep.first_bon_id)
    assert cp["Z_ENDE_ID"] == str(rep.last_bon_id)
    assert sum(cents(p["Z_ZAHLART_BETRAG"]) for p in tables["payment.csv"]) == all_payments
    bc = tables["businesscases.csv"]
    assert sum(cents(g["Z_UMS_BRUTTO"]) for g in bc) == sum(cents(t["UMS_BRUTTO"]) for t in belege)
    assert {g["GV_TYP"] for g in bc} >= {
        "Umsatz",
        "Privateinlage",
        "Privatentnahme",
        "Geldtransit",
        "TrinkgeldAN",
        "DifferenzSollIst",
    }
    # lines: texts with quotes and separators survive; quantities with 3 decimals
    wine = [ln for ln in tables["lines.csv"] if ln["ART_NR"] == "C"]
    assert wine and wine[0]["ARTIKELTEXT"] == 'Wein "trocken"; 0,75l'
    assert all(
        ln["MENGE"].count(",") == 1 and len(ln["MENGE"].split(",")[1]) == 3
        for ln in tables["lines.csv"]
    )
    # TSE data per Vorgang
    tse = {t["BON_ID"]: t for t in tables["transactions_tse.csv"]}
    assert set(tse) == {t["BON_ID"] for t in tx}
    for t in belege:
        row = tse[t["BON_ID"]]
        assert row["TSE_TA_VORGANGSART"] == "Kassenbeleg-V1"
        assert int(row["TSE_TA_SIGZ"]) > 0 and row["TSE_TA_SIG"] and not row["TSE_TA_FEHLER"]
        assert row["TSE_ID"] == "1"
    assert tse[abort["BON_ID"]]["TSE_VORGANGSDATEN"].startswith("AVBelegabbruch^")
    (t_master,) = tables["tse.csv"]
    assert t_master["TSE_ID"] == "1" and t_master["TSE_SERIAL"] and t_master["TSE_PUBLIC_KEY"]

    # every slip, the shift close and the Z report were rendered and printed
    wait_printed(day, ["cash_movement", "shift_close", "z_report"])

    # the journal chain still verifies; cash movements are append-only
    assert pos.verify_journal().ok
    with db(day) as c, pytest.raises(sqlite3.IntegrityError):
        c.execute("UPDATE cash_movements SET amount = 0 WHERE number = 1")


def wait_printed(day: Day, documents: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with db(day) as c:
            rows = c.execute(
                "SELECT payload, state, last_error FROM outbox WHERE kind = 'print'"
            ).fetchall()
        kinds = {json.loads(p)["document"]: (st, err) for p, st, err in rows}
        if all(kinds.get(d, ("", ""))[0] == "DONE" for d in documents):
            return
        assert time.monotonic() < deadline, kinds
        time.sleep(0.05)


def journal_count(day: Day) -> int:
    with db(day) as c:
        return int(c.execute("SELECT COUNT(*) FROM journal").fetchone()[0])


def test_z_numbers_are_gapless_and_a_closed_period_is_frozen(day: Day) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    sale_ids = []
    for n in range(3):
        dc.open_shift(PosdClient.cash_counts(total=1000))
        sale_ids.append(sell(pos, [("A", "1")], [(CASH, 899)]).sale_id)
        shift = dc.get_shift()
        assert [x.amount_minor for x in shift.expected_cash] == [1899]
        dc.close_shift(PosdClient.cash_counts(total=1899))
        z = dc.z_closing()
        assert z.z_nr == n + 1
    # a Z with nothing in it is still a closing with the next number
    assert dc.z_closing().z_nr == 4
    assert [c.z_nr for c in dc.list_closings(page_size=2)] == [4, 3, 2, 1]
    with pytest.raises(PosdError) as e:
        dc.get_closing(9)
    assert e.value.reason == "CLOSING_NOT_FOUND"

    # a Z with an open shift is refused
    dc.open_shift([])
    with pytest.raises(PosdError) as e:
        dc.z_closing()
    assert e.value.reason == "SHIFT_OPEN"

    # after a Z nothing of its period can change, whoever tries
    open_sale = pos.create_sale()
    pos.add_line(open_sale.sale_id, item_id="B")
    conn = db(day)
    closed = sale_ids[0]
    attempts = [
        ("UPDATE sales SET total = 1 WHERE sale_id = ?", (closed,)),
        ("DELETE FROM sale_lines WHERE sale_id = ?", (closed,)),
        ("UPDATE sale_lines SET unit_price = 1 WHERE sale_id = ?", (closed,)),
        (
            "INSERT INTO sale_payments (sale_id, position, payment_id, method, amount)"
            " VALUES (?, 9, '9', 'CASH', 1)",
            (closed,),
        ),
        ("UPDATE sale_tse SET signature = 'x' WHERE sale_id = ?", (closed,)),
        ("UPDATE register_transactions SET z_nr = NULL WHERE sale_id = ?", (closed,)),
        ("DELETE FROM register_transactions WHERE sale_id = ?", (closed,)),
        ("UPDATE drawer_entries SET amount = 0 WHERE sale_id = ?", (closed,)),
        ("UPDATE closings SET report = '{}' WHERE z_nr = ?", (1,)),
        ("DELETE FROM closings WHERE z_nr = ?", (1,)),
        ("UPDATE shifts SET closed_by = 'x' WHERE z_nr = ?", (1,)),
        ("DELETE FROM shift_counts WHERE shift_id > ?", (0,)),
        ("UPDATE shift_balances SET counted = 0 WHERE shift_id > ?", (0,)),
    ]
    for sql, args in attempts:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql, args)
        conn.rollback()
    # the open sale of the open period still works through the API
    pos.add_line(open_sale.sale_id, item_id="A")
    pos.add_payment(open_sale.sale_id, CARD, 899 + 349)
    assert pos.post_sale(open_sale.sale_id).receipt_number == 4
    conn.close()


def test_permissions_and_idempotency(day: Day) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=5000))
    _, cashier = day.client("2", "0000")
    with pytest.raises(PosdError) as e:
        cashier.add_cash_movement(K.CASH_MOVEMENT_KIND_WITHDRAWAL, 100, "x")
    assert e.value.reason == "PERMISSION_DENIED"
    with pytest.raises(PosdError) as e:
        cashier.z_closing()
    assert e.value.reason == "PERMISSION_DENIED"
    with pytest.raises(PosdError) as e:
        cashier.x_report()
    assert e.value.reason == "PERMISSION_DENIED"
    with pytest.raises(PosdError) as e:
        dc.add_cash_movement(K.CASH_MOVEMENT_KIND_DIFFERENCE, 100, "x")
    assert e.value.reason == "INVALID_ARGUMENT"
    with pytest.raises(PosdError) as e:
        dc.add_cash_movement(K.CASH_MOVEMENT_KIND_DEPOSIT, 0, "x")
    assert e.value.reason == "INVALID_AMOUNT"
    with pytest.raises(PosdError) as e:
        dc.add_cash_movement(K.CASH_MOVEMENT_KIND_DEPOSIT, 100, "x", currency="CHF")
    assert e.value.reason == "EXCHANGE_RATE_NOT_AVAILABLE"  # the shop takes no CHF
    with pytest.raises(PosdError) as e:
        dc.open_shift([])
    assert e.value.reason == "SHIFT_ALREADY_OPEN"

    a = dc.add_cash_movement(
        K.CASH_MOVEMENT_KIND_TRANSIT, 700, "Bank", direction=K.CASH_DIRECTION_OUT, request_id="mv-1"
    )
    b = dc.add_cash_movement(
        K.CASH_MOVEMENT_KIND_TRANSIT, 700, "Bank", direction=K.CASH_DIRECTION_OUT, request_id="mv-1"
    )
    assert a == b and a.amount.amount_minor == -700
    assert len(journal(day, "CASH_MOVEMENT")) == 1
    # printed once, drawer opened once
    with db(day) as c:
        kinds = [
            r[0]
            for r in c.execute(
                "SELECT kind FROM outbox WHERE ref = ?", (f"movement:{a.movement_id}",)
            )
        ]
    assert sorted(kinds) == ["drawer", "print"]


def vorgang_shift(day: Day, sale_id: str) -> tuple[int | None, int]:
    """The shift a sale's Vorgang (post or cancellation) belongs to, and its late flag."""
    with db(day) as c:
        row = c.execute(
            "SELECT shift_id, late FROM register_transactions WHERE sale_id = ?", (sale_id,)
        ).fetchone()
    return row[0], row[1]


def test_late_transactions_go_to_the_next_shift_flagged(day: Day) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    first = dc.open_shift(PosdClient.cash_counts(total=1000))
    parked = pos.create_sale()  # started and paid (by card: cash would keep the shift
    pos.add_line(parked.sale_id, item_id="A")  # from closing) in the first shift ...
    pos.add_payment(parked.sale_id, CARD, 899)
    dropped = pos.create_sale()
    pos.add_line(dropped.sale_id, item_id="B")
    dc.close_shift(PosdClient.cash_counts(total=1000))
    # ... its post waits for the next shift: its money must be booked in a shift
    with pytest.raises(PosdError) as err:
        pos.post_sale(parked.sale_id)
    assert err.value.reason == "NO_OPEN_SHIFT"
    # a cancellation (no cash) completed while no shift is open joins the next shift
    pos.cancel_sale(dropped.sale_id)
    assert vorgang_shift(day, dropped.sale_id) == (None, 0)
    second = dc.open_shift(PosdClient.cash_counts(total=1000))
    assert vorgang_shift(day, dropped.sale_id) == (second.shift_id, 1)
    assert second.shift_id == first.shift_id + 1
    # started in the first shift, posted in the second: late in the second (its drawer
    # expects the float only: the sale was paid by card)
    posted = pos.post_sale(parked.sale_id)
    r = dc.get_receipt(receipt_number=posted.receipt_number)
    assert (r.shift_id, r.late) == (second.shift_id, True)
    assert [x.amount_minor for x in dc.get_shift(second.shift_id).expected_cash] == [1000]
    # started in the second shift, posted in the third: late in the third
    parked2 = pos.create_sale()
    pos.add_line(parked2.sale_id, item_id="B")
    pos.add_payment(parked2.sale_id, CARD, 349)
    dc.close_shift(PosdClient.cash_counts(total=1000))
    third = dc.open_shift(PosdClient.cash_counts(total=1000))
    late = pos.post_sale(parked2.sale_id)
    r = dc.get_receipt(receipt_number=late.receipt_number)
    assert (r.shift_id, r.late) == (third.shift_id, True)
    assert [x.amount_minor for x in dc.get_shift(third.shift_id).expected_cash] == [1000]
    x = dc.x_report()
    assert x.late == 3 and x.receipts == 2


def test_shift_guard_refuses_sales_without_a_shift(day: Day) -> None:
    from posd_daemon.domain.errors import DomainError
    from posd_daemon.services.day import shift_guard

    conn = db(day)
    with pytest.raises(DomainError) as e:
        shift_guard(conn)
    assert e.value.reason == "NO_OPEN_SHIFT"
    day.day.open_shift([])
    shift_guard(conn)  # passes now
    close_as_expected(day.day)
    with pytest.raises(DomainError):
        shift_guard(conn)
    conn.close()


def test_receipt_archive_and_datev_exports(day: Day) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    dc.open_shift(PosdClient.cash_counts(total=2000))
    sold = [
        sell(pos, [("A", "1")], [(CASH, 1000)]),
        sell(pos, [("C", "2")], [(CARD, 2598)]),
        sell(pos, [("B", "1")], [(CASH, 349)]),
        sell(pos, [("A", "3")], [(CARD, 2697)]),
    ]
    dc.add_cash_movement(K.CASH_MOVEMENT_KIND_WITHDRAWAL, 1500, "Einkauf Milch")
    page = dc.list_receipts(K.ListReceiptsRequest(page_size=3))
    assert [r.receipt_number for r in page.receipts] == [4, 3, 2]
    rest = dc.list_receipts(K.ListReceiptsRequest(page_size=3, page_token=page.next_page_token))
    assert [r.receipt_number for r in rest.receipts] == [1] and not rest.next_page_token
    cards = dc.list_receipts(K.ListReceiptsRequest(payment_method=CARD))
    assert [r.receipt_number for r in cards.receipts] == [4, 2]
    big = dc.list_receipts(
        K.ListReceiptsRequest(gross_min=common_pb2.Money(amount_minor=1000, currency_code="EUR"))
    )
    assert [r.receipt_number for r in big.receipts] == [4, 2]
    rng = dc.list_receipts(K.ListReceiptsRequest(receipt_number_from=2, receipt_number_to=3))
    assert [r.receipt_number for r in rng.receipts] == [3, 2]
    now = datetime.now(UTC)
    req = K.ListReceiptsRequest(operator_id="1")
    req.start_time.FromDatetime(now - timedelta(hours=1))
    req.end_time.FromDatetime(now + timedelta(hours=1))
    assert len(dc.list_receipts(req).receipts) == 4
    with pytest.raises(PosdError) as e:
        dc.list_receipts(K.ListReceiptsRequest(page_token="garbage"))
    assert e.value.reason == "INVALID_ARGUMENT"

    full = dc.get_receipt(receipt_number=2)
    assert full.sale.sale_id == sold[1].sale_id and full.bon_id == 2
    assert full.sale.tse.state == "SIGNED" and full.sale.tse.signature
    assert [p.kind for p in full.print_history] == ["print"]
    with pytest.raises(PosdError) as e:
        dc.get_receipt(receipt_number=99)
    assert e.value.reason == "RECEIPT_NOT_FOUND"

    start, end = now - timedelta(days=1), now + timedelta(days=1)
    (book,) = dc.export_datev(start, end)
    text = book.content.decode("utf-8")
    lines = text.split("\r\n")
    assert lines[0] == (
        '"Währung";"VorzBetrag";"RechNr";"BelegDatum";"Belegtext";"UStSatz";"BU";'
        '"Gegenkonto";"Kost1";"Kost2";"Kostmenge";"Skonto";"Nachricht"'
    )
    assert len([ln for ln in lines[1:] if ln]) == 1
    assert lines[1].startswith(f'"EUR";-15,00;"K1";"{now:%d%m}";"Entnahme: Einkauf Milch"')

    (ext,) = dc.export_cash_book(start, end)
    rows = [r for r in ext.content.decode("utf-8").split("\r\n")[1:] if r]
    amounts = [cents(r.split(";")[1].replace("+", "")) for r in rows]
    # four receipts (revenue rows), two card counter rows, one movement
    assert sum(1 for r in rows if "Umsatz" in r) == 4
    assert sum(1 for r in rows if "Karte" in r.split(";")[4]) == 2
    assert sum(amounts) == 899 + 349 - 1500  # what went through the cash drawer
    _, cashier = day.client("2", "0000")
    with pytest.raises(PosdError) as e:
        cashier.export_datev(start, end)
    assert e.value.reason == "PERMISSION_DENIED"


def test_export_by_date_range_and_as_directory(day: Day, tmp_path: object) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    with pytest.raises(PosdError) as e:
        dc.export_dsfinvk(z_from=1, z_to=1)
    assert e.value.reason == "NO_CLOSINGS_IN_RANGE"
    for _ in range(2):
        dc.open_shift([])
        sell(pos, [("B", "2")], [(CASH, 698)])
        dc.close_shift(PosdClient.cash_counts(total=698))
        dc.z_closing()
    now = datetime.now(UTC)
    data = dc.export_dsfinvk(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    tables, _ = read_export(data)
    assert [r["Z_NR"] for r in tables["cashpointclosing.csv"]] == ["1", "2"]
    assert len(tables["transactions.csv"]) == 2
    with pytest.raises(PosdError) as e:
        dc.export_dsfinvk(z_from=2, z_to=1)
    assert e.value.reason == "INVALID_ARGUMENT"
