"""DATEV Kassenbuch online: the Gegenkonto of an employee's tip (Trinkgeld an Arbeitnehmer,
DSFinV-K TrinkgeldAN).

A tip for the staff is no revenue and no wage paid through the payroll (tax-free, §3
Nr. 51 EStG): the business holds it for the employee until paid out. haufe.de,
"Trinkgelder an Arbeitnehmer und Unternehmer richtig buchen" books it on SKR03 1592
"Fremdgeld (Trinkgeld)". posd booked it on 1755, which in SKR03 is "Lohn- und
Gehaltsverrechnung", the payroll clearing account: the tips mixed into the wages
cleared there, and the account no longer reconciled with the payroll.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from posd.client import PosdClient
from posd.v1 import closing_pb2 as K


def test_a_tip_received_and_paid_out_is_booked_on_the_third_party_money_account(
    pos: PosdClient,
) -> None:
    pos.open_shift(PosdClient.cash_counts(total=10000))
    pos.add_cash_movement(
        K.CASH_MOVEMENT_KIND_TIP, 500, "Trinkgeld Tisch 4", direction=K.CASH_DIRECTION_IN
    )
    pos.add_cash_movement(
        K.CASH_MOVEMENT_KIND_TIP, 500, "an Service ausgezahlt", direction=K.CASH_DIRECTION_OUT
    )

    now = datetime.now(UTC)
    (book,) = pos.export_datev(now - timedelta(days=1), now + timedelta(days=1))
    rows = list(csv.reader(io.StringIO(book.content.decode("utf-8"), newline=""), delimiter=";"))
    assert [(r[1], r[7], r[12]) for r in rows[1:]] == [
        ("+5,00", "1592", "TrinkgeldAN"),
        ("-5,00", "1592", "TrinkgeldAN"),
    ]
