"""Start-up reconciliation completes a sale as a post only when the post itself would be
allowed (Sale.check_postable), on a real SQLite state with the software TSE.

A sale whose lines were removed after a card paid for them (the card now above the
total) has nothing left to pay, yet its post is refused (PAYMENT_EXCEEDS_OPEN_AMOUNT).
Reconciliation must not ask the TSE to finish it as a receipt nor book it as posted:

* its transaction finished at the TSE as a cancellation (AVBelegabbruch: a cancel the
  crash kept from committing) -> the sale is cancelled as the TSE says;
* the TSE holds a receipt for it that its post refuses (signed by a version with weaker
  checks, or the sale's rows changed since) -> nothing is posted, nothing more is signed:
  the sale stays as it is, journaled once (TSE_SALE_UNRESOLVED) for a person, and the
  daemon starts and sells."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.fiscal import process_data as pd
from posd_daemon.fiscal.software_tse import SoftwareTse
from posd_daemon.ops import crashpoints
from posd_daemon.services.fiscal import receipt_process_data
from posd_daemon.store import sales as sale_store
from tests.conftest import Running, start_in_thread
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_full_sale_api import seed
from tests.integration.api.test_sale_part2 import call

CARD = common_pb2.PAYMENT_METHOD_CARD
CASH = common_pb2.PAYMENT_METHOD_CASH


def tse_row_or_none(running: Running, sale_id: str) -> tuple[str, int | None, str] | None:
    with sqlite3.connect(running.config.database_path) as c:
        row = c.execute(
            "SELECT state, transaction_number, client_id FROM sale_tse WHERE sale_id = ?",
            (sale_id,),
        ).fetchone()
    return None if row is None else (str(row[0]), row[1], str(row[2]))


def tse_row(running: Running, sale_id: str) -> tuple[str, int | None, str]:
    row = tse_row_or_none(running, sale_id)
    assert row is not None
    return row


def wait_started(running: Running, sale_id: str) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        row = tse_row_or_none(running, sale_id)
        if row is not None and row[1] is not None:
            assert row[0] == "STARTED"
            return int(row[1])
        time.sleep(0.02)
    raise AssertionError(f"the TSE start of {sale_id} was not recorded")


def overpaid_by_card(running: Running, pos: PosdClient) -> tuple[str, int]:
    """Two coffees paid by card, then one removed: the card is above the total."""
    seed(pos)
    sale_id = pos.create_sale().sale_id
    first = pos.add_line(sale_id, item_id="COFFEE").sale
    total = pos.add_line(sale_id, item_id="COFFEE").sale.total.amount_minor
    pos.add_payment(sale_id, CARD, total)
    number = wait_started(running, sale_id)
    left = pos.remove_line(sale_id, first.lines[0].line_id)
    assert left.open_amount.amount_minor == 0
    with pytest.raises(PosdError) as refused:
        pos.post_sale(sale_id)
    assert (refused.value.code, refused.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_EXCEEDS_OPEN_AMOUNT",
    )
    return sale_id, number


def journal(running: Running, kind: str) -> list[dict[str, object]]:
    with sqlite3.connect(running.config.database_path) as c:
        rows = c.execute("SELECT payload FROM journal WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(r[0]) for r in rows]


def finishes_of(pos: PosdClient) -> dict[int, tuple[str, str]]:
    finishes, _ = tse_finishes(pos.export_tse())
    return {n: (f.process_type, f.process_data) for n, f in finishes.items()}


def tse_finishes_receipt(running: Running, state: Path, sale_id: str, number: int) -> str:
    """With the daemon stopped, the TSE finishes the sale's transaction as a receipt of
    the sale as stored (the crash state a post of a version without the check would have
    left); its processData."""
    _, _, client_id = tse_row(running, sale_id)
    with sqlite3.connect(running.config.database_path) as c:
        stored = sale_store.get(c, sale_id)
    assert stored is not None
    data = receipt_process_data(stored)
    tse = SoftwareTse(state / "tse")
    try:
        tse.finish_transaction(client_id, number, pd.PROCESS_TYPE_KASSENBELEG, pd.encode(data))
    finally:
        tse.close()
    return data


def test_a_cancellation_the_tse_finished_cancels_a_sale_its_post_would_refuse(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    running = start_in_thread(state)
    try:
        with running.client() as pos:
            pos.retries = 0
            sale_id, number = overpaid_by_card(running, pos)
            crashpoints.arm_from_env("cancel.in_transaction:1:raise")
            try:
                with pytest.raises(PosdError) as failed:
                    pos.cancel_sale(sale_id, "customer left")
            finally:
                crashpoints.arm_from_env("")
            assert failed.value.reason == "CANCEL_NOT_SAVED"
    finally:
        running.stop()
    assert tse_row(running, sale_id)[0] == "STARTED"

    running = start_in_thread(state)
    try:
        assert running.daemon.gateway.outage is None
        with running.client() as pos:
            sale = pos.get_sale(sale_id)
            assert sale.state == sale_pb2.SALE_STATE_CANCELLED
            assert sale.receipt_number == 0
            assert finishes_of(pos)[number] == (
                pd.PROCESS_TYPE_KASSENBELEG,
                pd.AVBELEGABBRUCH,
            )
    finally:
        running.stop()
    assert tse_row(running, sale_id)[0] == "CANCELLED"


def test_a_receipt_the_tse_holds_for_a_sale_its_post_refuses_is_not_posted(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    running = start_in_thread(state)
    try:
        with running.client() as pos:
            sale_id, number = overpaid_by_card(running, pos)
    finally:
        running.stop()
    # the TSE finished the transaction as a receipt of the sale as stored (the crash
    # state a post of a version without the check would have left)
    data = tse_finishes_receipt(running, state, sale_id, number)

    for _ in range(2):  # a second start finds it as it was and journals it no more
        running = start_in_thread(state)
        try:
            assert running.daemon.gateway.outage is None
            with running.client() as pos:
                sale = pos.get_sale(sale_id)
                assert sale.state == sale_pb2.SALE_STATE_OPEN
                assert sale.receipt_number == 0
                # the TSE signed nothing more: its one finish is the receipt it held
                assert finishes_of(pos)[number] == (pd.PROCESS_TYPE_KASSENBELEG, data)
                # the register goes on selling
                other = pos.create_sale().sale_id
                total = pos.add_line(other, item_id="COFFEE").sale.total.amount_minor
                pos.add_payment(other, CASH, total)
                assert pos.post_sale(other).tse.state == "SIGNED"
        finally:
            running.stop()
        assert tse_row(running, sale_id)[0] == "STARTED"
        (unresolved,) = journal(running, "TSE_SALE_UNRESOLVED")
        assert unresolved["sale_id"] == sale_id
        assert unresolved["transaction_number"] == number
        assert unresolved["reason"] == "PAYMENT_EXCEEDS_OPEN_AMOUNT"


def test_a_sale_left_unresolved_is_locked_across_restarts(tmp_path: Path) -> None:
    """A sale whose receipt the TSE holds while its post is refused cannot change, be
    posted or cancelled: each would ask the TSE to finish that transaction again with
    other data. The lock names why and what to do, and holds after another restart."""
    state = tmp_path / "state"
    running = start_in_thread(state)
    try:
        with running.client() as pos:
            sale_id, number = overpaid_by_card(running, pos)
            kept_line = pos.get_sale(sale_id).lines[0].line_id
    finally:
        running.stop()
    data = tse_finishes_receipt(running, state, sale_id, number)

    for _ in range(2):  # the start that finds it, and one after
        running = start_in_thread(state)
        try:
            with running.client() as pos:
                pos.retries = 0
                attempts = [
                    lambda: pos.add_line(sale_id, item_id="COFFEE"),
                    lambda: pos.remove_line(sale_id, kept_line),
                    lambda: pos.add_payment(sale_id, CASH, 100),
                    lambda: pos.post_sale(sale_id),
                    lambda: pos.cancel_sale(sale_id, "customer left"),
                    lambda: call(pos, "ParkSale", sale_id=sale_id),
                ]
                for attempt in attempts:
                    with pytest.raises(PosdError) as locked:
                        attempt()
                    assert (locked.value.code, locked.value.reason) == (
                        grpc.StatusCode.FAILED_PRECONDITION,
                        "SALE_UNRESOLVED",
                    )
                    message = locked.value.message
                    assert sale_id in message and str(number) in message
                    assert "PAYMENT_EXCEEDS_OPEN_AMOUNT" in message
                    assert "TSE_SALE_UNRESOLVED" in message
                sale = pos.get_sale(sale_id)
                assert sale.state == sale_pb2.SALE_STATE_OPEN
                assert [ln.line_id for ln in sale.lines] == [kept_line]
                assert finishes_of(pos)[number] == (pd.PROCESS_TYPE_KASSENBELEG, data)
                # other sales go on
                other = pos.create_sale().sale_id
                total = pos.add_line(other, item_id="COFFEE").sale.total.amount_minor
                pos.add_payment(other, CASH, total)
                assert pos.post_sale(other).tse.state == "SIGNED"
        finally:
            running.stop()
        assert tse_row(running, sale_id)[0] == "STARTED"
