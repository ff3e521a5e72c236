"""Unit prices between VAT bases and currencies, discounts and exchange rates (pure).

Item prices are kept in the shop's local currency, either gross or net (the item's
price basis). A sale line shows its unit price in the sale's currency and VAT
direction. The conversion is done in ``Decimal`` and rounded once, half up, to the
minor unit of the target currency::

    unit = round(price * f_basis * rate * 10^(exp_to - exp_from))

with ``f_basis`` = 100 / (100 + p) from gross to net, (100 + p) / 100 from net to gross,
1 otherwise, and ``rate`` the number of target-currency units one local unit buys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR,
    amount_out_of_range,
    round_half_up,
)
from posd_daemon.domain.vat import PriceBasis, tax_from_net

#: Exchange rates: at most 12 decimals, within (0, 1e6). A rate is kept as units of the
#: foreign currency per one unit of the register's (shop.proto ExchangeRate.rate), while a
#: register whose currency is worth far less than the foreign one gets its bank's quote
#: the other way round ("24.315 CZK per EUR", "390.45 HUF per EUR"): the inverse has no
#: end (0.0411268764...), and cut to 6 decimals (0.041127, 0.002561) it booked 100.00 EUR
#: as 2431.49 CZK and 39047.25 HUF. 12 decimals keep a rate of 0.001 or more (1 HUF is
#: 0.0026 EUR) within 5e-10 of the quote's inverse: less than half a minor unit on amounts
#: up to 10^9 minor units.
RATE_DECIMALS = 12
#: Digits the conversions compute with: an amount up to MAX_MINOR (14 digits) times two
#: rates of up to 18 digits each and a VAT factor is multiplied out without losing a
#: digit (the default context keeps 28), so only the final division is ever cut.
_CONVERSION_DIGITS = 60
MAX_RATE = Decimal(1_000_000)
#: Percentages (discounts, limits): 0..100 with at most 2 decimals.
PERCENT_DECIMALS = 2
HUNDRED = Decimal(100)
#: A plain decimal as clients type it: ASCII digits and at most one decimal point with
#: digits on both sides. Decimal() alone also takes "1_000", "+2", " 2", "2.", "1e2"
#: and non-ASCII digits such as "\u0663" (Arabic-Indic 3); quantities refuse them too
#: (domain/sale.py parse_quantity takes them by :func:`plain_decimal` too).
PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS.get(currency, 2)


def convert_price(
    amount: int,
    *,
    vat_rate: Decimal,
    from_basis: PriceBasis,
    to_basis: PriceBasis,
    from_currency: str,
    to_currency: str,
    rate: Decimal = Decimal(1),
) -> int:
    """``amount`` (minor units) in ``to_basis`` and ``to_currency``, rounded half up once."""
    if from_currency == to_currency:
        return convert_exact(amount, vat_rate=vat_rate, from_basis=from_basis, to_basis=to_basis)
    return convert_exact(
        amount,
        vat_rate=vat_rate,
        from_basis=from_basis,
        to_basis=to_basis,
        times=rate,
        shift=exponent(to_currency) - exponent(from_currency),
    )


def convert_exact(
    amount: int,
    *,
    vat_rate: Decimal,
    from_basis: PriceBasis,
    to_basis: PriceBasis,
    times: Decimal = Decimal(1),
    divided_by: Decimal = Decimal(1),
    shift: int = 0,
) -> int:
    """``amount * times / divided_by * 10^shift`` moved from ``from_basis`` to
    ``to_basis``, rounded half up once. Every factor is multiplied out exactly and the
    one division comes last: a quotient taken first (x 100 / 119, / rate) is cut at the
    context's precision, and the product of that cut value can land a hair below an
    exact half (123.25 EUR gross at 19 % is 93.235 CHF net at 0.9002: it gave 93.23)."""
    with localcontext(prec=_CONVERSION_DIGITS):
        numerator = Decimal(amount) * times
        denominator = divided_by
        if from_basis is not to_basis:
            if to_basis is PriceBasis.NET:
                numerator *= HUNDRED
                denominator *= HUNDRED + vat_rate
            else:
                numerator *= HUNDRED + vat_rate
                denominator *= HUNDRED
        value = numerator / denominator
        if shift:
            value = value.scaleb(shift)
        return round_half_up(value)


def local_amount(amount: int, *, currency: str, local_currency: str, rate: Decimal) -> int:
    """An amount of the sale's currency in the local currency (amount / rate)."""
    if currency == local_currency:
        return amount
    with localcontext(prec=_CONVERSION_DIGITS):
        value = Decimal(amount) / rate
        shift = exponent(local_currency) - exponent(currency)
        if shift:
            value = value.scaleb(shift)
        return round_half_up(value)


