"""X reports and Z closings (Kassenabschluss): the totals of a period (pure).

A :class:`ClosingBuilder` is fed one Vorgang at a time (posted sale, aborted sale, cash
movement) plus the cash balances of the shifts closed in the period, and builds a
:class:`ClosingReport`:

* totals per payment method; payment gateways (DSFinV-K ZAHLART_TYP
  ``ElZahlungsdienstleister``) are listed separately and never inside the card totals;
* per VAT rate gross, net and tax, summed from each receipt's own VAT split (the values
  printed on the receipts, DSFinV-K: "alle Werte müssen exakt den auf dem Bon
  aufgedruckten Werten entsprechen"), not recomputed from the period's gross;
* per business case, from the receipts' line kinds (sales, returns, storno receipts,
  shop discounts, vouchers sold/redeemed, balancing), cash movements, cash differences
  and cash rounding differences (a total of its own: ``rounding_total``); every rate's
  cases add up to the receipt's VAT total exactly;
* per operator; counted vs expected cash per currency (foreign cash in its own currency,
  never mixed into the register currency's cash; ``base_amount`` gives its value).

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

from posd_daemon.domain.pricing import local_amount, split_converted
from posd_daemon.domain.shift import CashBalance
from posd_daemon.domain.vat import VatCategory, VatTotal, tax_from_gross

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

    @property
    def implied_outgoing(self) -> bool | None:
        """Whether the kind itself says the cash goes out (Entnahme) or in (Einlage);
        None for kinds that go either way (Geldtransit to or from the safe, a tip paid
        in or out, a difference), whose direction must be given."""
        return _IMPLIED_OUTGOING.get(self)


_GV_TYP = {
    CashMovementKind.DEPOSIT: "Privateinlage",
    CashMovementKind.WITHDRAWAL: "Privatentnahme",
    CashMovementKind.TRANSIT: "Geldtransit",
    CashMovementKind.TIP: "TrinkgeldAN",
    CashMovementKind.DIFFERENCE: "DifferenzSollIst",
}
_IMPLIED_OUTGOING = {CashMovementKind.DEPOSIT: False, CashMovementKind.WITHDRAWAL: True}
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
    #: counted in the closing's card totals (``PaymentMethod.is_card``: CARD only)
    card: bool = False


#: Payment methods (``PaymentMethod.value``) -> closing/DSFinV-K treatment, in report
#: order. ZAHLART_TYP values of DSFinV-K Anhang D: Bar, Unbar, Keine, ECKarte,
#: Kreditkarte, ElZahlungsdienstleister, Guthabenkarte (spelling and the mapping of
#: payment kinds as in fiskaltrust/interface-doc, appendix-de-kassensichv,
#: reference-tables/type-of-payment-ftpayitemcase.md: debit card ECKarte, credit card
#: Kreditkarte, online payment ElZahlungsdienstleister, customer/voucher card
#: Guthabenkarte, SEPA and other bank transfers Unbar).
#:
#: * CARD: posd does not tell debit from credit cards, so ``Unbar``, "zusammenfassende
#:   Form für alle unbaren Zahlarten" (DSFinV-K Anhang D).
#: * GATEWAY: ``ElZahlungsdienstleister``, listed apart and never in the card totals.
#: * CONSUMER_CREDIT (the finance company pays), BANK_TRANSFER, CASH_ON_DELIVERY (the
#:   carrier collects): ``Unbar``.
#: * BENEFIT (benefit/meal voucher cards): ``Guthabenkarte``.
#:
#: Methods not listed here (rows of an older schema) count as ``Unbar``.
PAYMENT_KINDS: dict[str, PaymentKind] = {
    "CASH": PaymentKind("Bar", "Bar", cash=True),
    "CARD": PaymentKind("Unbar", "Karte", card=True),
    "CONSUMER_CREDIT": PaymentKind("Unbar", "Finanzierung"),
    "BANK_TRANSFER": PaymentKind("Unbar", "Überweisung"),
    "CASH_ON_DELIVERY": PaymentKind("Unbar", "Nachnahme"),
    "BENEFIT": PaymentKind("Guthabenkarte", "Gutscheinkarte"),
    "GATEWAY": PaymentKind("ElZahlungsdienstleister", "Zahlungsdienstleister", gateway=True),
}


def payment_kind(method: str) -> PaymentKind:
    return PAYMENT_KINDS.get(method) or PaymentKind("Unbar", method.title())


#: DSFinV-K GV_TYP of a cash rounding difference. DSFinV-K Anhang C has no GV_TYP
#: "Rundung": its closed list (Umsatz, Pfand, PfandRueckzahlung, Rabatt, Aufschlag,
#: ZuschussEcht/-Unecht, TrinkgeldAG/-AN, Einzweck-/MehrzweckgutscheinKauf/-Einloesung,
#: Forderungsentstehung/-aufloesung, Anzahlungseinstellung/-aufloesung, Anfangsbestand,
#: Privatentnahme/-einlage, Geldtransit, Lohnzahlung, Einzahlung, Auszahlung,
#: DifferenzSollIst) is what validators accept (fiskaltrust interface-doc,
#: type-of-service-ftchargeitemcase.md, lists the same GV_TYPs). A rounding difference
#: changes what the customer pays, so it is booked as ``Rabatt`` (rounded down) or
#: ``Aufschlag`` (rounded up) under UST_SCHLUESSEL 5 "Nicht Steuerbar" (the same table:
#: "Discount not taxable | 5 | Rabatt", "Extra charge not taxable | 5 | Aufschlag"),
#: named ``Rundung`` in GV_NAME so that it stays apart from real discounts.
ROUNDING_NAME = "Rundung"
ROUNDING_DOWN_GV = "Rabatt"
ROUNDING_UP_GV = "Aufschlag"


def rounding_gv_typ(amount: int) -> str:
    return ROUNDING_UP_GV if amount > 0 else ROUNDING_DOWN_GV


def ust_key(category: int) -> int:
    """DSFinV-K UST_SCHLUESSEL of a posd VAT category (DSFinV-K Anlage, vat.csv keys, as
    in exports/dsfinvk_spec.UST_DESCRIPTIONS): 1-4 are the same numbers; posd's ZERO (5,
    a 0 % rate: "Umsatzsteuerfrei") is key 6 and NOT_TAXABLE (6: vouchers, balancing)
    is key 5 "Nicht Steuerbar" (fiskaltrust ftChargeItemCase: "not taxable | 5",
    "zero | 6"; MehrzweckgutscheinKauf/-Einloesung are key 5). The summary line of
    ../shared/reference/fiscal-de.md ("5 zero, 6 not taxable") has the two swapped
    against the Anlage's table it points to, which this follows."""
    if category == int(VatCategory.ZERO):
        return 6
    if category == int(VatCategory.NOT_TAXABLE):
        return UST_NOT_TAXABLE
    return category


