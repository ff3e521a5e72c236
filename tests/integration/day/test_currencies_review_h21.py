"""Exchange rates of a register whose own currency is worth far less than the foreign
one (a Czech register taking euros, a Hungarian one taking euros): the bank quotes
"24.315 CZK per EUR", the daemon keeps "EUR per CZK" (shop.proto ExchangeRate.rate:
units of the foreign currency per one unit of the base currency), so the back office
sends the inverse, 1/24.315 = 0.0411268764... With at most 6 decimals it had to be
0.041127, and every euro was booked at 24.31497 CZK: a 100.00 EUR note came out as
2431.49 CZK, a 2431.50 CZK price as 100.00 EUR but 2431.49 CZK of turnover, and in a
Hungarian register (390.45 HUF per EUR, 0.002561 at 6 decimals) 100.00 EUR as
39047.25 HUF instead of 39045.00. Real daemon over gRPC, real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from tests.conftest import running_daemon
from tests.integration.api.test_sale_part2 import call, pay, post
from tests.support.fullsale import import_items, item, money, update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH


def import_rate(pos: PosdClient, base: str, cur: str, rate: str) -> common_pb2.ImportSummary:
    """Imports one daily rate of today (all or nothing); its summary."""
    day = pos.create_sale().create_time.ToDatetime().date().isoformat()
    return pos.call(
        pos.shops.ImportExchangeRates,
        shop_pb2.ImportExchangeRatesRequest(
            request_id=new_request_id(),
            rates=[
                shop_pb2.ExchangeRate(
                    base_currency_code=base, currency_code=cur, date=day, rate=rate
                )
            ],
        ),
    ).summary


def inverse(per_foreign: str) -> str:
    """The rate the daemon keeps (foreign per local) for a bank's quote (local per
    foreign), to 12 decimals."""
    return str((1 / Decimal(per_foreign)).quantize(Decimal("1e-12")))


@contextmanager
def register_in(tmp_path: Path, currency: str) -> Iterator[PosdClient]:
    with (
        running_daemon(tmp_path / "state", {"register": {"currency": currency}}) as r,
        r.client() as pos,
    ):
        # §33 UStDV's 250 EUR, not 250 of the register's currency
        update_shop(pos, simplified_invoice_limit=money(10**9, currency))
        yield pos


@pytest.fixture
def czk(tmp_path: Path) -> Iterator[PosdClient]:
    with register_in(tmp_path, "CZK") as pos:
        yield pos


@pytest.fixture
def huf(tmp_path: Path) -> Iterator[PosdClient]:
    with register_in(tmp_path, "HUF") as pos:
        yield pos


def sell_in_euros(pos: PosdClient, price: int, local: str) -> sale_pb2.Sale:
    goods = item("GOODS", "Ware", 0)
    goods.gross_price.CopyFrom(money(price, local))
    import_items(pos, goods)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="GOODS", quantity="1")
    sale = call(pos, "SetCurrency", sale_id=sid, currency_code="EUR").sale
    pay(pos, sid, CASH, sale.total.amount_minor, currency="EUR")
    return post(pos, sid)


def test_a_czech_register_books_euros_at_the_banks_rate(czk: PosdClient) -> None:
    assert import_rate(czk, "CZK", "EUR", inverse("24.315")).committed  # 0.041126876414
    done = sell_in_euros(czk, 243150, "CZK")  # 2431.50 CZK
    assert done.total.amount_minor == 10000  # 100.00 EUR
    assert done.total_local.amount_minor == 243150  # not 2431.49
    assert done.exchange_rate == "0.041126876414"


def test_a_hungarian_register_books_euros_at_the_banks_rate(huf: PosdClient) -> None:
    assert import_rate(huf, "HUF", "EUR", inverse("390.45")).committed
    done = sell_in_euros(huf, 3904500, "HUF")  # 39045.00 HUF
    assert (done.total.amount_minor, done.total_local.amount_minor) == (10000, 3904500)


def test_a_fixed_rate_and_a_manual_rate_take_the_same_decimals(czk: PosdClient) -> None:
    update_shop(czk, fixed_rates=[shop_pb2.FixedRate(currency_code="EUR", rate=inverse("24.315"))])
    done = sell_in_euros(czk, 243150, "CZK")
    assert (done.total.amount_minor, done.total_local.amount_minor) == (10000, 243150)
    sid = czk.create_sale().sale_id
    czk.add_line(sid, item_id="GOODS", quantity="1")
    call(czk, "SetCurrency", sale_id=sid, currency_code="EUR")
    s = call(czk, "SetExchangeRate", sale_id=sid, exchange_rate=inverse("24.5")).sale
    assert s.total.amount_minor == 9924  # 2431.50 / 24.5 = 99.2449


@pytest.mark.parametrize(
    "bad", ["0", "-0.04", "NaN", "Infinity", "1000000", "0.0000000000001", "1e-13", "0,04", ""]
)
def test_a_bad_rate_from_the_back_office_is_refused_and_changes_nothing(
    czk: PosdClient, bad: str
) -> None:
    assert import_rate(czk, "CZK", "EUR", inverse("24.315")).committed
    refused = import_rate(czk, "CZK", "EUR", bad)
    assert not refused.committed
    assert [(r.field, r.reason) for r in refused.rejections] == [
        ("rate.rate", "INVALID_EXCHANGE_RATE")
    ]
    done = sell_in_euros(czk, 243150, "CZK")
    assert done.exchange_rate == "0.041126876414"
