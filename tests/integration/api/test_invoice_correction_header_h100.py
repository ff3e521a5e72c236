"""An invoice correction (goods returned from an invoice) says what it is and which
invoice it corrects in its header, before its lines (review h100), through a real
daemon: the reference stood under the VAT table and each line said "Rückgabe zu Beleg 1",
the receipt's number, which is not the invoice's."""

from __future__ import annotations

from posd.client import PosdClient

from tests.conftest import Running
from tests.integration.api.test_invoice_legal_content_h46 import seed
from tests.integration.api.test_invoice_recipients_h95 import (
    CASH,
    call,
    document,
    invoiced_coffee,
)


def test_the_correction_names_the_invoice_in_its_header(running: Running, pos: PosdClient) -> None:
    seed(pos)
    original, day = invoiced_coffee(running, pos)
    back = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=back, original_sale_id=original.sale_id,
         original_line_id="1", quantity="1")  # fmt: skip
    pos.add_payment(back, CASH, pos.get_sale(back).total.amount_minor)
    posted = pos.post_sale(back)
    text = document(running, f"Rechnungs-Nr. REG-1-{posted.receipt_number}")
    words = " ".join(text.split())  # wrapped on the paper's width
    reference = f"Rechnungskorrektur zu Rechnung REG-1-1 vom {day}"
    assert reference in words, text
    # the kind of document and the invoice it corrects head it, before the number and
    # the lines (§ 31 (5) UStDV: the correcting document refers to the invoice)
    assert words.index("RECHNUNGSKORREKTUR") < words.index(reference), text
    assert words.index(reference) < words.index("Rechnungs-Nr."), text
    assert words.index(reference) < words.index("-" * 20), text
    # the lines do not repeat a receipt number the invoice's recipient never saw
    assert "Rückgabe zu Beleg" not in text, text
    assert "-1 x" in text, text