class BusinessCase(enum.Enum):
    """The business cases a closing reports, each with its DSFinV-K GV_TYP."""

    SALES = ("SALES", "Umsatz")
    RETURNS = ("RETURNS", "Umsatz")
    #: reversal (storno) receipts: the reversed receipt's turnover, negative
    REVERSALS = ("REVERSALS", "Umsatz")
    VOUCHERS_SOLD = ("VOUCHERS_SOLD", "MehrzweckgutscheinKauf")
    VOUCHERS_REDEEMED = ("VOUCHERS_REDEEMED", "MehrzweckgutscheinEinloesung")
    DISCOUNTS = ("DISCOUNTS", "Rabatt")
    CASH_DEPOSITS = ("CASH_DEPOSITS", "Privateinlage")
    CASH_WITHDRAWALS = ("CASH_WITHDRAWALS", "Privatentnahme")
    CASH_TRANSITS = ("CASH_TRANSITS", "Geldtransit")
    TIPS = ("TIPS", "TrinkgeldAN")
    CASH_DIFFERENCES = ("CASH_DIFFERENCES", "DifferenzSollIst")
    #: lines booked to the shop's balancing account (not taxable: UST_SCHLUESSEL 5)
    BALANCING = ("BALANCING", "Umsatz")
    #: cash rounding differences (GV_TYP by sign, see ``rounding_gv_typ``)
    ROUNDING = ("ROUNDING", ROUNDING_DOWN_GV)
    #: open invoices paid on account (LineKind INVOICE_PAYMENT): no turnover, the VAT
    #: was on the invoice; UST_SCHLUESSEL 5 (DSFinV-K Anhang C "Forderungsaufloesung";
    #: fiskaltrust interface-doc, ftChargeItemCase 0x444500000000007D "receiveable
    #: reduction not taxable | 5 | Forderungsaufloesung")
    INVOICE_PAYMENTS = ("INVOICE_PAYMENTS", "Forderungsaufloesung")

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


