"""The supplier's tax identifier on printed documents, through a real daemon: a full
invoice names the supplier's Steuernummer or USt-IdNr. (§ 14 (4) Nr. 2 UStG). A shop
with no USt-IdNr. has only its Steuernummer (``register.tax_number``); a register with
neither says so when it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.ops.config import ConfigError, load
from tests.conftest import Running, running_daemon
from tests.support.fullsale import customer, import_customers, import_items, item, printed

CARD = common_pb2.PAYMENT_METHOD_CARD


def seed(pos: PosdClient) -> None:
    import_items(pos, item("COFFEE", "Kaffee", 899), item("TV", "Fernseher", 49900))
    import_customers(
        pos,
        customer("P1", "Erika Muster", street="Weg 2", postal_code="20095", city="Hamburg"),
    )


def document(running: Running, needle: str) -> str:
    """The printed document that contains ``needle`` (documents are cut apart)."""
    text = printed(running, needle)
    return next(doc for doc in text.split("======== cut ========") if needle in doc)


def sell(pos: PosdClient, item_id: str, amount: int, customer_number: str = "") -> str:
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id=item_id)
    if customer_number:
        pos.set_customer(sid, customer_number)
    pos.add_payment(sid, CARD, amount)
    pos.post_sale(sid)
    return sid


def register(**keys: Any) -> dict[str, Any]:
    return {"register": {"timezone": "UTC", **keys}}


def test_invoice_and_receipt_name_the_tax_number_of_a_shop_without_vat_id(
    tmp_path: Path,
) -> None:
    overrides = register(vat_id="", tax_number="12/345/67890")
    with running_daemon(tmp_path / "state", overrides) as running, running.client() as pos:
        seed(pos)
        sell(pos, "TV", 49900, "P1")  # over 250 EUR: a full invoice
        invoice = document(running, "RECHNUNG")
        assert "St.-Nr. 12/345/67890" in invoice
        assert "USt-IdNr." not in invoice
        sell(pos, "COFFEE", 899)  # a Kleinbetragsrechnung: the head as the invoice's
        receipt = document(running, "Kaffee")
        assert "St.-Nr. 12/345/67890" in receipt


def test_an_invoice_issued_later_names_both_identifiers_when_both_are_set(
    tmp_path: Path,
) -> None:
    overrides = register(vat_id="DE123456789", tax_number="12/345/67890")
    with running_daemon(tmp_path / "state", overrides) as running, running.client() as pos:
        seed(pos)
        sid = sell(pos, "COFFEE", 899)
        pos.call(
            pos.sales.PrintInvoice,
            sale_pb2.PrintInvoiceRequest(
                request_id=new_request_id(), sale_id=sid, customer_number="P1"
            ),
        )
        invoice = document(running, "RECHNUNG")
        assert "USt-IdNr. DE123456789" in invoice
        assert "St.-Nr. 12/345/67890" in invoice


def test_a_register_with_neither_identifier_warns_at_start(tmp_path: Path) -> None:
    with (
        structlog.testing.capture_logs() as logs,
        running_daemon(tmp_path / "state", register(vat_id="", tax_number="")) as running,
        running.client() as pos,
    ):
        seed(pos)
        sell(pos, "COFFEE", 899)  # plain receipts are not affected
        assert "Kaffee" in document(running, "Kaffee")
    warned = [e for e in logs if e.get("event") == "supplier_tax_id_missing"]
    assert warned and warned[0]["log_level"] == "warning"
    assert "register.tax_number" in warned[0]["keys"]
    assert "register.vat_id" in warned[0]["keys"]


def test_a_register_with_neither_identifier_issues_no_invoice(tmp_path: Path) -> None:
    """Neither a Steuernummer nor a USt-IdNr.: a full invoice (over 250 EUR, or asked
    for later) is refused before the TSE signs, naming the keys; the sale stays open
    and nothing is posted; a receipt up to 250 EUR still posts."""
    with (
        running_daemon(tmp_path / "state", register(vat_id="", tax_number="")) as running,
        running.client() as pos,
    ):
        seed(pos)
        with pytest.raises(PosdError) as err:
            sell(pos, "TV", 49900, "P1")
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "SUPPLIER_TAX_ID_MISSING",
        )
        assert "register.tax_number" in err.value.message
        (open_sale,) = pos.call(pos.sales.ListSales, sale_pb2.ListSalesRequest()).sales
        assert open_sale.state == sale_pb2.SALE_STATE_OPEN and not open_sale.receipt_number
        sid = sell(pos, "COFFEE", 899)
        with pytest.raises(PosdError) as err:
            pos.call(
                pos.sales.PrintInvoice,
                sale_pb2.PrintInvoiceRequest(
                    request_id=new_request_id(), sale_id=sid, customer_number="P1"
                ),
            )
        assert err.value.reason == "SUPPLIER_TAX_ID_MISSING"


def test_a_register_with_an_identifier_does_not_warn(tmp_path: Path) -> None:
    overrides = register(vat_id="", tax_number="12/345/67890")
    with structlog.testing.capture_logs() as logs, running_daemon(tmp_path / "state", overrides):
        pass
    assert not [e for e in logs if e.get("event") == "supplier_tax_id_missing"]


@pytest.mark.parametrize(
    "value",
    [
        "12/345\n/67890",  # a line break would split the printed line
        "12/345/67890\x1b@",  # ESC @ would reset the printer mid-receipt
        "1" * 21,  # DSFinV-K cash_register.csv STNR is A20
        " 12/345/67890",
    ],
)
def test_a_bad_tax_number_is_refused_at_load(value: str) -> None:
    with pytest.raises(ConfigError, match=r"register\.tax_number"):
        load(None, {"register": {"tax_number": value}})


@pytest.mark.parametrize("value", ["", "12/345/67890", "2181508150", "143/123/12345"])
def test_real_tax_numbers_are_taken(value: str) -> None:
    assert load(None, {"register": {"tax_number": value}}).register.tax_number == value


def test_the_digital_receipt_names_the_tax_number(tmp_path: Path) -> None:
    from tests.integration.api.test_digital_receipt_http_hostile import fetch
    from tests.integration.api.test_digital_receipts import digital_config
    from tests.integration.api.test_digital_receipts import sell as sell_digital

    overrides = {**register(vat_id="", tax_number="12/345/67890"), **digital_config()}
    with running_daemon(tmp_path / "state", overrides) as running, running.client() as pos:
        posted = sell_digital(pos)
        text, data = fetch(running, posted.receipt_number)
    assert "St.-Nr. 12/345/67890" in text
    assert data["shop"] == {**data["shop"], "tax_number": "12/345/67890"}  # type: ignore[dict-item]


def test_the_dsfinvk_export_names_the_tax_number(tmp_path: Path) -> None:
    """cashpointclosing.csv (Stamm_Abschluss) STNR: it was always empty."""
    from tests.integration.day.test_full_day import read_export
    from tests.support.cash import close_as_expected

    overrides = register(vat_id="DE123456789", tax_number="12/345/67890")
    with running_daemon(tmp_path / "state", overrides) as running, running.client() as pos:
        seed(pos)
        sell(pos, "COFFEE", 899)
        close_as_expected(pos)
        z = pos.z_closing()
        (row,) = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0][
            "cashpointclosing.csv"
        ]
    assert (row["STNR"], row["USTID"]) == ("12/345/67890", "DE123456789")
