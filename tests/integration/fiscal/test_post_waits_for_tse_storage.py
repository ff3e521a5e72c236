"""The software TSE hands a finish's signature over before its own storage COMMIT (the
daemon writes the post's rows during that fsync), but the post commits only what the TSE
has stored: held at its storing, the sale is not posted; failing it, the signature it
handed over is nowhere, and the receipt is posted in an outage instead.

Both ways a post runs: the usual post (PostSale right after the payment) and the post run
ahead of its PostSale (the customer hands over the money first)."""

from __future__ import annotations

import base64
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from posd.client import PosdClient

from posd_daemon.services.tse_port import TseError, TseLogResult
from tests.conftest import Running
from tests.integration.api.test_post_ahead import CASH, hand_over, sale_of_one, seed

Hand = Callable[[TseLogResult], None]


def storing(
    running: Running, monkeypatch: pytest.MonkeyPatch, between: Callable[[TseLogResult], None]
) -> list[TseLogResult]:
    """The TSE's finishes run ``between`` after handing their signature over, before
    storing it; returns the results handed over."""
    tse = running.daemon.gateway.tse
    assert tse is not None
    real = tse.finish_transaction
    handed: list[TseLogResult] = []

    def finish(*args: Any, signed: Hand | None = None, **kw: Any) -> TseLogResult:
        def hand(result: TseLogResult) -> None:
            assert signed is not None, "the daemon asks for the signature early"
            signed(result)
            handed.append(result)
            between(result)

        return real(*args, signed=hand, **kw)

    monkeypatch.setattr(tse, "finish_transaction", finish)
    return handed


def sale_state(running: Running, sale_id: str) -> tuple[str, str | None]:
    with sqlite3.connect(running.config.database_path) as conn:
        (state,) = conn.execute("SELECT state FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
        fiscal = conn.execute("SELECT state FROM sale_tse WHERE sale_id = ?", (sale_id,)).fetchone()
    return state, fiscal[0] if fiscal else None


def paid_sale(running: Running, pos: PosdClient, *, ahead: bool) -> str:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200)
    if ahead:
        hand_over()  # the post runs ahead and parks at the wait for the signature
    return sale_id


@pytest.mark.parametrize("ahead", [False, True], ids=["usual", "run-ahead"])
def test_the_post_commits_only_after_the_tse_stored_its_signature(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold(result: TseLogResult) -> None:
        held.set()
        assert release.wait(10)

    handed = storing(running, monkeypatch, hold)
    sale_id = paid_sale(running, pos, ahead=ahead)
    with ThreadPoolExecutor(1) as pool:
        post = pool.submit(pos.post_sale, sale_id)
        assert held.wait(10), "the TSE was never asked to finish"
        # the daemon has the signature and would have committed long since
        time.sleep(0.3)
        assert sale_state(running, sale_id) == ("OPEN", "STARTED")
        assert not post.done()
        release.set()
        posted = post.result(10)
    assert posted.tse.state == "SIGNED"
    assert sale_state(running, sale_id) == ("POSTED", "SIGNED")
    [result] = handed
    assert posted.tse.signature_counter == result.signature_counter
    assert base64.b64decode(posted.tse.signature) == result.signature
    tse = running.daemon.gateway.tse
    assert tse is not None
    assert result.transaction_number not in tse.open_transactions(running.daemon.gateway.client_id)


@pytest.mark.parametrize("ahead", [False, True], ids=["usual", "run-ahead"])
def test_a_signature_the_tse_failed_to_store_is_never_committed(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    failed: list[int] = []

    def fail_once(result: TseLogResult) -> None:
        if not failed:  # the next finish (after recovery) stores as usual
            failed.append(result.transaction_number)
            raise TseError("STORAGE", "commit failed: disk I/O error")

    handed = storing(running, monkeypatch, fail_once)
    sale_id = paid_sale(running, pos, ahead=ahead)
    posted = pos.post_sale(sale_id)
    # selling does not stop: the receipt is posted in the outage that failure opened
    assert posted.tse.state == "OUTAGE"
    assert posted.tse.outage_number >= 1
    assert sale_state(running, sale_id) == ("POSTED", "OUTAGE")
    [lost] = [r for r in handed if r.transaction_number == failed[0]]
    text = base64.b64encode(lost.signature).decode()
    with sqlite3.connect(running.config.database_path) as conn:
        signatures = {r[0] for r in conn.execute("SELECT signature FROM sale_tse")}
        journal = "\n".join(r[0] for r in conn.execute("SELECT payload FROM journal"))
    assert text not in signatures
    assert text not in journal
    assert lost.signature.hex() not in journal
