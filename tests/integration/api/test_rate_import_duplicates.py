"""Two rows of one exchange-rate import for the same rate on the same day are refused as
DUPLICATE_ROW whatever form the date was written in (`2026-11-20` and `20261120` are
one day): before, both passed and the last one silently won, counted as replaced."""

from __future__ import annotations

from posd.client import PosdClient, new_request_id
from posd.v1 import shop_pb2


def _rate(date: str, rate: str) -> shop_pb2.ExchangeRate:
    return shop_pb2.ExchangeRate(
        base_currency_code="EUR", currency_code="USD", date=date, rate=rate
    )


def test_one_rate_twice_in_one_import_is_refused_in_any_date_form(pos: PosdClient) -> None:
    request = shop_pb2.ImportExchangeRatesRequest(
        request_id=new_request_id(),
        rates=[_rate("2026-11-20", "1.0832"), _rate("20261120", "1.5")],
    )
    summary = pos.call(pos.shops.ImportExchangeRates, request).summary
    assert not summary.committed
    assert [(r.row, r.reason) for r in summary.rejections] == [(2, "DUPLICATE_ROW")]
    # skipping it, the first row's rate is the one imported
    request = shop_pb2.ImportExchangeRatesRequest(
        request_id=new_request_id(),
        rates=[_rate("2026-11-20", "1.0832"), _rate("20261120", "1.5"), _rate("2026-11-21", "1.1")],
        skip_invalid_rows=True,
    )
    summary = pos.call(pos.shops.ImportExchangeRates, request).summary
    assert summary.imported == 2
    assert [r.reason for r in summary.rejections] == ["DUPLICATE_ROW"]
