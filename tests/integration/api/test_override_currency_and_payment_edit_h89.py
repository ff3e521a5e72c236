"""Through the gRPC API: an operator's price is converted from the price as set, once,
at every change of currency (in a CZK shop 100.01 CZK came back from 4.11 EUR as
99.93 CZK), also after parking and resuming; and a card payment may always be edited
down, also when the cash tendered covers the sale (it was refused with
PAYMENT_EXCEEDS_OPEN_AMOUNT)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posd.client import PosdClient

from posd_daemon.store.database import _migrations
from tests.integration.api.test_sale_part2 import (
    CARD,
    CASH,
    call,
    error,
    money,
    pay,
    post,
    sale_of,
    seed,
)
from tests.integration.day.test_currencies_review_h21 import import_rate, inverse, register_in
from tests.support.fullsale import import_items, item


def _overridden_line(pos: PosdClient) -> tuple[str, str]:
    """A sale of one item whose price the operator set to 100.01 CZK, the euro at
    24.315 CZK: (sale id, line id)."""
    assert import_rate(pos, "CZK", "EUR", inverse("24.315")).committed
    goods = item("GOODS", "Ware", 0)
    goods.gross_price.CopyFrom(money(9000, "CZK"))
    import_items(pos, goods)
    sid = pos.create_sale().sale_id
    line = pos.add_line(sid, item_id="GOODS", quantity="1").line_id
    call(pos, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(10001, "CZK"))
    return sid, line


def _price(pos: PosdClient, sid: str, currency: str) -> int:
    sale = call(pos, "SetCurrency", sale_id=sid, currency_code=currency).sale
    assert sale.currency_code == currency
    return int(sale.lines[0].unit_price.amount_minor)


def test_an_overridden_price_survives_switching_currencies_back_and_forth(
    tmp_path: Path,
) -> None:
    with register_in(tmp_path, "CZK") as pos:
        sid, _ = _overridden_line(pos)
        for _ in range(3):
            assert _price(pos, sid, "EUR") == 411  # 100.01 / 24.315 = 4.113…
            assert _price(pos, sid, "CZK") == 10001
        assert pos.get_sale(sid).lines[0].price_overridden


def test_an_overridden_price_survives_parking_in_a_foreign_currency(tmp_path: Path) -> None:
    with register_in(tmp_path, "CZK") as pos:
        sid, _ = _overridden_line(pos)
        assert _price(pos, sid, "EUR") == 411
        parked = call(pos, "ParkSale", sale_id=sid).sale
        back = call(pos, "ResumeSale", code=parked.parking_code).sale
        assert back.lines[0].unit_price.amount_minor == 411
        assert _price(pos, back.sale_id, "CZK") == 10001
        # a new price set in euros is the one kept from then on
        call(pos, "SetCurrency", sale_id=sid, currency_code="EUR")
        line = back.lines[0].line_id
        call(pos, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(500, "EUR"))
        # 500 / 0.041126876414 (the rate as kept, 12 decimals) = 12157.49…
        assert _price(pos, sid, "CZK") == 12157
        assert _price(pos, sid, "EUR") == 500


def test_a_card_payment_is_edited_down_when_cash_covers_the_sale(pos: PosdClient) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))  # 100.00
    card = pay(pos, sid, CARD, 6000, card_institute="VISA").payment_id
    pay(pos, sid, CASH, 10000)  # the customer hands over a 100 note as well
    s = call(pos, "UpdatePayment", sale_id=sid, payment_id=card, amount=money(4000)).sale
    assert [p.amount.amount_minor for p in s.payments] == [4000, 10000]
    assert s.change.amount_minor == 4000
    # raising it is held to the open amount as before: the cash pays everything
    e = error(call, pos, "UpdatePayment", sale_id=sid, payment_id=card, amount=money(4001))
    assert e.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    done = post(pos, sid)
    assert [p.amount.amount_minor for p in done.payments] == [4000, 10000]
    assert done.change.amount_minor == 4000


def test_a_line_overridden_before_schema_26_still_converts(tmp_path: Path) -> None:
    """A database of schema 25 (its sale_lines without the override columns) migrates,
    and its open sale's overridden line is converted from its last terms, as before."""
    state = tmp_path / "state"
    with register_in(tmp_path, "CZK") as pos:
        sid, _ = _overridden_line(pos)
        assert _price(pos, sid, "EUR") == 411
        code = call(pos, "ParkSale", sale_id=sid).sale.parking_code
    with sqlite3.connect(state / "posd.sqlite3") as conn:
        for column in ("override_price", "override_currency", "override_rate", "override_basis"):
            conn.execute(f"ALTER TABLE sale_lines DROP COLUMN {column}")
        # the later schemas' columns go too (27 changed only an index, which it makes anew)
        conn.execute("ALTER TABLE tse_pending_events DROP COLUMN tse_serial")  # schema 28
        for column in ("revoked_at", "revoke_reason"):  # schema 29
            conn.execute(f"ALTER TABLE digital_receipts DROP COLUMN {column}")
        conn.execute("ALTER TABLE sale_lines DROP COLUMN note")  # schema 30
        conn.execute("PRAGMA user_version = 25")
    with register_in(tmp_path, "CZK") as pos:
        back = call(pos, "ResumeSale", code=code).sale
        assert back.lines[0].unit_price.amount_minor == 411
        assert back.lines[0].price_overridden
        assert _price(pos, sid, "CZK") == 9993  # what such a line always came back as
        # a price set now is kept as set
        line = back.lines[0].line_id
        call(pos, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(10001, "CZK"))
        assert _price(pos, sid, "EUR") == 411
        assert _price(pos, sid, "CZK") == 10001
    with sqlite3.connect(state / "posd.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(_migrations())
        assert conn.execute(
            "SELECT override_price, override_currency, override_basis FROM sale_lines"
        ).fetchall() == [(10001, "CZK", "GROSS")]
