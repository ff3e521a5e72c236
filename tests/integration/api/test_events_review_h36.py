"""Sale events from the scanner and from the API, reviewed together (helper h36).

* A scan that adds a line while a UI's call changes the same sale: every subscriber must
  see the sale's events in the order the changes committed (never line 2 before line 1),
  and the customer display must end on the sale's real total, not on the total of an
  event that was overtaken.
* Foreign cash whose change goes back in the local currency (100.00 CHF for 95.00 CHF,
  5.25 EUR paid out): the customer display shows the change handed over, in euro, not
  the 5.00 CHF nobody hands back.
* A UI that handles scans itself (``handle_scans``) gets them as SCAN events also when its
  stream filters by event type or device: the scans are kept from the sale for it, so a
  filter that left them out lost every scan.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from posd.client import PosdClient
from posd.v1 import common_pb2, device_pb2, shop_pb2

from tests.conftest import Running
from tests.integration.api import test_sale_part2 as part2
from tests.integration.api.test_devices_api import Stream, scan, seed, stream_factory, wait_for
from tests.support.fullsale import update_shop

__all__ = ["stream_factory"]  # the fixture, used by name


def test_scanner_and_ui_changing_one_sale_publish_in_commit_order(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    seed(pos)
    sale = pos.create_sale()
    events = stream_factory()
    rounds = 40
    for n in range(rounds):
        time.sleep(0.06)  # under the scanner's burst limit (20 codes a second)
        ui = threading.Thread(target=lambda: pos.add_line(sale.sale_id, item_id="2002"))
        ui.start()
        scan(running, b"4006381333931\r\n")
        ui.join(10)
        wait_for(lambda n=n: len(pos.get_sale(sale.sale_id).lines) == 2 * (n + 1))  # type: ignore[misc]
    final = pos.get_sale(sale.sale_id)
    wait_for(
        lambda: len([e for e in events.of("sale") if e.sale.sale_id == sale.sale_id]) >= 2 * rounds
    )
    time.sleep(0.2)  # the display's content for the last event
    counts = [e.sale.line_count for e in events.of("sale") if e.sale.sale_id == sale.sale_id]
    assert counts == sorted(counts), f"sale events out of commit order: {counts}"
    assert counts[-1] == len(final.lines)
    last = events.of("sale")[-1].sale
    assert last.total.amount_minor == final.total.amount_minor
    # what the customer sees is the sale's total
    shown = events.of("display_content")[-1].display_content
    assert shown.total.amount_minor == final.total.amount_minor


def test_the_display_shows_foreign_cash_change_in_the_currency_paid_out(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    part2.seed(pos)
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="EUR", increment_minor=5)],
    )
    events = stream_factory()
    sid = part2.sale_of(pos, ("TV", "1"))
    assert (
        part2.call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale.total.amount_minor
        == 9500
    )
    part2.pay(pos, sid, common_pb2.PAYMENT_METHOD_CASH, 10000, currency="CHF")
    done = part2.post(pos, sid, change_currency_code="EUR")
    assert (done.change_local.amount_minor, done.change_local.currency_code) == (525, "EUR")
    wait_for(lambda: any(e.display_content.mode == "change" for e in events.of("display_content")))
    shown = events.of("display_content")[-1].display_content
    assert shown.mode == "change"
    assert tuple(shown.lines) == ("SUMME      95,00 CHF", "RÜCKGELD      5,25 €")
    assert (shown.change.amount_minor, shown.change.currency_code) == (525, "EUR")
    wait_for(lambda: pos.get_device("display").display_lines[1] == "RÜCKGELD      5,25 €")
    # 0.02 CHF over the due are 0.00 EUR in 0.05 steps: no change is handed over
    sid = part2.sale_of(pos, ("TV", "1"))
    part2.call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    part2.pay(pos, sid, common_pb2.PAYMENT_METHOD_CASH, 9502, currency="CHF")
    done = part2.post(pos, sid, change_currency_code="EUR")
    assert (done.change.amount_minor, done.change_local.amount_minor) == (2, 0)
    wait_for(lambda: events.of("display_content")[-1].display_content.sale_id == sid)
    wait_for(lambda: events.of("display_content")[-1].display_content.mode == "change")
    shown = events.of("display_content")[-1].display_content
    assert tuple(shown.lines) == ("SUMME      95,00 CHF", "Vielen Dank!")


def test_a_ui_handling_scans_gets_them_whatever_its_filter(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    seed(pos)
    sale = pos.create_sale()
    sales_only = stream_factory(types=(device_pb2.EVENT_TYPE_SALE,), handle_scans=True)
    printer_only = stream_factory(device_id="printer", handle_scans=True)
    scan(running, b"4006381333931\r\n")
    for ui in (sales_only, printer_only):
        wait_for(lambda ui=ui: ui.of("scan"))  # type: ignore[misc]
        got = ui.of("scan")[0].scan
        assert (got.code, got.route) == ("4006381333931", device_pb2.SCAN_ROUTE_UI)
    assert not pos.get_sale(sale.sale_id).lines  # kept from the sale for the UIs
    # the filters still hold for everything else
    assert {e.type for e in sales_only.events} <= {
        device_pb2.EVENT_TYPE_SALE,
        device_pb2.EVENT_TYPE_SCAN,
    }
    assert all(e.device_id in ("sim:printer", "sim:scanner") for e in printer_only.events)
