"""Payment methods, their rules, splitting and rounding per payment method.

Every method is a first-class method with its own rules (all amounts in the sale's
currency, minor units):

=================  ======  =============================================================
method             fiscal  rules
=================  ======  =============================================================
CASH               Bar     may exceed the amount due (the surplus is change); rounded to
                           the shop's cash step for the currency (e.g. CHF 0.05), and
                           tendered or given back in that step (:func:`check_in_step`)
CARD               Unbar   at most the open amount; the card institute and, when the
                           shop requires it, the authorization code before posting
CONSUMER_CREDIT    Unbar   a contract number; an optional down payment by another method
                           is its own payment row
BANK_TRANSFER      Unbar   at most the open amount; optional reference
CASH_ON_DELIVERY   Unbar   at most the open amount (the carrier collects)
BENEFIT            Unbar   benefit vouchers (e.g. meal vouchers); optional reference
GATEWAY            Unbar   an online payment gateway; recorded, but not a card payment in
                           the closing's card totals
=================  ======  =============================================================

A negative payment is a refund (a return or exchange with a negative difference, a
storno); refunds go out by the methods the shop permits.

Rounding (:func:`round_to_step`): the part of the amount due that a rounded method
(normally cash) pays is rounded to the method's step, halves away from zero; the
difference is a separate, visible amount of the sale (``Sale.rounding``) and of its
fiscal data. A part that rounds to nothing (0.02 CHF in 0.05 cash) is paid by a payment
of 0.00, the whole part a rounding difference. Cards and other unrounded methods pay
exact cents.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from posd_daemon.domain.errors import DomainError, ErrorKind, FieldViolation, invalid
from posd_daemon.domain.money import format_minor, round_half_up

MAX_SPLIT = 10


class PaymentMethod(enum.Enum):
    CASH = "CASH"
    CARD = "CARD"
    CONSUMER_CREDIT = "CONSUMER_CREDIT"
    BANK_TRANSFER = "BANK_TRANSFER"
    CASH_ON_DELIVERY = "CASH_ON_DELIVERY"
    BENEFIT = "BENEFIT"
    GATEWAY = "GATEWAY"

    @property
    def is_cash(self) -> bool:
        return self is PaymentMethod.CASH

    @property
    def is_card(self) -> bool:
        """Counted in the closing's card totals (a payment gateway is not)."""
        return self is PaymentMethod.CARD

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    PaymentMethod.CASH: "Bar",
    PaymentMethod.CARD: "Karte",
    PaymentMethod.CONSUMER_CREDIT: "Finanzierung",
    PaymentMethod.BANK_TRANSFER: "Überweisung",
    PaymentMethod.CASH_ON_DELIVERY: "Nachnahme",
    PaymentMethod.BENEFIT: "Gutscheinkarte",
    PaymentMethod.GATEWAY: "Online-Zahlung",
}


@dataclass(slots=True)
class Payment:
    payment_id: str
    method: PaymentMethod
    #: tendered amount (cash may exceed what is due); negative: a refund
    amount: int
    #: card institute / scheme, e.g. "VISA", "girocard" (cards; printed on refunds)
    card_institute: str = ""
    authorization_code: str = ""
    #: consumer credit contract number
    contract_number: str = ""
    #: free reference (bank transfer, gateway transaction, benefit voucher number)
    reference: str = ""
    #: the method's rounding step when the payment was taken (1 = exact cents)
    rounding_step: int = 1
    #: a down payment: the id of the consumer-credit payment it belongs to
    down_payment_for: str = ""

    @property
    def is_refund(self) -> bool:
        return self.amount < 0


def round_to_step(amount: int, step: int) -> int:
    """``amount`` rounded to a multiple of ``step`` minor units, halves away from zero."""
    if step <= 1:
        return amount
    return round_half_up(Decimal(amount) / step) * step


def check_in_step(method: PaymentMethod, amount: int, step: int, currency: str) -> None:
    """Refuses an amount a method with a rounding step cannot pay: cash in a currency
    whose smallest coins are 0.05 (CHF) cannot be handed over as 10.03, nor given back.
    (The amount a payment takes by itself, the open amount, is on the step already.)"""
    if step <= 1 or amount % step == 0:
        return
    field = "amount.amount_minor"
    lower = amount - amount % step
    what = "cash" if method.is_cash else f"a {method.value.lower()} payment"
    description = (
        f"{format_minor(amount, currency)} {currency} cannot be paid: {what} in {currency}"
        f" is paid in steps of {format_minor(step, currency)} {currency}"
        f" (e.g. {format_minor(lower, currency)} or {format_minor(lower + step, currency)})"
    )
    raise DomainError(
        ErrorKind.INVALID_ARGUMENT,
        "AMOUNT_NOT_IN_STEP",
        f"{field}: {description}",
        violations=(FieldViolation(field, description),),
        metadata={"step_minor": str(step), "method": method.value},
    )


def split_evenly(amount: int, parts: int) -> list[int]:
    """``amount`` over ``parts`` payments: equal shares, the remainder cents one each to
    the first payments (deterministic: the earlier card pays the odd cent)."""
    if not 2 <= parts <= MAX_SPLIT:
        raise invalid("parts", f"between 2 and {MAX_SPLIT} cards", "INVALID_SPLIT")
    if amount < parts:
        raise invalid("parts", f"{amount} minor units cannot be split over {parts} cards",
                      "INVALID_SPLIT")  # fmt: skip
    base, rest = divmod(amount, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]
