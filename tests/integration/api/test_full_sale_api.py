"""The full sale through the gRPC API: customers and terms, price overrides and discounts
with permissions and the journal, currencies, VAT directions to the cent, pick-up dates
and reservations, the purge, stock, empty sales, receipt vs invoice."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, common_pb2, sale_pb2, shop_pb2

from posd_daemon.cli import posctl
from tests.conftest import Running
from tests.support.fullsale import (
    SUPERVISOR_PIN,
    customer,
    import_customers,
    import_items,
    import_stock,
    item,
    money,
    printed,
    register,
    update_register,
    update_shop,
)

CASH, CARD = common_pb2.PAYMENT_METHOD_CASH, common_pb2.PAYMENT_METHOD_CARD
REDUCED = common_pb2.VAT_CATEGORY_REDUCED


def db(running: Running) -> sqlite3.Connection:
    return sqlite3.connect(running.config.database_path)


def journal(running: Running, kind: str) -> list[dict[str, Any]]:
    with db(running) as conn:
        rows = conn.execute("SELECT payload FROM journal WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(r[0]) for r in rows]


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    return pos.call(getattr(pos.sales, rpc), request_type(request_id=new_request_id(), **fields))


def basket(pos: PosdClient, sale_id: str) -> None:
    pos.add_line(sale_id, item_id="ROLL", quantity="3")
    pos.add_line(sale_id, item_id="APPLE", quantity="0.333")
    pos.add_line(sale_id, item_id="COFFEE")
    pos.add_line(sale_id, item_id="GUM", quantity="7")
    for _ in range(10):
        pos.add_line(sale_id, item_id="SCREW")


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        item("ROLL", "Brötchen", 35, vat=REDUCED),
        item("APPLE", "Äpfel", 299, vat=REDUCED, unit="kg", fractional_quantity=True),
        item("COFFEE", "Kaffee", 899),
        item("GUM", "Kaugummi", 79),
        item("SCREW", "Schraube", 10),
        item("TV", "Fernseher", 49900),
    )
    import_customers(
        pos,
        customer(
            "B1",
            "Bau GmbH",
            company="Bau GmbH",
            price_entry=common_pb2.PRICE_BASIS_NET,
            discount_percent="5",
            street="Hauptstr. 1",
            postal_code="10115",
            city="Berlin",
            country_code="DE",
            vat_id="DE999999999",
        ),
        customer("P1", "Erika Muster", street="Weg 2", postal_code="20095", city="Hamburg"),
        customer("CH1", "Urs Meier", default_currency_code="CHF"),
    )


def vat(sale: sale_pb2.Sale) -> dict[str, tuple[int, int, int]]:
    return {
        v.vat_rate: (v.gross.amount_minor, v.net.amount_minor, v.tax.amount_minor)
        for v in sale.vat_totals
    }


# -- customers ----------------------------------------------------------------------------------


def test_customer_change_rederives_terms_and_asks_about_lines(pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    sid = sale.sale_id
    assert (sale.customer.customer_number, sale.customer.anonymous) == ("0", True)
    assert sale.vat_direction == common_pb2.PRICE_BASIS_GROSS
    pos.add_line(sid, item_id="COFFEE")
    with pytest.raises(PosdError) as err:
        pos.set_customer(sid, "B1")
    assert err.value.reason == "RECALCULATION_CHOICE_REQUIRED"
    assert err.value.metadata["vat_direction"] == "NET"
    assert pos.get_sale(sid).customer.customer_number == "0"  # nothing changed
    kept = pos.set_customer(sid, "B1", recalculate_lines=False)
    assert kept.vat_direction == common_pb2.PRICE_BASIS_NET
    # 8.99 gross becomes 7.55 net (8.99 / 1.19 = 7.5546); the customer's 5 % not applied
    line = kept.lines[0]
    assert (line.unit_price.amount_minor, line.discount_percent) == (755, "0")
    assert kept.total.amount_minor == 898  # 7.55 + round(1.4345) = 8.98
    recalc = pos.set_customer(sid, "B1", recalculate_lines=True)
    # 5 % of 7.55 = 0.3775 -> 0.38; net 7.17, tax round(1.3623) = 1.36
    assert (recalc.lines[0].amount.amount_minor, recalc.lines[0].discount_percent) == (717, "5")
    assert recalc.total.amount_minor == 853
    assert recalc.customer.address_lines == [
        "Bau GmbH",
        "Bau GmbH",
        "Hauptstr. 1",
        "10115 Berlin",
        "DE",
    ]
    # scanning a customer number is the same use case
    back = pos.scan(sid, "0", recalculate_lines=True)
    assert back.match == sale_pb2.SCAN_MATCH_CUSTOMER
    assert (back.sale.vat_direction, back.sale.total.amount_minor) == (
        common_pb2.PRICE_BASIS_GROSS,
        899,
    )
    with pytest.raises(PosdError) as err:
        pos.set_customer(sid, "NOPE")
    assert err.value.reason == "CUSTOMER_NOT_FOUND"


# -- prices and permissions -----------------------------------------------------------------


def test_price_override_needs_permission_and_consent_and_is_journaled(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    line = pos.add_line(sid, item_id="COFFEE").line_id
    with running.client("2", "0000") as cashier, pytest.raises(PosdError) as err:
        call(cashier, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(500))
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert err.value.metadata["permission"] == "PRICE_OVERRIDE"
    sale = call(pos, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(500)).sale
    assert (sale.lines[0].unit_price.amount_minor, sale.lines[0].price_overridden) == (500, True)
    assert sale.lines[0].list_unit_price.amount_minor == 899
    [entry] = journal(running, "PRICE_OVERRIDE")
    assert (entry["operator_id"], entry["old_unit_price"], entry["new_unit_price"]) == (
        "1",
        899,
        500,
    )
    assert entry["sale_id"] == sid
    update_register(pos, price_edit_allowed=False)  # this terminal: no price edits
    with pytest.raises(PosdError) as err:
        call(pos, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(400))
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PRICE_EDIT_NOT_ALLOWED",
    )
    assert err.value.metadata["permission"] == "PRICE_OVERRIDE"
    assert "register REG-1" in err.value.message
    update_register(pos, price_edit_allowed=True)
    update_shop(pos, price_edit_allowed=False)
    with pytest.raises(PosdError) as err:
        call(pos, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(400))
    assert "shop SHOP-1" in err.value.message
    assert len(journal(running, "PRICE_OVERRIDE")) == 1


def test_discounts_are_limited_by_the_operator_and_journaled(tmp_path: Path) -> None:
    with register(tmp_path / "s") as (running, _):
        with running.client() as manager:
            seed(manager)
            update_shop(
                manager,
                role_discount_limits=[shop_pb2.DiscountLimit(key="supervisor", percent="10")],
            )
            sid = manager.create_sale().sale_id
            line = manager.add_line(sid, item_id="COFFEE").line_id
        with running.client("3", SUPERVISOR_PIN) as sup:
            with pytest.raises(PosdError) as err:
                call(sup, "SetLineDiscount", sale_id=sid, line_id=line, discount_percent="15")
            assert (err.value.code, err.value.reason) == (
                grpc.StatusCode.PERMISSION_DENIED,
                "DISCOUNT_LIMIT_EXCEEDED",
            )
            assert err.value.metadata["permission"] == "DISCOUNT"
            assert err.value.metadata["limit_percent"] == "10"
            sale = call(
                sup, "SetLineDiscount", sale_id=sid, line_id=line, discount_percent="10"
            ).sale
            assert sale.lines[0].amount.amount_minor == 809  # 8.99 - round(0.899)
            with pytest.raises(PosdError) as err:
                call(sup, "SetSaleDiscount", sale_id=sid, discount_percent="10.01")
            assert err.value.reason == "DISCOUNT_LIMIT_EXCEEDED"
            # 10 % on the line and 5 % on the sale are 14.5 % off the line: past the limit
            with pytest.raises(PosdError) as err:
                call(sup, "SetSaleDiscount", sale_id=sid, discount_percent="5")
            assert err.value.reason == "DISCOUNT_LIMIT_EXCEEDED"
            assert err.value.metadata["requested_percent"] == "14.5"
        with running.client("2", "0000") as cashier, pytest.raises(PosdError) as err:
            call(cashier, "SetSaleDiscount", sale_id=sid, discount_percent="1")
        assert (err.value.reason, err.value.metadata["permission"]) == (
            "PERMISSION_DENIED",
            "DISCOUNT",
        )
        with running.client() as manager:  # an operator's own limit overrides the role's
            update_shop(
                manager,
                operator_discount_limits=[shop_pb2.DiscountLimit(key="3", percent="20")],
            )
        with running.client("3", SUPERVISOR_PIN) as sup:
            call(sup, "SetLineDiscount", sale_id=sid, line_id=line, discount_percent="15")
            sale = call(sup, "SetSaleDiscount", sale_id=sid, discount_percent="5").sale
            assert (sale.total.amount_minor, sale.discount_total.amount_minor) == (726, 173)
        entries = journal(running, "LINE_DISCOUNT") + journal(running, "SALE_DISCOUNT")
        assert [(e["operator_id"], e["new_percent"]) for e in entries] == [
            ("3", "10"),
            ("3", "15"),
            ("3", "5"),
        ]


# -- currency ------------------------------------------------------------------------------------


def test_foreign_currency_with_fixed_daily_and_manual_rates(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9412")])
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE")
    sale = pos.set_customer(sid, "CH1", recalculate_lines=False)
    assert (sale.currency_code, sale.exchange_rate, sale.rate_source) == (
        "CHF",
        "0.9412",
        sale_pb2.RATE_SOURCE_FIXED,
    )
    # 8.99 EUR x 0.9412 = 8.4614 -> 8.46 CHF; back: 8.46 / 0.9412 = 8.9885 -> 8.99 EUR
    assert (sale.total.amount_minor, sale.total.currency_code) == (846, "CHF")
    assert (sale.total_local.amount_minor, sale.total_local.currency_code) == (899, "EUR")
    with pytest.raises(PosdError) as err:
        pos.add_payment(sid, CASH, 1000, currency="EUR")
    assert err.value.reason == "CURRENCY_MISMATCH"
    paid = pos.add_payment(sid, CASH, 1000, currency="CHF")
    assert paid.sale.change.amount_minor == 154
    with pytest.raises(PosdError) as err:
        call(pos, "SetCurrency", sale_id=sid, currency_code="USD")
    assert err.value.reason == "CURRENCY_MISMATCH"
    assert "has payments in CHF" in err.value.message
    pos.remove_payment(sid, paid.payment_id)
    with pytest.raises(PosdError) as err:
        call(pos, "SetCurrency", sale_id=sid, currency_code="USD")
    assert err.value.reason == "EXCHANGE_RATE_NOT_AVAILABLE"
    today = pos.get_sale(sid).create_time.ToDatetime().date().isoformat()
    pos.call(
        pos.shops.ImportExchangeRates,
        shop_pb2.ImportExchangeRatesRequest(
            request_id=new_request_id(),
            rates=[
                shop_pb2.ExchangeRate(
                    base_currency_code="EUR", currency_code="USD", date=today, rate="1.0832"
                )
            ],
        ),
    )
    sale = call(pos, "SetCurrency", sale_id=sid, currency_code="USD").sale
    assert (sale.rate_source, sale.rate_date, sale.total.amount_minor) == (
        sale_pb2.RATE_SOURCE_DAILY,
        today,
        974,  # 8.99 x 1.0832 = 9.7380 -> 9.74
    )
    with running.client("2", "0000") as cashier, pytest.raises(PosdError) as err:
        call(cashier, "SetExchangeRate", sale_id=sid, exchange_rate="1.10")
    assert err.value.metadata["permission"] == "PRICE_OVERRIDE"
    sale = call(pos, "SetExchangeRate", sale_id=sid, exchange_rate="1.10").sale
    assert (sale.rate_source, sale.total.amount_minor) == (sale_pb2.RATE_SOURCE_MANUAL, 989)
    assert journal(running, "EXCHANGE_RATE_SET")[0]["new_rate"] == "1.1"
    pos.add_payment(sid, CARD, 989, currency="USD")
    posted = pos.post_sale(sid)
    assert posted.total_local.amount_minor == 899  # 9.89 / 1.10 = 8.9909
    with db(running) as conn:
        assert conn.execute(
            "SELECT currency, amount FROM drawer_entries WHERE sale_id = ?", (sid,)
        ).fetchall() == [("USD", 989)]
        assert conn.execute(
            "SELECT currency, total, total_local FROM sales WHERE sale_id = ?", (sid,)
        ).fetchone() == ("USD", 989, 899)


# -- VAT direction and rounding, to the cent --------------------------------------------------


def test_vat_directions_and_rounding_through_the_api(pos: PosdClient) -> None:
    seed(pos)
    # consumer, per-document rounding (the default)
    sid = pos.create_sale().sale_id
    basket(pos, sid)
    s = pos.get_sale(sid)
    assert vat(s) == {"7": (205, 192, 13), "19": (1552, 1304, 248)}
    assert (s.total.amount_minor, s.net_total.amount_minor, s.tax_total.amount_minor) == (
        1757,
        1496,
        261,
    )
    # business customer: from net prices; per document: 7 % tax round(13.44), 19 % round(246.43)
    s = pos.set_customer(sid, "B1", recalculate_lines=False)
    assert vat(s) == {"7": (205, 192, 13), "19": (1543, 1297, 246)}
    # per-line rounding (shop rule): 7 %: 7 + 7; 19 %: 143 + 88 + 10 x 2
    update_shop(pos, vat_rounding=shop_pb2.VAT_ROUNDING_LINE)
    sid2 = pos.create_sale().sale_id
    basket(pos, sid2)
    s = pos.get_sale(sid2)
    assert s.vat_rounding == shop_pb2.VAT_ROUNDING_LINE
    assert vat(s) == {"7": (205, 191, 14), "19": (1552, 1300, 252)}
    s = pos.set_customer(sid2, "B1", recalculate_lines=False)
    assert vat(s) == {"7": (206, 192, 14), "19": (1548, 1297, 251)}
    assert s.total.amount_minor == 1754
    # the shop may impose one direction whatever the customer
    update_shop(pos, vat_policy=shop_pb2.VAT_POLICY_GROSS)
    s = pos.set_customer(sid2, "P1", recalculate_lines=False)
    s = pos.set_customer(sid2, "B1", recalculate_lines=False)
    assert s.vat_direction == common_pb2.PRICE_BASIS_GROSS
    pos.add_payment(sid2, CARD, s.total.amount_minor)
    assert pos.post_sale(sid2).total.amount_minor == 1552 + 205


# -- pick-up dates, reservations, purge -------------------------------------------------------


def stock_of(pos: PosdClient, item_id: str) -> list[tuple[str, str, str]]:
    levels = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id=item_id)).levels
    return [(lv.on_hand, lv.reserved, lv.available) for lv in levels]


def test_pickup_dates_reserve_stock_and_purge_cancels_abandoned_sales(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with register(tmp_path / "s") as (running, clock), running.client() as pos:
        seed(pos)
        import_stock(pos, catalog_pb2.StockEntry(item_id="COFFEE", quantity="10"))
        today = clock().date()
        soon = (today + timedelta(days=3)).isoformat()
        past = (today - timedelta(days=1)).isoformat()

        idle = pos.create_sale().sale_id
        pos.add_line(idle, item_id="COFFEE")  # its TSE transaction starts
        paid = pos.create_sale().sale_id
        pos.add_line(paid, item_id="GUM")
        pos.add_payment(paid, CASH, 100)
        reserved = pos.create_sale().sale_id
        call(pos, "SetPickupDate", sale_id=reserved, pickup_date=soon)
        pos.add_line(reserved, item_id="COFFEE", quantity="2")
        expired = pos.create_sale().sale_id
        pos.add_line(expired, item_id="COFFEE", quantity="3")
        with pytest.raises(PosdError) as err:
            call(pos, "SetPickupDate", sale_id=expired, pickup_date=past, lines_follow=True)
        assert err.value.reason == "PICKUP_DATE_IN_PAST"
        with pytest.raises(PosdError) as err:
            call(pos, "SetPickupDate", sale_id=expired, pickup_date=soon)
        assert err.value.reason == "LINES_FOLLOW_CHOICE_REQUIRED"
        s = call(
            pos,
            "SetPickupDate",
            sale_id=expired,
            pickup_date=past,
            confirm_past_date=True,
            lines_follow=True,
        ).sale
        assert (s.pickup_date, s.lines[0].pickup_date) == (past, past)
        assert stock_of(pos, "COFFEE") == [("10", "5", "5")]  # 2 + 3 reserved

        clock.advance(timedelta(hours=3))
        fresh = pos.create_sale().sale_id
        pos.add_line(fresh, item_id="COFFEE")
        args = ["--socket", str(running.config.socket_path), "--operator", "1", "--pin", "1234"]
        assert posctl.main([*args, "sales", "purge", "--older-than", "2h", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert f"{idle}" in out and "would be cancelled" in out
        assert pos.get_sale(idle).state == sale_pb2.SALE_STATE_OPEN
        assert posctl.main([*args, "sales", "purge", "--older-than", "2h"]) == 0
        out = capsys.readouterr().out
        assert "2 abandoned sale(s) removed, 2 kept" in out
        states = {sid: pos.get_sale(sid) for sid in (idle, paid, reserved, expired, fresh)}
        assert states[idle].state == sale_pb2.SALE_STATE_CANCELLED
        assert states[idle].tse.state == "CANCELLED"  # AVBelegabbruch at the TSE
        assert states[expired].state == sale_pb2.SALE_STATE_CANCELLED
        for kept in (paid, reserved, fresh):
            assert states[kept].state == sale_pb2.SALE_STATE_OPEN
        assert stock_of(pos, "COFFEE") == [("10", "2", "8")]
        with running.client("2", "0000") as cashier, pytest.raises(PosdError) as err:
            call(cashier, "PurgeSales", older_than={"seconds": 7200})
        assert err.value.metadata["permission"] == "STORNO"
        with pytest.raises(PosdError) as err:
            call(pos, "PurgeSales", older_than={"seconds": 5})
        assert err.value.reason == "INVALID_ARGUMENT"


# -- stock -----------------------------------------------------------------------------------


def test_posting_takes_stock_at_the_registers_location(running: Running, pos: PosdClient) -> None:
    seed(pos)
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="COFFEE", quantity="2"),
        catalog_pb2.StockEntry(location_id="LAGER", item_id="COFFEE", quantity="50"),
    )
    update_shop(pos, allow_negative_stock=False)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE", quantity="3")
    pos.add_line(sid, item_id="GUM")  # no stock record at all
    pos.add_payment(sid, CASH, 5000)
    with pytest.raises(PosdError) as err:
        pos.post_sale(sid)
    assert err.value.reason == "INSUFFICIENT_STOCK"
    assert "COFFEE at MAIN: -1" in err.value.message and "GUM at MAIN: -1" in err.value.message
    with db(running) as conn:  # refused before the TSE signed anything
        assert conn.execute("SELECT state FROM sale_tse WHERE sale_id = ?", (sid,)).fetchall() in (
            [],
            [("STARTED",)],
        )
    sale = pos.get_sale(sid)
    pos.remove_line(sid, sale.lines[1].line_id)
    pos.update_line(sid, sale.lines[0].line_id, "2")
    posted = pos.post_sale(sid)
    assert list(posted.warnings) == []
    assert (
        pos.call(
            pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="COFFEE", location_id="LAGER")
        )
        .levels[0]
        .on_hand
        == "50"
    )
    update_shop(pos, allow_negative_stock=True)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE")
    pos.add_payment(sid, CARD, 899)
    posted = pos.post_sale(sid)
    assert list(posted.warnings) == ["NEGATIVE_STOCK: COFFEE at MAIN: -1"]
    assert pos.get_sale(sid).warnings == posted.warnings
    assert stock_of(pos, "COFFEE") == [("-1", "0", "-1")]
    with db(running) as conn:
        moves = conn.execute(
            "SELECT location_id, delta, reason FROM stock_moves WHERE item_id = 'COFFEE'"
            " ORDER BY move_id"
        ).fetchall()
    assert moves == [
        ("MAIN", "2", "IMPORT"),
        ("LAGER", "50", "IMPORT"),
        ("MAIN", "-2", "SALE"),
        ("MAIN", "-1", "SALE"),
    ]


def test_units_take_base_units_off_stock(pos: PosdClient) -> None:
    import_items(
        pos,
        item("H2O", "Wasser", 49, units=[catalog_pb2.ItemUnit(unit="case", quantity_per_unit="6")]),
    )
    import_stock(pos, catalog_pb2.StockEntry(item_id="H2O", quantity="20"))
    sid = pos.create_sale().sale_id
    r = pos.add_line(sid, item_id="H2O", unit="case", quantity="2")
    assert r.sale.total.amount_minor == 2 * 6 * 49
    pos.add_payment(sid, CASH, 1000)
    pos.post_sale(sid)
    assert stock_of(pos, "H2O") == [("8", "0", "8")]


# -- empty sales -------------------------------------------------------------------------------


def test_empty_sales_are_replaced_or_time_out_with_their_tse_transaction_cancelled(
    tmp_path: Path,
) -> None:
    with register(tmp_path / "s") as (running, clock), running.client() as pos:
        seed(pos)
        never = pos.create_sale().sale_id  # no line ever: no TSE transaction
        emptied = pos.create_sale().sale_id  # replaces `never`
        line = pos.add_line(emptied, item_id="COFFEE").line_id  # TSE transaction starts
        pos.remove_line(emptied, line)
        with running.client("2", "0000") as cashier:
            other = cashier.create_sale().sale_id  # another operator's sale stays
        current = pos.create_sale().sale_id
        with pytest.raises(PosdError) as err:
            pos.get_sale(never)
        assert err.value.reason == "SALE_NOT_FOUND"
        gone = pos.get_sale(emptied)
        assert (gone.state, gone.cancel_reason, gone.tse.state) == (
            sale_pb2.SALE_STATE_CANCELLED,
            "empty sale abandoned",
            "CANCELLED",
        )
        assert pos.get_sale(other).state == sale_pb2.SALE_STATE_OPEN
        # after the shop's timeout the sweep removes idle empty sales of every operator
        update_shop(pos, empty_sale_timeout_seconds=10)
        clock.advance(timedelta(seconds=11))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                pos.get_sale(current)
            except PosdError:
                break
            time.sleep(0.05)
        for sid in (current, other):
            with pytest.raises(PosdError) as err:
                pos.get_sale(sid)
            assert err.value.reason == "SALE_NOT_FOUND"
        kinds = [r[0] for r in db(running).execute("SELECT kind FROM journal ORDER BY seq")]
        assert kinds.count("SALE_CANCELLED") == 1  # only the one with a TSE transaction


def test_a_retried_create_does_not_remove_its_own_sale(pos: PosdClient) -> None:
    rid = new_request_id()
    first = pos.create_sale(request_id=rid)
    again = pos.create_sale(request_id=rid)
    assert first.sale_id == again.sale_id
    assert pos.get_sale(first.sale_id).state == sale_pb2.SALE_STATE_OPEN


# -- receipt or invoice -------------------------------------------------------------------------


def test_receipt_or_invoice_by_the_limit_and_an_invoice_printed_later(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    big = pos.create_sale().sale_id
    s = pos.add_line(big, item_id="TV").sale
    assert s.document_type == shop_pb2.DOCUMENT_TYPE_INVOICE  # 499.00 > 250.00
    pos.add_payment(big, CARD, 49900)
    with pytest.raises(PosdError) as err:
        pos.post_sale(big)
    assert err.value.reason == "DOCUMENT_ATTRIBUTE_MISSING"
    assert err.value.metadata["missing"] == "customer,customer_address"
    pos.set_customer(big, "P1")
    posted = pos.post_sale(big)
    assert posted.document_type == shop_pb2.DOCUMENT_TYPE_INVOICE
    text = printed(running, "Rechnungs-Nr. REG-1-1")
    assert "RECHNUNG" in text and "Erika Muster" in text and "20095 Hamburg" in text
    assert "Summe netto" in text and "A 19%" in text

    small = pos.create_sale().sale_id
    pos.add_line(small, item_id="COFFEE")
    pos.add_payment(small, CASH, 1000)
    with pytest.raises(PosdError) as err:
        call(pos, "PrintInvoice", sale_id=small)
    assert err.value.reason == "SALE_NOT_POSTED"
    receipt = pos.post_sale(small)
    assert (receipt.document_type, receipt.receipt_number) == (shop_pb2.DOCUMENT_TYPE_RECEIPT, 2)
    with pytest.raises(PosdError) as err:
        call(pos, "PrintInvoice", sale_id=small)  # the anonymous customer has no address
    assert err.value.reason == "DOCUMENT_ATTRIBUTE_MISSING"
    r = call(pos, "PrintInvoice", sale_id=small, customer_number="B1")
    assert (r.copy, r.sale.invoice_issued) == (False, True)
    text = printed(running, "Rechnungs-Nr. REG-1-2")
    assert "USt-IdNr. DE999999999" in text and "Hauptstr. 1" in text
    again = call(pos, "PrintInvoice", sale_id=small)
    assert again.copy
    assert printed(running, "*** KOPIE ***").count("Rechnungs-Nr. REG-1-2") == 2
    assert [e["customer"]["number"] for e in journal(running, "INVOICE_ISSUED")] == ["B1"]

    # a register may require more on its invoices
    update_register(
        pos,
        requirements=[
            shop_pb2.DocumentRequirement(
                document_type=shop_pb2.DOCUMENT_TYPE_INVOICE, attribute="customer_vat_id"
            )
        ],
    )
    vat_sale = pos.create_sale().sale_id
    pos.add_line(vat_sale, item_id="TV")
    pos.set_customer(vat_sale, "P1")
    pos.add_payment(vat_sale, CARD, 49900)
    with pytest.raises(PosdError) as err:
        pos.post_sale(vat_sale)
    assert err.value.metadata["missing"] == "customer_vat_id"
    # the business customer: 499.00 gross is 419.33 net + 79.67 VAT, still 499.00
    pos.set_customer(vat_sale, "B1", recalculate_lines=False)
    assert pos.post_sale(vat_sale).customer.vat_id == "DE999999999"

    # a register that issues receipts only; the client may force a receipt
    update_register(pos, document_types=[shop_pb2.DOCUMENT_TYPE_RECEIPT])
    tv = pos.create_sale().sale_id
    pos.add_line(tv, item_id="TV")
    pos.add_payment(tv, CARD, 49900)
    with pytest.raises(PosdError) as err:
        pos.post_sale(tv)
    assert err.value.reason == "DOCUMENT_TYPE_NOT_ALLOWED"
    with pytest.raises(PosdError) as err:
        call(pos, "SetDocumentType", sale_id=tv, document_type=shop_pb2.DOCUMENT_TYPE_INVOICE)
    assert err.value.reason == "DOCUMENT_TYPE_NOT_ALLOWED"
    s = call(pos, "SetDocumentType", sale_id=tv, document_type=shop_pb2.DOCUMENT_TYPE_RECEIPT).sale
    assert s.document_type_forced
    assert pos.post_sale(tv).document_type == shop_pb2.DOCUMENT_TYPE_RECEIPT


def test_no_invoice_for_a_reversed_receipt_or_a_storno_receipt(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE")
    pos.add_payment(sid, CASH, 1000)
    pos.post_sale(sid)
    storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    with pytest.raises(PosdError) as err:
        call(pos, "PrintInvoice", sale_id=sid, customer_number="B1")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION, "RECEIPT_ALREADY_REVERSED"
    )  # fmt: skip
    assert err.value.metadata["reversal_sale_id"] == storno.sale_id
    with pytest.raises(PosdError) as err:
        call(pos, "PrintInvoice", sale_id=storno.sale_id, customer_number="B1")
    assert err.value.reason == "RECEIPT_IS_REVERSAL"
    assert journal(running, "INVOICE_ISSUED") == []
    assert db(running).execute("SELECT COUNT(*) FROM sale_invoices").fetchone() == (0,)
