"""A post that fails after the TSE signed (injected: the error a failing disk gives, right
before the commit), through the gRPC API of a daemon with the software TSE.

The TSE's finish cannot be taken back, so the sale stays exactly as signed and posting it
again must succeed with the same signature, whatever changed since: the checks that
passed before signing are not asked again (the e2e variant on the real process is in
tests/e2e/test_tse_crash_consistency.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from posd_daemon.fiscal.process_data import AVBELEGABBRUCH
from posd_daemon.ops import crashpoints
from tests.conftest import Running
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_full_sale_api import seed
from tests.support.fullsale import import_stock, post_not_saved, update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH


@pytest.fixture
def failing_post() -> Iterator[None]:
    """The next post's transaction fails after the TSE signed (once)."""
    crashpoints.arm_from_env("post.in_transaction:1:raise")
    try:
        yield
    finally:
        crashpoints.arm_from_env("")


def paid_sale(pos: PosdClient, item_id: str) -> str:
    sale_id = pos.create_sale().sale_id
    total = pos.add_line(sale_id, item_id=item_id).sale.total.amount_minor
    pos.add_payment(sale_id, CASH, total)
    return sale_id


def test_a_signed_sale_posts_again_although_its_stock_was_sold_meanwhile(
    running: Running, pos: PosdClient, failing_post: None
) -> None:
    seed(pos)
    import_stock(pos, catalog_pb2.StockEntry(item_id="COFFEE", quantity="1"))
    update_shop(pos, allow_negative_stock=False)
    pos.retries = 0
    first = paid_sale(pos, "COFFEE")
    with pytest.raises(PosdError) as failed:
        pos.post_sale(first)
    assert (failed.value.code, failed.value.reason) == (
        grpc.StatusCode.UNAVAILABLE,
        "POST_NOT_SAVED",
    )
    with pytest.raises(PosdError) as refused:
        pos.cancel_sale(first, "customer left")
    assert refused.value.reason == "SALE_SIGNED_NOT_POSTED"

    # the last unit goes to another sale: a fresh post of `first` would now be refused
    second = paid_sale(pos, "COFFEE")
    assert pos.post_sale(second).receipt_number == 1
    with pytest.raises(PosdError) as short:
        pos.post_sale(paid_sale(pos, "COFFEE"))
    assert short.value.reason == "INSUFFICIENT_STOCK"

    posted = pos.post_sale(first)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert posted.tse.state == "SIGNED"
    assert posted.receipt_number == 2
    assert any(w.startswith("NEGATIVE_STOCK") for w in posted.warnings)
    # posted: the lock is gone, the sale answers like any posted sale
    with pytest.raises(PosdError) as done:
        pos.cancel_sale(first, "too late")
    assert done.value.reason == "SALE_ALREADY_POSTED"


def test_a_reversal_signed_but_not_saved_is_posted_by_asking_for_it_again(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    original = paid_sale(pos, "COFFEE")
    receipt = pos.post_sale(original).receipt_number
    pos.retries = 0
    request = sale_pb2.ReverseReceiptRequest(
        request_id=uuid.uuid4().hex, sale_id=original, reason="Fehlbon"
    )
    failed = post_not_saved(lambda: pos.call(pos.sales.ReverseReceipt, request))
    reversal_id = failed.metadata["sale_id"]
    with pytest.raises(PosdError) as refused:
        pos.add_line(reversal_id, item_id="COFFEE")
    assert refused.value.reason == "SALE_SIGNED_NOT_POSTED"

    reversal = pos.call(pos.sales.ReverseReceipt, request).reversal
    assert reversal.sale_id == reversal_id
    assert reversal.state == sale_pb2.SALE_STATE_POSTED
    assert reversal.tse.state == "SIGNED"
    assert reversal.reverses_receipt_number == receipt
    assert reversal.total.amount_minor == -pos.get_sale(original).total.amount_minor


def test_a_cancellation_the_tse_finished_but_not_saved_can_only_be_cancelled_again(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    pos.retries = 0
    sale_id = paid_sale(pos, "COFFEE")
    crashpoints.arm_from_env("cancel.in_transaction:1:raise")
    try:
        with pytest.raises(PosdError) as failed:
            pos.cancel_sale(sale_id, "customer left")
    finally:
        crashpoints.arm_from_env("")
    assert (failed.value.code, failed.value.reason) == (
        grpc.StatusCode.UNAVAILABLE,
        "CANCEL_NOT_SAVED",
    )
    for change in (
        lambda: pos.add_line(sale_id, item_id="COFFEE"),
        lambda: pos.post_sale(sale_id),
    ):
        with pytest.raises(PosdError) as refused:
            change()
        assert refused.value.reason == "SALE_SIGNED_NOT_POSTED"
        assert "cancel it again" in refused.value.message

    cancelled = pos.cancel_sale(sale_id, "customer left")
    assert cancelled.state == sale_pb2.SALE_STATE_CANCELLED
    assert cancelled.tse.state == "CANCELLED"
    finishes, started = tse_finishes(pos.export_tse())
    number = cancelled.tse.transaction_number
    assert number in started
    assert finishes[number].process_data == AVBELEGABBRUCH  # finished once, as an abort
    assert len(finishes) == 1
