"""X reports and Z closings (Kassenabschluss): the totals of a period (pure).

A :class:`ClosingBuilder` is fed one Vorgang at a time (posted sale, aborted sale, cash
movement) plus the cash balances of the shifts closed in the period, and builds a
:class:`ClosingReport`:

* totals per payment method; payment gateways (DSFinV-K ZAHLART_TYP
  ``ElZahlungsdienstleister``) are listed separately and never inside the card totals;
* per VAT rate gross, net and tax, summed from each receipt's own VAT split (the values
  printed on the receipts, DSFinV-K: "alle Werte müssen exakt den auf dem Bon
  aufgedruckten Werten entsprechen"), not recomputed from the period's gross;
* per business case (sales, returns, vouchers sold/redeemed, discounts, cash movements,
  cash differences, rounding): what the register produces today, zero for the rest;
* per operator; counted vs expected cash per currency.

Business cases carry their DSFinV-K GV_TYP (Anhang C) and the report keeps the
``(GV_TYP, UST_SCHLUESSEL)`` sums that ``businesscases.csv`` needs. Only BON_TYP
``Beleg`` enters the totals: aborted sales (AVBelegabbruch) are counted, never summed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from posd_daemon.domain.shift import CashBalance
from posd_daemon.domain.vat import VatCategory, VatTotal

#: DSFinV-K UST_SCHLUESSEL for business cases without VAT relevance ("Nicht Steuerbar",
#: DSFinV-K Anlage 2; Geldtransit, Privatentnahme/-einlage, TrinkgeldAN, DifferenzSollIst).
UST_NOT_TAXABLE = 5


class CashMovementKind(enum.Enum):
    """Cash movements and their DSFinV-K GV_TYP (Anhang C, "Geschäftsvorfalltypen")."""

    DEPOSIT = "DEPOSIT"  # Einlage: Privateinlage
    WITHDRAWAL = "WITHDRAWAL"  # Entnahme: Privatentnahme
    TRANSIT = "TRANSIT"  # Geldtransit: to/from the safe or bank, between registers
    TIP = "TIP"  # Trinkgeld an Arbeitnehmer: TrinkgeldAN (no VAT, DSFinV-K)
    DIFFERENCE = "DIFFERENCE"  # booked at a shift close: DifferenzSollIst

    @property
    def gv_typ(self) -> str:
        return _GV_TYP[self]

    @property
    def label(self) -> str:
        return _LABEL[self]


_GV_TYP = {
    CashMovementKind.DEPOSIT: "Privateinlage",
    CashMovementKind.WITHDRAWAL: "Privatentnahme",
    CashMovementKind.TRANSIT: "Geldtransit",
    CashMovementKind.TIP: "TrinkgeldAN",
    CashMovementKind.DIFFERENCE: "DifferenzSollIst",
}
_LABEL = {
    CashMovementKind.DEPOSIT: "Einlage",
    CashMovementKind.WITHDRAWAL: "Entnahme",
    CashMovementKind.TRANSIT: "Geldtransit",
    CashMovementKind.TIP: "Trinkgeld",
    CashMovementKind.DIFFERENCE: "Kassendifferenz",
}


@dataclass(frozen=True, slots=True)
class PaymentKind:
    """How a payment method appears in closings and in DSFinV-K (Anhang D, ZAHLART_TYP)."""

    zahlart_typ: str
    name: str
    cash: bool = False
    #: an electronic payment service (PayPal & co.): listed apart from card totals
    gateway: bool = False


#: Payment methods (``PaymentMethod.value``) -> closing/DSFinV-K treatment. A card method
#: that cannot tell debit from credit is ``Unbar`` ("zusammenfassende Form für alle
#: unbaren Zahlarten", DSFinV-K Anhang D). Methods not listed here count as ``Unbar``.
PAYMENT_KINDS: dict[str, PaymentKind] = {
    "CASH": PaymentKind("Bar", "Bar", cash=True),
    "CARD": PaymentKind("Unbar", "Karte"),
    "DEBIT_CARD": PaymentKind("ECKarte", "EC-Karte"),
    "CREDIT_CARD": PaymentKind("Kreditkarte", "Kreditkarte"),
    "GATEWAY": PaymentKind("ElZahlungsdienstleister", "Zahlungsdienstleister", gateway=True),
    "GIFT_CARD": PaymentKind("Guthabenkarte", "Guthabenkarte"),
}


def payment_kind(method: str) -> PaymentKind:
    return PAYMENT_KINDS.get(method) or PaymentKind("Unbar", method.title())


class BusinessCase(enum.Enum):
    """The business cases a closing reports, each with its DSFinV-K GV_TYP."""

    SALES = ("SALES", "Umsatz")
    RETURNS = ("RETURNS", "Umsatz")
    VOUCHERS_SOLD = ("VOUCHERS_SOLD", "MehrzweckgutscheinKauf")
    VOUCHERS_REDEEMED = ("VOUCHERS_REDEEMED", "MehrzweckgutscheinEinloesung")
    DISCOUNTS = ("DISCOUNTS", "Rabatt")
    CASH_DEPOSITS = ("CASH_DEPOSITS", "Privateinlage")
    CASH_WITHDRAWALS = ("CASH_WITHDRAWALS", "Privatentnahme")
    CASH_TRANSITS = ("CASH_TRANSITS", "Geldtransit")
    TIPS = ("TIPS", "TrinkgeldAN")
    CASH_DIFFERENCES = ("CASH_DIFFERENCES", "DifferenzSollIst")
    ROUNDING = ("ROUNDING", "")

    @property
    def gv_typ(self) -> str:
        return self.value[1]


MOVEMENT_CASE = {
    CashMovementKind.DEPOSIT: BusinessCase.CASH_DEPOSITS,
    CashMovementKind.WITHDRAWAL: BusinessCase.CASH_WITHDRAWALS,
    CashMovementKind.TRANSIT: BusinessCase.CASH_TRANSITS,
    CashMovementKind.TIP: BusinessCase.TIPS,
    CashMovementKind.DIFFERENCE: BusinessCase.CASH_DIFFERENCES,
}


# -- report -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentTotal:
    method: str
    zahlart_typ: str
    name: str
    currency: str
    amount: int
    count: int


@dataclass(frozen=True, slots=True)
class VatLine:
    category: int
    percent: str
    gross: int
    net: int
    tax: int


@dataclass(frozen=True, slots=True)
class CaseTotal:
    case: str
    gv_typ: str
    count: int
    gross: int
    net: int
    tax: int


@dataclass(frozen=True, slots=True)
class GvTotal:
    """One row of DSFinV-K businesscases.csv: a GV_TYP under one UST_SCHLUESSEL."""

    gv_typ: str
    ust_key: int
    gross: int
    net: int
    tax: int


@dataclass(frozen=True, slots=True)
class OperatorTotal:
    operator_id: str
    receipts: int
    gross: int
    cash: int


@dataclass(frozen=True, slots=True)
class BalanceLine:
    currency: str
    opening: int
    expected: int
    counted: int
    difference: int


@dataclass(frozen=True, slots=True)
class ClosingReport:
    """The totals of a period. ``z_nr`` is 0 for an X report (nothing is closed)."""

    z_nr: int
    register_id: str
    currency: str
    created_at: str
    first_bon_id: int
    last_bon_id: int
    receipts: int
    aborted: int
    movements: int
    late: int
    outside_shift: int
    gross: int
    payments: tuple[PaymentTotal, ...] = ()
    gateways: tuple[PaymentTotal, ...] = ()
    vat: tuple[VatLine, ...] = ()
    cases: tuple[CaseTotal, ...] = ()
    gv_totals: tuple[GvTotal, ...] = ()
    operators: tuple[OperatorTotal, ...] = ()
    cash_per_currency: tuple[tuple[str, int], ...] = ()
    balances: tuple[BalanceLine, ...] = ()
    shifts: tuple[int, ...] = ()
    #: expected cash of a still open shift (X report only), per currency
    open_shift_expected: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    #: training sales (AVTraining) in the period: counted, never turnover
    training: int = 0

    @property
    def payments_total(self) -> int:
        """DSFinV-K Z_SE_ZAHLUNGEN: every payment of the period, gateways included."""
        return sum(p.amount for p in (*self.payments, *self.gateways))

    @property
    def cash_total(self) -> int:
        """DSFinV-K Z_SE_BARZAHLUNGEN (base currency)."""
        return sum(
            p.amount
            for p in self.payments
            if p.zahlart_typ == "Bar" and p.currency == self.currency
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ClosingReport:
        return ClosingReport(
            z_nr=int(d["z_nr"]),
            register_id=str(d["register_id"]),
            currency=str(d["currency"]),
            created_at=str(d["created_at"]),
            first_bon_id=int(d["first_bon_id"]),
            last_bon_id=int(d["last_bon_id"]),
            receipts=int(d["receipts"]),
            aborted=int(d["aborted"]),
            movements=int(d["movements"]),
            late=int(d["late"]),
            outside_shift=int(d["outside_shift"]),
            gross=int(d["gross"]),
            payments=tuple(PaymentTotal(**p) for p in d["payments"]),
            gateways=tuple(PaymentTotal(**p) for p in d["gateways"]),
            vat=tuple(VatLine(**v) for v in d["vat"]),
            cases=tuple(CaseTotal(**c) for c in d["cases"]),
            gv_totals=tuple(GvTotal(**g) for g in d["gv_totals"]),
            operators=tuple(OperatorTotal(**o) for o in d["operators"]),
            cash_per_currency=tuple((str(c), int(a)) for c, a in d["cash_per_currency"]),
            balances=tuple(BalanceLine(**b) for b in d["balances"]),
            shifts=tuple(int(s) for s in d["shifts"]),
            open_shift_expected=tuple((str(c), int(a)) for c, a in d["open_shift_expected"]),
            training=int(d.get("training", 0)),
        )


# -- builder ------------------------------------------------------------------------------


@dataclass
class _Sum:
    count: int = 0
    gross: int = 0
    net: int = 0
    tax: int = 0

    def add(self, gross: int, net: int, tax: int, count: int = 0) -> None:
        self.count += count
        self.gross += gross
        self.net += net
        self.tax += tax


@dataclass
class _Op:
    receipts: int = 0
    gross: int = 0
    cash: int = 0


class ClosingBuilder:
    """Accumulates a period's Vorgänge; ``report()`` gives the totals."""

    def __init__(self, register_id: str, currency: str) -> None:
        self.register_id = register_id
        self.currency = currency
        self._first = 0
        self._last = 0
        self._receipts = 0
        self._aborted = 0
        self._training = 0
        self._movements = 0
        self._late = 0
        self._outside = 0
        self._gross = 0
        self._payments: dict[tuple[str, str], list[int]] = {}
        self._vat: dict[tuple[int, Decimal], _Sum] = {}
        self._cases: dict[BusinessCase, _Sum] = {c: _Sum() for c in BusinessCase}
        self._gv: dict[tuple[str, int], _Sum] = {}
        self._ops: dict[str, _Op] = {}
        self._cash: dict[str, int] = {}
        self._balances: list[CashBalance] = []
        self._shifts: list[int] = []
        self._open_expected: dict[str, int] = {}

    def _seen(self, bon_id: int, late: bool, shift_id: int | None) -> None:
        if self._first == 0 or bon_id < self._first:
            self._first = bon_id
        self._last = max(self._last, bon_id)
        if late:
            self._late += 1
        if shift_id is None:
            self._outside += 1

    def _pay(self, method: str, currency: str, amount: int, count: int = 1) -> None:
        entry = self._payments.setdefault((method, currency), [0, 0])
        entry[0] += amount
        entry[1] += count
        if payment_kind(method).cash:
            self._cash[currency] = self._cash.get(currency, 0) + amount

    def add_sale(
        self,
        *,
        bon_id: int,
        operator_id: str,
        currency: str,
        vat: Sequence[VatTotal],
        payments: Iterable[tuple[str, int]],
        change: int,
        late: bool = False,
        shift_id: int | None = None,
        discounts: Sequence[VatTotal] = (),
    ) -> None:
        """A posted sale (BON_TYP Beleg). ``payments``: (method, amount) as tendered;
        the change is given from cash and taken off the cash total. ``discounts``: the
        discounts granted, per rate (positive amounts; reported as GV_TYP Rabatt,
        negative: the sale's totals are already after them)."""
        self._seen(bon_id, late, shift_id)
        self._receipts += 1
        gross = sum(v.gross for v in vat)
        self._gross += gross
        case = self._cases[BusinessCase.SALES if gross >= 0 else BusinessCase.RETURNS]
        case.count += 1
        for v in vat:
            case.add(v.gross, v.net, v.tax)
            key = (int(v.category), v.percent)
            self._vat.setdefault(key, _Sum()).add(v.gross, v.net, v.tax, 1)
            gv = (BusinessCase.SALES.gv_typ, int(v.category))
            self._gv.setdefault(gv, _Sum()).add(v.gross, v.net, v.tax, 1)
        if discounts:
            # DSFinV-K: turnover (Umsatz) before the discount, the discount (Rabatt)
            # negative beside it; together they are what the receipt says
            rebate = self._cases[BusinessCase.DISCOUNTS]
            rebate.count += 1
            for d in discounts:
                rebate.add(-d.gross, -d.net, -d.tax)
                case.add(d.gross, d.net, d.tax)
                gv = (BusinessCase.DISCOUNTS.gv_typ, int(d.category))
                self._gv.setdefault(gv, _Sum()).add(-d.gross, -d.net, -d.tax, 1)
                umsatz = (BusinessCase.SALES.gv_typ, int(d.category))
                self._gv.setdefault(umsatz, _Sum()).add(d.gross, d.net, d.tax)
        kept = _kept(payments, change)
        op = self._ops.setdefault(operator_id, _Op())
        op.receipts += 1
        op.gross += gross
        for method, amount in kept:
            self._pay(method, currency, amount)
            if payment_kind(method).cash:
                op.cash += amount

    def add_training(self, *, bon_id: int, late: bool = False, shift_id: int | None = None) -> None:
        """A training sale (BON_TYP AVTraining): counted, no turnover, no payments."""
        self._seen(bon_id, late, shift_id)
        self._training += 1

    def add_abort(self, *, bon_id: int, late: bool = False, shift_id: int | None = None) -> None:
        """An aborted sale (AVBelegabbruch): counted, no amounts (its processData is
        all zeros: fiscal-de.md, "A cancelled sale finishes as AVBelegabbruch^0.00…")."""
        self._seen(bon_id, late, shift_id)
        self._aborted += 1

    def add_movement(
        self,
        *,
        bon_id: int,
        kind: CashMovementKind,
        amount: int,
        currency: str,
        operator_id: str,
        shift_id: int | None = None,
    ) -> None:
        """A cash movement (BON_TYP Beleg, USt key 5 "Nicht Steuerbar", paid "Bar")."""
        self._seen(bon_id, False, shift_id)
        self._movements += 1
        case = self._cases[MOVEMENT_CASE[kind]]
        case.add(amount, amount, 0, 1)
        self._gv.setdefault((kind.gv_typ, UST_NOT_TAXABLE), _Sum()).add(amount, amount, 0, 1)
        self._pay("CASH", currency, amount)
        op = self._ops.setdefault(operator_id, _Op())
        op.cash += amount

    def add_balance(self, shift_id: int, balance: CashBalance) -> None:
        if shift_id not in self._shifts:
            self._shifts.append(shift_id)
        self._balances.append(balance)

    def add_open_shift_expected(self, expected: Mapping[str, int]) -> None:
        for c, a in expected.items():
            self._open_expected[c] = self._open_expected.get(c, 0) + a

    def report(self, *, z_nr: int, created_at: str) -> ClosingReport:
        payments: list[PaymentTotal] = []
        gateways: list[PaymentTotal] = []
        methods = set(self._payments) | {("CASH", self.currency)}
        for method, currency in sorted(methods, key=lambda k: (_method_order(k[0]), k)):
            amount, count = self._payments.get((method, currency), [0, 0])
            kind = payment_kind(method)
            total = PaymentTotal(method, kind.zahlart_typ, kind.name, currency, amount, count)
            (gateways if kind.gateway else payments).append(total)
        balances: dict[str, list[int]] = {}
        for b in self._balances:
            row = balances.setdefault(b.currency, [0, 0, 0])
            row[0] += b.opening
            row[1] += b.expected
            row[2] += b.counted
        return ClosingReport(
            z_nr=z_nr,
            register_id=self.register_id,
            currency=self.currency,
            created_at=created_at,
            first_bon_id=self._first,
            last_bon_id=self._last,
            receipts=self._receipts,
            aborted=self._aborted,
            movements=self._movements,
            late=self._late,
            outside_shift=self._outside,
            gross=self._gross,
            payments=tuple(payments),
            gateways=tuple(gateways),
            vat=tuple(
                VatLine(cat, _pct(pct), s.gross, s.net, s.tax)
                for (cat, pct), s in sorted(self._vat.items())
            ),
            cases=tuple(
                CaseTotal(c.value[0], c.gv_typ, s.count, s.gross, s.net, s.tax)
                for c, s in self._cases.items()
            ),
            gv_totals=tuple(
                GvTotal(gv, key, s.gross, s.net, s.tax) for (gv, key), s in sorted(self._gv.items())
            ),
            operators=tuple(
                OperatorTotal(op_id, o.receipts, o.gross, o.cash)
                for op_id, o in sorted(self._ops.items())
            ),
            cash_per_currency=tuple(sorted(self._cash.items())),
            balances=tuple(
                BalanceLine(c, o, e, n, n - e) for c, (o, e, n) in sorted(balances.items())
            ),
            shifts=tuple(sorted(self._shifts)),
            open_shift_expected=tuple(sorted(self._open_expected.items())),
            training=self._training,
        )


def _method_order(method: str) -> int:
    order = list(PAYMENT_KINDS)
    return order.index(method) if method in order else len(order)


def _pct(p: Decimal) -> str:
    return f"{p.normalize():f}"


def _kept(payments: Iterable[tuple[str, int]], change: int) -> list[tuple[str, int]]:
    """Payments as kept by the register: the change comes off the cash payments (the
    same rule as the Kassenbeleg-V1 processData, services/fiscal.receipt_process_data)."""
    out: list[tuple[str, int]] = []
    for method, amount in payments:
        kept = amount
        if change and payment_kind(method).cash:
            kept = max(0, amount - change)
            change -= amount - kept
        out.append((method, kept))
    return out


def kept_payments(payments: Iterable[tuple[str, int]], change: int) -> list[tuple[str, int]]:
    """Per method (summed) what the register kept of a sale's payments."""
    sums: dict[str, int] = {}
    for method, amount in _kept(payments, change):
        sums[method] = sums.get(method, 0) + amount
    return list(sums.items())


def vat_category(key: int) -> VatCategory:
    return VatCategory(key)