@dataclass(frozen=True, slots=True)
class LineAmount:
    """One receipt line as the closing needs it: its kind (``LineKind.value``), VAT
    rate and gross as posted (signed; negative for returns, discounts, redemptions)."""

    kind: str
    category: int
    percent: Decimal
    gross: int
    #: a voucher sold (a GOODS line of item type VOUCHER)
    voucher: bool = False


#: GV_TYP of a voucher line by its VAT: a voucher without VAT (NOT_TAXABLE, key 5) is a
#: Mehrzweckgutschein, one taxed when sold an Einzweckgutschein (fiskaltrust
#: ftChargeItemCase 0x...60/0x...68 "Voucher sale/redeem not taxable | 5 |
#: Mehrzweckgutschein…", 0x...61-67/69-6F "Coupon sales/redeem <rate> |
#: Einzweckgutschein…").
def _voucher_gv(category: int, sold: bool) -> str:
    if ust_key(category) == UST_NOT_TAXABLE:
        return "MehrzweckgutscheinKauf" if sold else "MehrzweckgutscheinEinloesung"
    return "EinzweckgutscheinKauf" if sold else "EinzweckgutscheinEinloesung"


def _case_key(case: BusinessCase, gv: str) -> tuple[BusinessCase, str]:
    """The report row of a business case: vouchers by their GV_TYP (Einzweck- or
    Mehrzweckgutschein), every other case under its own GV_TYP."""
    if case in (BusinessCase.VOUCHERS_SOLD, BusinessCase.VOUCHERS_REDEEMED) and gv:
        return case, gv
    return case, case.gv_typ


def line_business_case(kind: str, voucher: bool, *, reversal: bool) -> BusinessCase:
    """The business case of a receipt line (``LineKind.value``)."""
    if kind == "DISCOUNT":
        return BusinessCase.DISCOUNTS
    if kind == "VOUCHER_REDEMPTION":
        return BusinessCase.VOUCHERS_REDEEMED
    if kind == "BALANCING":
        return BusinessCase.BALANCING
    if kind == "INVOICE_PAYMENT":
        return BusinessCase.INVOICE_PAYMENTS
    if voucher and kind in ("GOODS", "RETURN"):  # a voucher taken back: its sale negative
        return BusinessCase.VOUCHERS_SOLD
    if reversal:
        return BusinessCase.REVERSALS
    if kind == "RETURN":
        return BusinessCase.RETURNS
    return BusinessCase.SALES


def line_gv_typ(kind: str, voucher: bool, category: int) -> str:
    """DSFinV-K GV_TYP of a receipt line (lines.csv, businesscases.csv). Returns and
    storno lines are negative ``Umsatz`` (DSFinV-K: Rücknahmen and Stornos as lines with
    the opposite sign, BON_STORNO 0)."""
    if kind == "DISCOUNT":
        return "Rabatt"
    if kind == "VOUCHER_REDEMPTION":
        return _voucher_gv(category, sold=False)
    if kind == "INVOICE_PAYMENT":
        return BusinessCase.INVOICE_PAYMENTS.gv_typ
    if voucher and kind in ("GOODS", "RETURN"):
        return _voucher_gv(category, sold=True)
    return "Umsatz"


