"""h54: the X report is printed on request (PrintXReport, ``posctl closing x --print``),
and the printed Z and X show how many payments each method took and the refunds (money
paid back) apart.

* GetXReport only answered the report: a shop printing its X at shift handover could not.
* The printed Z/X showed each method's total only: neither how many payments nor how much
  of it was paid back (a return's negative payment netted away unseen).
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2

from tests.conftest import Running
from tests.integration.api.test_devices_api import printed, wait_for
from tests.integration.api.test_operator_permissions import staffed
from tests.integration.api.test_sale_part2 import call, pay, post, sale_of, seed
from tests.integration.day.conftest import Day
from tests.integration.day.test_posctl_day import run
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD

__all__ = ["staffed"]


def _x_jobs(running: Running) -> list[dict[str, object]]:
    with sqlite3.connect(running.config.database_path) as conn:
        rows = conn.execute("SELECT payload FROM outbox WHERE kind = 'print'").fetchall()
    jobs = [json.loads(r[0]) for r in rows]
    return [j for j in jobs if j.get("document") == "x_report"]


def _sell_and_refund(pos: PosdClient) -> None:
    """Coffee paid cash, coffee paid by card, the cash coffee taken back (cash -8.99)."""
    seed(pos)
    sid = sale_of(pos, ("COFFEE", "1"))
    pay(pos, sid, CASH, 899)
    coffee = post(pos, sid)
    sid = sale_of(pos, ("COFFEE", "1"))
    pay(pos, sid, CARD, 899)
    post(pos, sid)
    ret = pos.create_sale().sale_id
    call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=coffee.sale_id,
        original_line_id=coffee.lines[0].line_id,
        quantity="1",
    )
    pay(pos, ret, CASH, -899)
    post(pos, ret)


def test_print_x_report_queues_the_report_as_computed_once_per_request(
    pos: PosdClient, running: Running
) -> None:
    pos.open_shift([])
    _sell_and_refund(pos)
    report = pos.print_x_report(request_id="x-handover-1")
    assert report.z_nr == 0
    assert report.receipts == 3
    wait_for(lambda: "X-BERICHT" in printed(running))
    # the job holds the report as it was computed: printed later, it shows that moment
    (job,) = _x_jobs(running)
    stored = job["report"]
    assert isinstance(stored, dict)
    assert stored["receipts"] == 3
    # a retry answers the first report and queues nothing more
    again = pos.print_x_report(request_id="x-handover-1")
    assert again == report
    assert len(_x_jobs(running)) == 1
    # the period goes on: nothing was closed
    assert pos.x_report().z_nr == 0
    close_as_expected(pos)
    assert pos.z_closing().z_nr == 1


def test_printing_the_x_report_needs_closing_as_reading_it(staffed: Running) -> None:
    with staffed.client("2", "0000") as cashier:
        with pytest.raises(PosdError) as err:
            cashier.print_x_report()
        assert err.value.reason == "PERMISSION_DENIED"
    assert _x_jobs(staffed) == []


def test_the_printed_z_and_x_show_payment_counts_and_refunds(
    pos: PosdClient, running: Running
) -> None:
    pos.open_shift([])
    _sell_and_refund(pos)
    x = pos.x_report()
    cash = next(p for p in x.payments if p.method == "CASH")
    card = next(p for p in x.payments if p.method == "CARD")
    assert (cash.count, cash.amount.amount_minor) == (2, 0)
    assert (cash.refund_count, cash.refunds.amount_minor) == (1, -899)
    assert (card.count, card.refund_count, card.refunds.amount_minor) == (1, 0, 0)

    pos.print_x_report()
    wait_for(lambda: "X-BERICHT" in printed(running))
    close_as_expected(pos)
    pos.z_closing()
    wait_for(lambda: "Z-BON 1" in printed(running))
    text = printed(running)
    for paper in (text[text.index("X-BERICHT") :], text[text.index("Z-BON 1") :]):
        lines = [ln.strip() for ln in paper.splitlines()]
        assert any(ln.startswith("2x Bar (EUR)") and ln.endswith("0,00 EUR") for ln in lines)
        assert any(ln.startswith("1x Karte (EUR)") and ln.endswith("8,99 EUR") for ln in lines)
        refund = [ln for ln in lines if "Erstattung" in ln]
        assert refund and refund[0].startswith("davon 1x Erstattung"), lines
        assert refund[0].endswith("-8,99 EUR"), lines


def test_posctl_closing_x_print(day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    day.pos.open_shift([])
    out = run(day, capsys, "closing", "x", "--print")
    assert "X report" in out and "queued for the printer" in out
    wait_for(lambda: "X-BERICHT" in printed(day.running))
    assert len(_x_jobs(day.running)) == 1
    # without --print nothing is queued
    run(day, capsys, "closing", "x")
    assert len(_x_jobs(day.running)) == 1