def split_converted(amounts: Sequence[int], total: int, conv: Callable[[int], int]) -> list[int]:
    """Parts of one receipt (``amounts``, in its currency) in the local currency, adding up
    to ``total`` (their sum converted once, as a sale's ``total_local`` is): each part
    converted on its own, and the few minor units by which those roundings miss
    ``total`` go to the parts by largest remainder of their size (ties to the first)."""
    out = [conv(a) for a in amounts]
    diff = total - sum(out)
    weights = [abs(a) for a in amounts]
    whole = sum(weights)
    if diff and whole:
        sign = 1 if diff > 0 else -1
        n = abs(diff)
        shares = [n * w // whole for w in weights]
        order = sorted(range(len(weights)), key=lambda i: (-((n * weights[i]) % whole), i))
        for i in order[: n - sum(shares)]:
            shares[i] += 1
        out = [o + sign * extra for o, extra in zip(out, shares, strict=True)]
    return out


def net_within_gross(gross: int, vat_rate: Decimal) -> int:
    """The largest net amount whose gross (net plus its tax, rounded half up) is not
    above ``gross`` (>= 0): what a value given gross (a voucher's) is worth net. Not
    every gross has a net (at 19 % no net gives 0.03), so it may fall a cent short,
    never over."""
    net = round_half_up(Decimal(gross) * HUNDRED / (HUNDRED + vat_rate))
    while net > 0 and net + tax_from_net(net, vat_rate) > gross:
        net -= 1
    return net


def plain_decimal(text: str, field: str, reason: str, out_of_range: str) -> Decimal:
    """``text`` as a decimal when it is a :data:`PLAIN_DECIMAL`; a negative one is
    refused as ``out_of_range`` (a number, only not one allowed here)."""
    if PLAIN_DECIMAL.fullmatch(text) is None:
        if text.startswith("-") and PLAIN_DECIMAL.fullmatch(text[1:]) is not None:
            raise invalid(field, out_of_range, reason)
        raise invalid(field, f"{text!r} is not a decimal number", reason)
    return Decimal(text)


def parse_rate(text: str, field: str) -> Decimal:
    """An exchange rate: a positive decimal with at most ``RATE_DECIMALS`` places."""
    if not text or len(text) > 24:
        raise invalid(field, "an exchange rate like 0.9412 is required", "INVALID_EXCHANGE_RATE")
    out_of_range = "must be greater than 0 and below 1000000"
    rate = plain_decimal(text, field, "INVALID_EXCHANGE_RATE", out_of_range)
    if rate <= 0 or rate >= MAX_RATE:
        raise invalid(field, out_of_range, "INVALID_EXCHANGE_RATE")
    if rate != rate.quantize(Decimal(1).scaleb(-RATE_DECIMALS)):
        raise invalid(field, f"at most {RATE_DECIMALS} decimal places", "INVALID_EXCHANGE_RATE")
    return rate


def parse_percent(text: str, field: str, *, empty: Decimal | None = None) -> Decimal:
    """A percentage 0..100 with at most 2 decimals ("" gives ``empty`` when allowed)."""
    if text == "" and empty is not None:
        return empty
    if len(text) > 12:
        raise invalid(field, "is too long", "INVALID_PERCENT")
    out_of_range = "must be between 0 and 100"
    pct = plain_decimal(text, field, "INVALID_PERCENT", out_of_range)
    if not 0 <= pct <= HUNDRED:
        raise invalid(field, out_of_range, "INVALID_PERCENT")
    if pct != pct.quantize(Decimal(1).scaleb(-PERCENT_DECIMALS)):
        raise invalid(field, f"at most {PERCENT_DECIMALS} decimal places", "INVALID_PERCENT")
    return pct


def percent_of(amount: int, percent: Decimal) -> int:
    """``percent`` % of ``amount``, rounded half up (a discount amount)."""
    if percent == 0:
        return 0
    return round_half_up(Decimal(amount) * percent / HUNDRED)


def check_price(amount: int, field: str) -> int:
    if amount > MAX_MINOR:
        raise amount_out_of_range(field)
    if amount < 0:
        raise invalid(field, "must be 0 or more", "INVALID_AMOUNT")
    return amount


def fmt_decimal(value: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros ("19", "0.9412")."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")