# -- report -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentTotal:
    method: str
    zahlart_typ: str
    name: str
    currency: str
    #: kept (cash less change), refunds negative; in ``currency``
    amount: int
    count: int
    #: the amount in the register currency (foreign currency: at the sales' rates)
    base_amount: int = 0
    #: refunds among ``count`` (negative payments)
    refunds: int = 0
    #: what those refunds paid back (negative, in ``currency``; inside ``amount``)
    refunds_amount: int = 0


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
    #: GV_NAME ("" but for rounding differences: "Rundung")
    gv_name: str = ""


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
        """DSFinV-K Z_SE_ZAHLUNGEN: every payment of the period, gateways included, in
        the register currency (foreign currencies at the sales' rates)."""
        return sum(p.base_amount for p in (*self.payments, *self.gateways))

    @property
    def card_total(self) -> int:
        """Card payments (CARD only: a payment gateway is never a card payment)."""
        return sum(p.base_amount for p in self.payments if payment_kind(p.method).card)

    @property
    def rounding_total(self) -> int:
        """Cash rounding differences of the period (+: customers paid more)."""
        return sum(c.gross for c in self.cases if c.case == BusinessCase.ROUNDING.value[0])

    @property
    def cash_total(self) -> int:
        """DSFinV-K Z_SE_BARZAHLUNGEN in the register currency (foreign cash at the
        sales' rates; ``cash_per_currency`` keeps each currency's own amount)."""
        return sum(p.base_amount for p in self.payments if p.zahlart_typ == "Bar")

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
            # the lists a report stored before they existed lacks read as empty (a Z is
            # stored once and printed, shown and exported for years after)
            payments=tuple(_payment_total(p, str(d["currency"])) for p in d.get("payments", ())),
            gateways=tuple(_payment_total(p, str(d["currency"])) for p in d.get("gateways", ())),
            vat=tuple(VatLine(**v) for v in d.get("vat", ())),
            cases=tuple(CaseTotal(**c) for c in d.get("cases", ())),
            gv_totals=tuple(GvTotal(**g) for g in d.get("gv_totals", ())),
            operators=tuple(OperatorTotal(**o) for o in d.get("operators", ())),
            cash_per_currency=tuple((str(c), int(a)) for c, a in d.get("cash_per_currency", ())),
            balances=tuple(BalanceLine(**b) for b in d.get("balances", ())),
            shifts=tuple(int(s) for s in d.get("shifts", ())),
            open_shift_expected=tuple(
                (str(c), int(a)) for c, a in d.get("open_shift_expected", ())
            ),
            training=int(d.get("training", 0)),
        )


