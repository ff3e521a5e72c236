"""The DATEV accounts of the cash book export (exports/datev): SKR03 defaults, the
[datev] config replaces some. Apart from the exporter, so that the daemon validates the
accounts at start without loading the exporters (they load on the first export)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from posd_daemon.domain.closing import CashMovementKind


@dataclass(frozen=True, slots=True)
class Accounts:
    movements: dict[str, str] = field(
        default_factory=lambda: {
            CashMovementKind.DEPOSIT.value: "1890",
            CashMovementKind.WITHDRAWAL.value: "1800",
            CashMovementKind.TRANSIT.value: "1360",
            # a tip for the staff (TrinkgeldAN): money held for the employees, neither
            # revenue nor wages (tax-free, §3 Nr. 51 EStG), so SKR03 1592 "Fremdgeld"
            # (an SKR04 shop sets its own, as for every account here), as haufe.de,
            # "Trinkgelder an Arbeitnehmer und Unternehmer richtig buchen" ("1592
            # Fremdgeld (Trinkgeld)"). Not 1755, which is SKR03
            # "Lohn- und Gehaltsverrechnung": the payroll clearing would no longer balance
            CashMovementKind.TIP.value: "1592",
            # a cash difference short (negative): SKR03 2309 "Sonstige Aufwendungen
            # unregelmäßig"; over: ``difference_surplus``. Not 2150, which is
            # "Aufwendungen aus der Währungsumrechnung" (NWB Kontierungslexikon,
            # "Fremdwährung bei Forderungen"): a till shortage is no exchange loss
            CashMovementKind.DIFFERENCE.value: "2309",
        }
    )
    #: a cash difference over (positive): SKR03 2709 "Sonstige Erträge unregelmäßig".
    #: Shortage 2309 / surplus 2709 (SKR04 6969 / 4839): haufe.de, "Kassenführung:
    #: Kassenfehlbeträge und Mehrbeträge – so gehen Sie richtig vor"
    difference_surplus: str = "2709"
    #: revenue account per VAT category (1 normal ... 6 not taxable). SKR03 8400 "Erlöse
    #: 19 % USt", 8300 "Erlöse 7 % USt"; the §24 UStG average rates (3: §24 (1) Nr. 3,
    #: 4: Nr. 1) on 8190 "Erlöse, die mit den Durchschnittssätzen des § 24 UStG
    #: versteuert werden", not on the 7 % account; 8200 "Erlöse", 8100 "Steuerfreie
    #: Umsätze § 4 Nr. 8 ff. UStG" (SKR03 Kontenklasse 8, buchungssatz.de/de/konto/skr03/
    #: klasse8/8000.html; SKR04 4400, 4300: epago.de/konten/8300-erloese-7-ust)
    revenue: dict[int, str] = field(
        default_factory=lambda: {1: "8400", 2: "8300", 3: "8190", 4: "8190", 5: "8200", 6: "8100"}
    )
    #: transit account of non-cash payments (card clearing)
    non_cash_transit: str = "1360"
    #: cash rounding differences (sales.rounding: what the drawer kept beyond the
    #: total), not taxable (DSFinV-K books them under UST_SCHLUESSEL 5). fiscal-de.md
    #: names no account; 8200 is SKR03 "Erlöse" without VAT, the tax-free revenue account
    #: suggested for rounding differences (Lexware Lexikon "Rundungsdifferenzkonto",
    #: office.lexware.de/lexikon/rundungsdifferenzkonto; taxpool.net "Rundungsdifferenzen
    #: buchen": 8200 or the interim account 1590)
    rounding: str = "8200"
    #: open invoices paid at the register (Forderungsaufloesung): SKR03 1400
    #: "Forderungen aus Lieferungen und Leistungen" (DATEV Kontenrahmen SKR03; SKR04:
    #: 1200), credited with the payment, which the cash book (or a transit row) debits
    receivables: str = "1400"
    #: multi-purpose vouchers sold and redeemed (no revenue: a liability until redeemed,
    #: §3 Abs. 15 UStG; Abs. 14 is the single-purpose one, taxed at its sale). SKR03
    #: 1604 "Verbindlichkeiten aus Gutscheinen" (SKR04: 3304),
    #: as haufe.de "Kassenführung: Die richtige Erfassung von Gutscheinen" (Praxis-
    #: Wegweiser: "Kasse an Verbindlichkeiten aus Gutscheinen 1604 (SKR 03) bzw. 3304
    #: (SKR 04)"). The standard SKR03 does not name that account: the tax adviser sets it
    #: up (or names another liability, e.g. 1700 "Sonstige Verbindlichkeiten"); see the
    #: README, DATEV.
    vouchers: str = "1604"
    #: the client's Sachkontenlänge ([datev] account_length, 4 to 8; every account above is
    #: checked against it at start): a Gegenkonto is at most one digit longer, a personal
    #: account (DATEV Hilfe-Dokument 1002367, datev.de/hilfe/1002367), so the shop's
    #: balancing account, master data checked by nothing else, is booked only if it fits
    length: int = 4

    def with_overrides(
        self,
        *,
        revenue: dict[int, str] | None = None,
        movements: dict[str, str] | None = None,
        length: int = 0,
        **single: str,
    ) -> Accounts:
        """These accounts with some replaced (the [datev] config; "" or a 0 length keeps a
        default).

        A DIFFERENCE account set without a ``difference_surplus`` books both shortages
        and surpluses on it: a shop that names one account for its cash differences
        (one on SKR04, say) gets no surplus on an SKR03 account."""
        difference = (movements or {}).get(CashMovementKind.DIFFERENCE.value, "")
        if difference and not single.get("difference_surplus"):
            single = {**single, "difference_surplus": difference}
        return dataclasses.replace(
            self,
            revenue={**self.revenue, **(revenue or {})},
            movements={**self.movements, **(movements or {})},
            length=length or self.length,
            **{k: v for k, v in single.items() if v},
        )
