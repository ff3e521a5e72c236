"""Rules that depend on the time: the VAT rate of the post's business day for a sale
open across a rate change, expired lots, and the maximum age of a daily exchange rate.
The daemon runs in-process with an injected clock (register.timezone Europe/Berlin)."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, common_pb2, sale_pb2, shop_pb2

from posd_daemon.ops.config import ConfigError, load
from tests.conftest import Running, start_in_thread
from tests.integration.api.test_post_ahead import outcomes, started
from tests.integration.day.test_business_day import FixedClock
from tests.support.cash import close_as_expected
from tests.support.fullsale import (
    customer,
    import_customers,
    import_items,
    import_stock,
    item,
    printed,
)

CASH, CARD = common_pb2.PAYMENT_METHOD_CASH, common_pb2.PAYMENT_METHOD_CARD
BERLIN: dict[str, Any] = {"register": {"timezone": "Europe/Berlin"}}
#: 23:58 on 31 December 2020 in Berlin (CET, UTC+1): 16 % until midnight, then 19 %
NEW_YEARS_EVE = datetime(2020, 12, 31, 22, 58, tzinfo=UTC)
#: 23:58 on 30 June 2020 in Berlin (CEST, UTC+2): 19 % until midnight, then 16 %
JUNE_30 = datetime(2020, 6, 30, 21, 58, tzinfo=UTC)
THREE_MINUTES = timedelta(minutes=3)


def journal(running: Running, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(running.config.database_path) as conn:
        rows = conn.execute("SELECT payload FROM journal WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(r[0]) for r in rows]


def rates_of(sale: sale_pb2.Sale) -> list[str]:
    return [ln.vat_rate for ln in sale.lines]


# -- VAT rate change while a sale is open ----------------------------------------------------


def test_a_gross_sale_open_across_a_rate_change_posts_at_the_new_rate(tmp_path: Path) -> None:
    clock = FixedClock(NEW_YEARS_EVE)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            sale_id = pos.create_sale().sale_id
            pos.add_line(sale_id, item_id="KAFFEE")
            pos.add_line(sale_id, item_id="KAFFEE")
            paid = pos.add_payment(sale_id, CASH, 500).sale
            assert rates_of(paid) == ["16", "16"]
            assert paid.total.amount_minor == 500

            clock.now = NEW_YEARS_EVE + THREE_MINUTES  # 00:01 on 1 January 2021
            posted = pos.post_sale(sale_id)
            # the gross stays what the customer paid; the split is the new rate's
            assert rates_of(posted) == ["19", "19"]
            assert posted.total.amount_minor == 500
            assert [(v.vat_rate, v.tax.amount_minor) for v in posted.vat_totals] == [("19", 80)]
            paper = printed(running, f"Beleg-Nr. {posted.receipt_number}")
            assert "19%" in paper and "16%" not in paper
            (record,) = journal(running, "SALE_POSTED")
            assert {ln["vat_rate"] for ln in record["lines"]} == {"19"}
            (applied,) = journal(running, "VAT_RATES_APPLIED")
            assert applied["business_day"] == "2021-01-01"
            assert {(c["old_rate"], c["new_rate"]) for c in applied["lines"]} == {("16", "19")}

            close_as_expected(pos)
            closing = pos.z_closing()
            assert closing.business_date == "2021-01-01"
            assert [(v.vat_rate, v.tax.amount_minor) for v in closing.report.vat_totals] == [
                ("19", 80)
            ]
            export = zipfile.ZipFile(io.BytesIO(pos.export_dsfinvk(z_from=1, z_to=1)))
            vat_csv = export.read("vat.csv").decode("utf-8")
            assert ";1;19,00;" in vat_csv
    finally:
        running.stop()


def test_a_net_sale_open_across_a_rate_change_is_recalculated_before_payment(
    tmp_path: Path,
) -> None:
    clock = FixedClock(JUNE_30)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as pos:
            import_items(pos, item("BOHRER", "Bohrmaschine", 10000, net=True))
            import_customers(
                pos, customer("B1", "Bau GmbH", price_entry=common_pb2.PRICE_BASIS_NET)
            )
            sale_id = pos.create_sale().sale_id
            pos.set_customer(sale_id, "B1")
            pos.add_line(sale_id, item_id="BOHRER")
            paid = pos.add_payment(sale_id, CARD, 11900)
            assert (rates_of(paid.sale), paid.sale.total.amount_minor) == (["19"], 11900)

            clock.now = JUNE_30 + THREE_MINUTES  # 00:01 on 1 July 2020: 16 %
            with pytest.raises(PosdError) as err:
                pos.post_sale(sale_id)
            assert err.value.reason == "VAT_RATE_CHANGED"
            assert "recalculate" in err.value.message
            assert err.value.metadata["new_total_minor"] == "11600"
            unchanged = pos.get_sale(sale_id)  # a refusal changes nothing
            assert (rates_of(unchanged), unchanged.total.amount_minor) == (["19"], 11900)
            assert unchanged.state == sale_pb2.SALE_STATE_OPEN

            # any change recalculates: here the card payment is taken back
            sale = pos.remove_payment(sale_id, paid.payment_id)
            assert (rates_of(sale), sale.total.amount_minor) == (["16"], 11600)
            pos.add_payment(sale_id, CARD, 11600)
            posted = pos.post_sale(sale_id)
            assert [
                (v.vat_rate, v.net.amount_minor, v.tax.amount_minor) for v in posted.vat_totals
            ] == [("16", 10000, 1600)]
    finally:
        running.stop()


# -- expired lots ------------------------------------------------------------------------------


def import_milk(manager: PosdClient, *lots: tuple[str, str]) -> None:
    """A lot-tracked item MILCH with 5 in stock of each (lot number, expiry date)."""
    import_items(
        manager,
        item(
            "MILCH",
            "Milch",
            119,
            vat=common_pb2.VAT_CATEGORY_REDUCED,
            tracking=catalog_pb2.TRACKING_LOT,
        ),
    )
    import_stock(
        manager,
        *(
            catalog_pb2.StockEntry(item_id="MILCH", lot_number=lot, quantity="5", expiry_date=day)
            for lot, day in lots
        ),
    )


def test_an_expired_lot_is_refused_unless_the_operator_may_sell_it(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as manager, running.client("2", "0000") as cashier:
            import_milk(manager, ("L-OLD", "2026-03-09"), ("L-TODAY", "2026-03-10"))
            sale_id = cashier.create_sale().sale_id
            with pytest.raises(PosdError) as err:
                cashier.add_line(sale_id, item_id="MILCH", lot_number="L-OLD")
            assert err.value.reason == "LOT_EXPIRED"
            assert err.value.metadata["expiry_date"] == "2026-03-09"
            assert "SELL_EXPIRED_LOT" in err.value.message
            with pytest.raises(PosdError) as err:
                cashier.scan(sale_id, "L-OLD")  # the lot's label scanned
            assert err.value.reason == "LOT_EXPIRED"
            assert not cashier.get_sale(sale_id).lines  # nothing changed
            # the expiry day itself is still good
            cashier.add_line(sale_id, item_id="MILCH", lot_number="L-TODAY")
            assert not cashier.get_sale(sale_id).warnings

            other = manager.create_sale().sale_id
            sale = manager.add_line(other, item_id="MILCH", lot_number="L-OLD").sale
            assert [w for w in sale.warnings if w.startswith("LOT_EXPIRED")] == [
                "LOT_EXPIRED: Milch lot L-OLD of item MILCH expired on 2026-03-09"
            ]
            (sold,) = journal(running, "EXPIRED_LOT_SOLD")
            assert (sold["lot_number"], sold["operator_id"]) == ("L-OLD", "1")
            manager.add_payment(other, CASH, 119)
            posted = manager.post_sale(other)
            paper = printed(running, f"Beleg-Nr. {posted.receipt_number}")
            assert "Charge L-OLD abgelaufen 09.03.2026" in paper
    finally:
        running.stop()


def test_a_lot_that_expired_since_its_line_was_added_is_checked_again_at_the_post(
    tmp_path: Path,
) -> None:
    """A sale open across midnight (as a parked sale resumed days later): the receipt's
    day is the day the goods are sold, so the lots are checked again at the post, also
    when the post ran ahead on the day before (it is not claimed across midnight)."""
    evening = datetime(2026, 3, 10, 22, 50, tzinfo=UTC)  # 23:50 in Berlin
    clock = FixedClock(evening)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as manager, running.client("2", "0000") as cashier:
            import_milk(manager, ("L-TODAY", "2026-03-10"), ("L-NEW", "2026-03-20"))
            sale_id = cashier.create_sale().sale_id
            line_id = cashier.add_line(sale_id, item_id="MILCH", lot_number="L-TODAY").line_id
            fresh = cashier.create_sale().sale_id
            cashier.add_line(fresh, item_id="MILCH", lot_number="L-NEW")
            last = cashier.status().last_receipt_number
            started(running, fresh)  # its TSE start written (a write makes a run-ahead give way)
            started(running, sale_id)
            before = outcomes(running)
            cashier.add_payment(sale_id, CASH, 200)  # paid in full: the post runs ahead
            time.sleep(0.05)  # it runs 5 ms after the payment (any other call would end it)

            clock.now = evening + timedelta(minutes=20)  # 00:10 on 11 March
            with pytest.raises(PosdError) as err:
                cashier.post_sale(sale_id)
            assert err.value.reason == "LOT_EXPIRED"
            assert err.value.metadata["line_id"] == line_id
            assert err.value.metadata["expiry_date"] == "2026-03-10"
            assert f"line {line_id}" in err.value.message
            # the run-ahead of the day before was not claimed; nothing was posted
            after = outcomes(running)
            assert after["claimed"] == before["claimed"], after
            assert after["abandoned"] == before["abandoned"] + 1, after
            refused = cashier.get_sale(sale_id)
            assert refused.state == sale_pb2.SALE_STATE_OPEN
            assert not refused.warnings
            assert cashier.status().last_receipt_number == last
            assert not journal(running, "EXPIRED_LOT_SOLD")

            # a lot still good posts as usual
            cashier.add_payment(fresh, CARD, 119)
            assert not cashier.post_sale(fresh).warnings

            # an operator who may sell expired lots posts it: warned, journaled, printed
            posted = manager.post_sale(sale_id)
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert list(posted.warnings) == [
                "LOT_EXPIRED: Milch lot L-TODAY of item MILCH expired on 2026-03-10"
            ]
            (sold,) = journal(running, "EXPIRED_LOT_SOLD")
            assert (sold["lot_number"], sold["operator_id"], sold["at"]) == ("L-TODAY", "1", "post")
            assert sold["business_day"] == "2026-03-11"
            paper = printed(running, f"Beleg-Nr. {posted.receipt_number}")
            assert "Charge L-TODAY abgelaufen 10.03.2026" in paper
    finally:
        running.stop()


def test_a_lot_number_two_items_share_is_checked_for_each_item(tmp_path: Path) -> None:
    """Lot numbers are the producer's: two items may carry the same one with different
    dates. An expired lot of one item sold with the permission does not let the other
    item's lot of that number through the check at the post, and each line's receipt
    text gives its own lot's date."""
    evening = datetime(2026, 3, 10, 22, 50, tzinfo=UTC)  # 23:50 in Berlin
    clock = FixedClock(evening)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as manager, running.client("2", "0000") as cashier:
            import_milk(manager, ("L7", "2026-03-09"))
            import_items(manager, item("SAHNE", "Sahne", 99, tracking=catalog_pb2.TRACKING_LOT))
            import_stock(
                manager,
                catalog_pb2.StockEntry(
                    item_id="SAHNE", lot_number="L7", quantity="5", expiry_date="2026-03-10"
                ),
            )
            sale_id = manager.create_sale().sale_id
            manager.add_line(sale_id, item_id="MILCH", lot_number="L7")  # expired: warned
            manager.add_line(sale_id, item_id="SAHNE", lot_number="L7")  # good today
            clock.now = evening + timedelta(minutes=20)  # 00:10 on 11 March
            sahne = next(ln for ln in cashier.get_sale(sale_id).lines if ln.item_id == "SAHNE")
            cashier.add_payment(sale_id, CASH, 300)
            last = cashier.status().last_receipt_number
            with pytest.raises(PosdError) as err:
                cashier.post_sale(sale_id)
            assert err.value.reason == "LOT_EXPIRED"
            assert err.value.metadata["line_id"] == sahne.line_id
            assert err.value.metadata["item_id"] == "SAHNE"
            assert err.value.metadata["expiry_date"] == "2026-03-10"
            assert cashier.status().last_receipt_number == last

            posted = manager.post_sale(sale_id)
            assert sorted(w for w in posted.warnings if w.startswith("LOT_EXPIRED")) == [
                "LOT_EXPIRED: Milch lot L7 of item MILCH expired on 2026-03-09",
                "LOT_EXPIRED: Sahne lot L7 of item SAHNE expired on 2026-03-10",
            ]
            paper = printed(running, f"Beleg-Nr. {posted.receipt_number}")
            assert "Charge L7 abgelaufen 09.03.2026" in paper
            assert "Charge L7 abgelaufen 10.03.2026" in paper
    finally:
        running.stop()