def _payment_total(d: Mapping[str, Any], currency: str) -> PaymentTotal:
    """A stored payment total; reports stored before base_amount existed held base
    currency amounts only in it (foreign ones had none). Those stored before
    ``refunds``/``refunds_amount`` read them as 0 (the dataclass defaults)."""
    fields = dict(d)
    if "base_amount" not in fields:
        fields["base_amount"] = fields["amount"] if fields["currency"] == currency else 0
    return PaymentTotal(**fields)


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

    def __init__(self, register_id: str, currency: str, *, shared_drawer: bool = False) -> None:
        self.register_id = register_id
        self.currency = currency
        #: one drawer the shifts hand on to each other (see :meth:`_day_balances`)
        self.shared_drawer = shared_drawer
        self._first = 0
        self._last = 0
        self._receipts = 0
        self._aborted = 0
        self._training = 0
        self._movements = 0
        self._late = 0
        self._outside = 0
        self._gross = 0
        #: (method, currency) -> [amount, count, base amount, refunds, refunds' amount]
        self._payments: dict[tuple[str, str], list[int]] = {}
        self._vat: dict[tuple[int, Decimal], _Sum] = {}
        #: per business case and GV_TYP: vouchers sold/redeemed are Einzweck- or
        #: Mehrzweckgutschein by their VAT (``line_gv_typ``), other cases have one GV_TYP
        self._cases: dict[tuple[BusinessCase, str], _Sum] = {
            (c, c.gv_typ): _Sum() for c in BusinessCase
        }
        self._gv: dict[tuple[str, int, str], _Sum] = {}
        #: the sales' rows of ``_gv`` per VAT category and rate, (GV_TYP, category,
        #: rate): not in the report (see :meth:`sale_cases_by_rate`)
        self._gv_rates: dict[tuple[str, int, Decimal], _Sum] = {}
        self._ops: dict[str, _Op] = {}
        self._cash: dict[str, int] = {}
        #: (shift, its balance, the difference booked at its open, the differences
        #: booked while it ran) per shift and currency
        self._balances: list[tuple[int, CashBalance, int, int]] = []
        self._shifts: list[int] = []
        self._open_expected: dict[str, int] = {}
        #: shared drawer, a period without a shift: what the last closing counted
        self._carried: dict[str, tuple[int, int]] = {}
        self._after: dict[str, int] = {}

    def _seen(self, bon_id: int, late: bool, shift_id: int | None) -> None:
        if self._first == 0 or bon_id < self._first:
            self._first = bon_id
        self._last = max(self._last, bon_id)
        if late:
            self._late += 1
        if shift_id is None:
            self._outside += 1

    def _pay(
        self, method: str, currency: str, amount: int, count: int = 1, base: int | None = None
    ) -> None:
        entry = self._payments.setdefault((method, currency), [0, 0, 0, 0, 0])
        entry[0] += amount
        entry[1] += count
        entry[2] += amount if base is None else base
        if count and amount < 0:
            entry[3] += 1
            entry[4] += amount
        if payment_kind(method).cash:
            self._cash[currency] = self._cash.get(currency, 0) + amount

    def _other_gv(self, case: BusinessCase) -> bool:
        """Whether ``case`` was booked under another GV_TYP than its default."""
        return any(c is case and gv != case.gv_typ for c, gv in self._cases)

    def _case(self, case: BusinessCase, gv: str, key: int, gross: int, net: int, tax: int,
              gv_name: str = "") -> None:  # fmt: skip
        self._cases.setdefault(_case_key(case, gv), _Sum()).add(gross, net, tax)
        self._gv.setdefault((gv, key, gv_name), _Sum()).add(gross, net, tax, 1)

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
        lines: Sequence[LineAmount] = (),
        rounding: int = 0,
        reversal: bool = False,
        kept: Sequence[tuple[str, int]] | None = None,
        rate: Decimal = Decimal(1),
        change_local: int = 0,
        change_in_local: bool = False,
        change_rounding: int | None = None,
    ) -> None:
        """A posted sale (BON_TYP Beleg).

        ``vat``: the receipt's per-rate totals as posted; ``lines`` (optional) split them
        into business cases by line kind (returns, storno, shop discounts, vouchers,
        balancing), every rate's cases adding up to the receipt's total exactly.
        ``payments``: (method, amount) as tendered, refunds negative; the change comes
        off the cash payments, unless ``kept`` gives the booked amounts (schema 8:
        ``sale_payments.kept``). ``discounts``: line and document discounts granted, per
        rate (positive; reported as GV_TYP Rabatt, the turnover before them as Umsatz).
        ``rounding``: the cash rounding difference (paid = total + rounding).

        A sale in a foreign ``currency`` (``rate`` units per register-currency unit)
        enters turnover converted: its total once (``Sale.total_local``), split over its
        rates, and its payments likewise (they stay in their currency and carry their
        converted value), so that turnover + rounding = payments in the register
        currency. ``change_in_local``: the change of a foreign-cash sale went back in the
        register currency (``change_local`` of it, rounded to its cash step): the
        surplus stays in the drawer in the foreign currency, at its value, and
        ``change_rounding`` (``Sale.change_rounding``; None: posted before schema 19) is
        the rounding difference between the two (see :func:`local_change`).
        """
        self._seen(bon_id, late, shift_id)
        self._receipts += 1

        def conv(amount: int) -> int:
            return local_amount(amount, currency=currency, local_currency=self.currency, rate=rate)

        total = sum(v.gross for v in vat)
        own_gross = {(int(v.category), v.percent): v.gross for v in vat}
        booked = list(kept) if kept is not None else _kept(payments, change)
        booked_local = [a for _, a in booked]
        fx: LocalChange | None = None
        if currency != self.currency:
            fx = local_change(change, change_local, change_rounding, in_local=change_in_local)
            # the receipt's total is converted once, as the sale's total_local (printed
            # "entspricht"); rates and payments are split from it, so that turnover,
            # VAT lines and payments add up to the same local amount
            total_local = conv(total)
            rates_local = split_converted([v.gross for v in vat], total_local, conv)
            vat = [
                VatTotal(v.category, v.percent, g, g - conv(v.tax), conv(v.tax))
                for v, g in zip(vat, rates_local, strict=True)
            ]
            booked_local = split_converted(booked_local, conv(sum(booked_local)), conv)
            # the rounding is what the payments hold beyond the total, converted once too
            rounding_local = conv(total + rounding) - total_local
            if fx is not None:
                rounding_local += fx.rounding
        else:
            rounding_local = rounding
        gross = sum(v.gross for v in vat)
        self._gross += gross
        touched: set[tuple[BusinessCase, str]] = set()

        def book(
            case: BusinessCase, gv: str, cat: int, pct: Decimal, g: int, n: int, t: int
        ) -> None:
            touched.add(_case_key(case, gv))
            self._case(case, gv, ust_key(cat), g, n, t)
            self._gv_rates.setdefault((gv, cat, pct), _Sum()).add(g, n, t, 1)

        goods = BusinessCase.REVERSALS if reversal else BusinessCase.SALES
        if not lines:
            goods = goods if reversal or gross >= 0 else BusinessCase.RETURNS
        # per rate: the lines that are no plain goods sold, at their own gross (tax from
        # the line's gross); the goods sold take the rest of the receipt's exact total
        split: dict[tuple[int, Decimal], list[tuple[BusinessCase, str, int, int]]] = {}
        for ln in lines:
            case = line_business_case(ln.kind, ln.voucher, reversal=reversal)
            if case is goods or not ln.gross:
                continue
            gv = line_gv_typ(ln.kind, ln.voucher, ln.category)
            split.setdefault((ln.category, ln.percent), []).append(
                (case, gv, ln.gross, conv(ln.gross))
            )
        for v in vat:
            key = (int(v.category), v.percent)
            self._vat.setdefault(key, _Sum()).add(v.gross, v.net, v.tax, 1)
            rest = [v.gross, v.net, v.tax]
            parts = split.pop(key, [])
            rows: list[tuple[BusinessCase, str, int, int, int]] = []
            for case, gv, _, g in parts:
                t = tax_from_gross(g, v.percent)
                rows.append((case, gv, g, g - t, t))
                rest[0] -= g
                rest[1] -= g - t
                rest[2] -= t
            if rows and any(rest) and sum(p[2] for p in parts) == own_gross[key]:
                # no goods sold at this rate (only returns, vouchers, ...): what the
                # per-line tax leaves over goes to the rate's largest line, never to an
                # Umsatz row (gross 0, tax ±0.01) that is on no receipt
                i = max(range(len(rows)), key=lambda j: abs(rows[j][2]))
                case, gv, g, n, t = rows[i]
                rows[i] = (case, gv, g + rest[0], n + rest[1], t + rest[2])
                rest = [0, 0, 0]
            for case, gv, g, n, t in rows:
                book(case, gv, key[0], key[1], g, n, t)
            if any(rest) or not touched:
                book(goods, "Umsatz", key[0], key[1], *rest)
        for (cat, pct), missing in split.items():  # lines of a rate missing in the totals
            for case, gv, _, g in missing:
                t = tax_from_gross(g, pct)
                book(case, gv, cat, pct, g, g - t, t)
        if discounts:
            # DSFinV-K: turnover (Umsatz) before the discount, the discount (Rabatt)
            # negative beside it; together they are what the receipt says
            for d in discounts:
                dg, dt = conv(d.gross), conv(d.tax)
                book(
                    BusinessCase.DISCOUNTS, "Rabatt", int(d.category), d.percent, -dg, dt - dg, -dt
                )
                book(goods, "Umsatz", int(d.category), d.percent, dg, dg - dt, dt)
        if r := rounding_local:
            touched.add(_case_key(BusinessCase.ROUNDING, ""))
            self._case(BusinessCase.ROUNDING, rounding_gv_typ(r), UST_NOT_TAXABLE, r, r, 0,
                       ROUNDING_NAME)  # fmt: skip
        for row in touched:
            self._cases[row].count += 1

        op = self._ops.setdefault(operator_id, _Op())
        op.receipts += 1
        op.gross += gross
        for (method, amount), base in zip(booked, booked_local, strict=True):
            self._pay(method, currency, amount, base=base)
            if payment_kind(method).cash and currency == self.currency:
                op.cash += amount
        if fx is not None:
            # foreign cash: the change went back in the register currency, so the
            # foreign surplus stays in the drawer (drawer kinds CHANGE_DEPOSIT and
            # CHANGE_PAYOUT): foreign cash + surplus, register cash - the change paid out
            self._pay("CASH", currency, fx.surplus, count=0, base=fx.surplus_local)
            if fx.paid_out:
                self._pay("CASH", self.currency, -fx.paid_out, count=0)
                op.cash -= fx.paid_out

    def sale_cases_by_rate(self) -> list[tuple[str, int, Decimal, int, int, int]]:
        """The sales' business cases as booked, per VAT category and rate: (GV_TYP,
        category, rate, gross, net, tax). The report's ``gv_totals`` sum them per
        UST_SCHLUESSEL of the category; the DSFinV-K export takes the rows of rates
        that have a historic key of their own (Anlage 2) out of them."""
        return [
            (gv, cat, pct, s.gross, s.net, s.tax)
            for (gv, cat, pct), s in sorted(self._gv_rates.items())
        ]

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
        base: int | None = None,
    ) -> None:
        """A cash movement (BON_TYP Beleg, USt key 5 "Nicht Steuerbar", paid "Bar").

        Foreign cash (``currency`` not the register's) is booked as a foreign cash sale
        is: its business case in the register currency (``base``: the value it was
        signed with, at the shop's rate of its day), its cash in its own currency
        carrying that value, so that ``cash_per_currency`` and the shift balances
        agree, and Z_SE_BARZAHLUNGEN stays in the register currency."""
        self._seen(bon_id, False, shift_id)
        self._movements += 1
        local = amount if base is None or currency == self.currency else base
        self._cases[_case_key(MOVEMENT_CASE[kind], "")].count += 1
        self._case(MOVEMENT_CASE[kind], kind.gv_typ, UST_NOT_TAXABLE, local, local, 0)
        self._pay("CASH", currency, amount, base=local)
        op = self._ops.setdefault(operator_id, _Op())
        if currency == self.currency:  # an operator's cash: the register currency's
            op.cash += amount

    def add_balance(
        self,
        shift_id: int,
        balance: CashBalance,
        opening_difference: int = 0,
        *,
        differences: int | None = None,
    ) -> None:
        """A closed shift's balance of one currency; ``opening_difference``: the cash
        difference booked when it opened (shared drawer: its float less what the
        previous closing counted); ``differences`` (shared drawer): the differences
        booked into its drawer while it ran, its close's included (None: its close's
        alone)."""
        if shift_id not in self._shifts:
            self._shifts.append(shift_id)
        booked = balance.difference if differences is None else differences
        self._balances.append((shift_id, balance, opening_difference, booked))

    def add_carried(self, currency: str, counted: int, difference: int = 0) -> None:
        """Shared drawer, a period without any shift: the cash the last closing counted
        is still in the drawer, so the period opens and ends with it. Without it the Z
        showed no cash at all, read as an empty drawer, and the next period's opening
        followed no closing balance. ``counted``: that count plus any difference booked
        since in no shift (the cash the drawer is taken to hold, which the next float
        is compared with); ``difference``: those of them booked in this period (the
        period opened without them). Ignored once a shift's balance is added (the
        shifts then say what the drawer held)."""
        n, d = self._carried.get(currency, (0, 0))
        self._carried[currency] = (n + counted, d + difference)

    def add_after_last_shift(self, currency: str, difference: int) -> None:
        """Shared drawer: a difference booked in no shift after the period's last shift
        closed (a signed open difference reconciled after a crash with no shift open).
        The drawer is taken to hold it from then on (the next float is compared with the
        count plus it), so the period ends with it and counts it among its differences."""
        self._after[currency] = self._after.get(currency, 0) + difference

    def _day_balances(self) -> dict[str, tuple[int, int, int]]:
        """(opening, expected, counted) per currency over the period's shifts.

        One cash insert per cashier: every float is cash of its own, so the shifts add
        up. A shared drawer hands its cash on: the next shift's float is what the last
        closing counted, summed it would be counted twice. The period then opens with
        what the previous closing left (the first float less the difference booked at
        its open; without a previous closing, the first float), ends with the last
        count, and its difference is every difference booked in it (at the closes, at
        the opens, and one the TSE signed before a crash that was recorded alone into a
        shift), so that it equals the period's DifferenzSollIst Vorgänge; the expected
        cash is the count less that difference."""
        out: dict[str, tuple[int, int, int]] = {}
        if not self.shared_drawer:
            # expected: the count less the differences booked (a difference recorded on
            # its own after a crash is in the shift's expected cash, not its close's)
            for _, b, _, booked in self._balances:
                o, e, n = out.get(b.currency, (0, 0, 0))
                out[b.currency] = (o + b.opening, e + b.counted - booked, n + b.counted)
            return out
        if not self._balances:
            return {c: (n - d, n - d, n) for c, (n, d) in sorted(self._carried.items())}
        first = min(s for s, _, _, _ in self._balances)
        last = max(s for s, _, _, _ in self._balances)
        opening: dict[str, int] = {}
        counted: dict[str, int] = {}
        difference: dict[str, int] = {}
        for shift_id, b, at_open, booked in self._balances:
            c = b.currency
            difference[c] = difference.get(c, 0) + booked + at_open
            if shift_id == first:
                opening[c] = opening.get(c, 0) + b.opening - at_open
            if shift_id == last:
                counted[c] = counted.get(c, 0) + b.counted
        for c, a in self._after.items():
            difference[c] = difference.get(c, 0) + a
            counted[c] = counted.get(c, 0) + a
        for c in sorted(difference):
            n = counted.get(c, 0)
            out[c] = (opening.get(c, 0), n - difference[c], n)
        return out

    def add_open_shift_expected(self, expected: Mapping[str, int]) -> None:
        for c, a in expected.items():
            self._open_expected[c] = self._open_expected.get(c, 0) + a

    def report(self, *, z_nr: int, created_at: str) -> ClosingReport:
        payments: list[PaymentTotal] = []
        gateways: list[PaymentTotal] = []
        methods = set(self._payments) | {("CASH", self.currency)}
        for method, currency in sorted(methods, key=lambda k: (_method_order(k[0]), k)):
            amount, count, base, refunds, refunded = self._payments.get(
                (method, currency), [0, 0, 0, 0, 0]
            )
            kind = payment_kind(method)
            total = PaymentTotal(
                method, kind.zahlart_typ, kind.name, currency, amount, count, base, refunds,
                refunded,
            )  # fmt: skip
            (gateways if kind.gateway else payments).append(total)
        balances = self._day_balances()
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
                CaseTotal(
                    c.value[0],
                    rounding_gv_typ(s.gross) if c is BusinessCase.ROUNDING else gv,
                    s.count,
                    s.gross,
                    s.net,
                    s.tax,
                )
                for (c, gv), s in self._cases.items()
                # an unused default row beside a used one of the same case (another GV_TYP)
                if s.count or s.gross or gv != c.gv_typ or not self._other_gv(c)
            ),
            gv_totals=tuple(
                GvTotal(gv, key, s.gross, s.net, s.tax, name)
                for (gv, key, name), s in sorted(self._gv.items())
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


@dataclass(frozen=True, slots=True)
class LocalChange:
    """Change of a foreign-cash sale paid out in the register currency, as booked: the
    foreign ``surplus`` tendered stays in the drawer (a foreign cash amount worth
    ``surplus_local``), ``paid_out`` leaves it in the register currency, and ``rounding``
    (register currency) is what the surplus is worth beyond the change paid out for it:
    ``surplus_local = paid_out + rounding``."""

    surplus: int
    surplus_local: int
    paid_out: int
    rounding: int


def local_change(
    change: int, change_local: int, change_rounding: int | None, *, in_local: bool
) -> LocalChange | None:
    """How a foreign-cash sale's ``change`` (foreign currency) given back as
    ``change_local`` (register currency) is booked; None when the change went back in
    the sale's currency (or there was none). ``change_rounding``: the sale's stored
    ``Sale.change_rounding``. Sales posted before schema 19 (``change_rounding`` None)
    are booked as they were then, so that a closed period exports as its Z says: the
    surplus at the change paid out for it, and nothing when that was 0 (the foreign
    residual the drawer kept was missing from those books)."""
    if change_rounding is None:
        if not change_local:
            return None
        return LocalChange(change, change_local, change_local, 0)
    if not (in_local and change > 0):
        return None
    return LocalChange(change, change_local + change_rounding, change_local, change_rounding)


def _kept(payments: Iterable[tuple[str, int]], change: int) -> list[tuple[str, int]]:
    """Payments as kept by the register: the change comes off the cash payments (the
    same rule as the Kassenbeleg-V1 processData, services/fiscal.receipt_process_data)."""
    out: list[tuple[str, int]] = []
    for method, amount in payments:
        kept = amount
        if change and amount > 0 and payment_kind(method).cash:
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