# -- the age of a daily exchange rate ----------------------------------------------------------


def import_rate(pos: PosdClient, day: str, rate: str) -> None:
    pos.call(
        pos.shops.ImportExchangeRates,
        shop_pb2.ImportExchangeRatesRequest(
            request_id=new_request_id(),
            rates=[
                shop_pb2.ExchangeRate(
                    base_currency_code="EUR", currency_code="USD", date=day, rate=rate
                )
            ],
        ),
    )


def set_currency(pos: PosdClient, sale_id: str, currency: str) -> sale_pb2.Sale:
    req = sale_pb2.SetCurrencyRequest(
        request_id=new_request_id(), sale_id=sale_id, currency_code=currency
    )
    return pos.call(pos.sales.SetCurrency, req).sale


def test_a_daily_rate_older_than_the_maximum_age_is_refused(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    overrides = {"register": {"timezone": "Europe/Berlin", "exchange_rate_max_age_days": 3}}
    running = start_in_thread(tmp_path / "state", overrides, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 1000)
            import_rate(pos, "2026-03-06", "1.05")  # four days old
            sale_id = pos.create_sale().sale_id
            pos.add_line(sale_id, item_id="KAFFEE")
            with pytest.raises(PosdError) as err:
                set_currency(pos, sale_id, "USD")
            assert err.value.reason == "EXCHANGE_RATE_TOO_OLD"
            assert "2026-03-06" in err.value.message and "3 days" in err.value.message
            assert err.value.metadata["rate_date"] == "2026-03-06"
            assert pos.get_sale(sale_id).currency_code == "EUR"  # nothing changed

            import_rate(pos, "2026-03-07", "1.08")  # three days old: still good
            sale = set_currency(pos, sale_id, "USD")
            assert (sale.rate_date, sale.total.amount_minor) == ("2026-03-07", 1080)

            clock.now += timedelta(days=1)  # the sale is still open a day later
            with pytest.raises(PosdError) as err:
                pos.add_payment(sale_id, CARD, 1080, currency="USD")
            assert err.value.reason == "EXCHANGE_RATE_TOO_OLD"
            assert not pos.get_sale(sale_id).payments
    finally:
        running.stop()


@contextlib.contextmanager
def dollar_sale_at_todays_rate(
    tmp_path: Path,
) -> Iterator[tuple[PosdClient, FixedClock, str]]:
    """A register whose daily rates are good for the day they are of only, and a sale
    of 10.00 EUR in USD at today's rate (10.80): (client, clock, sale id)."""
    clock = FixedClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    overrides = {"register": {"timezone": "Europe/Berlin", "exchange_rate_max_age_days": 0}}
    running = start_in_thread(tmp_path / "state", overrides, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 1000)
            import_rate(pos, "2026-03-10", "1.08")
            sale_id = pos.create_sale().sale_id
            pos.add_line(sale_id, item_id="KAFFEE")
            set_currency(pos, sale_id, "USD")
            yield pos, clock, sale_id
    finally:
        running.stop()


def test_a_paid_sale_whose_daily_rate_aged_meanwhile_is_not_posted(tmp_path: Path) -> None:
    with dollar_sale_at_todays_rate(tmp_path) as (pos, clock, sale_id):
        pos.add_payment(sale_id, CARD, 1080, currency="USD")
        clock.now += timedelta(days=1)
        with pytest.raises(PosdError) as err:
            pos.post_sale(sale_id)
        assert err.value.reason == "EXCHANGE_RATE_TOO_OLD"
        assert pos.get_sale(sale_id).state == sale_pb2.SALE_STATE_OPEN


@pytest.mark.parametrize("value", [-1, 367])
def test_the_maximum_rate_age_is_validated_at_load(tmp_path: Path, value: int) -> None:
    with pytest.raises(ConfigError) as err:
        load(
            None,
            {"state": {"dir": str(tmp_path)}, "register": {"exchange_rate_max_age_days": value}},
        )
    assert "register.exchange_rate_max_age_days: between 0 and 366" in str(err.value)
    assert load(None, {"state": {"dir": str(tmp_path)}}).register.exchange_rate_max_age_days == 7
