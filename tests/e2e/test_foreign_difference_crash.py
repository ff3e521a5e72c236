"""A shift close that signs two differences (euro and Swiss francs), the real daemon
process SIGKILLed between the two signatures: the euro Vorgang finished at the TSE, the
franc one only started. After the restart the finished one is recorded (on its own, into
the open shift), the started one cancelled (AVBelegabbruch); the client's retry of the
close signs the francs' difference and closes the shift without booking the euro one a
second time. Every finished Kassenbeleg of the TSE belongs to exactly one movement."""

from __future__ import annotations

import io

import pytest
from posd.client import PosdClient
from posd.v1 import closing_pb2, shop_pb2

from posd_daemon.fiscal.verify_export import verify_export
from tests.e2e.test_tse_crash_consistency import (
    BELEG,
    _boot,
    _dies_under,
    _journaled_numbers,
    tse_finishes,
)
from tests.support.daemon_process import DaemonProcess
from tests.support.e2e import db_query
from tests.support.fullsale import update_shop


def _differences(db: object) -> list[tuple[object, ...]]:
    return db_query(
        db,  # type: ignore[arg-type]
        "SELECT amount, currency, amount_local, transaction_number, tse_state, process_data"
        " FROM cash_movements WHERE kind = 'DIFFERENCE' ORDER BY movement_id",
    )


@pytest.mark.e2e
def test_a_close_killed_between_its_two_signatures_books_each_difference_once(
    tmp_path: object,
) -> None:
    daemon = DaemonProcess(tmp_path / "state")  # type: ignore[operator]
    db = daemon.db_path
    try:
        pos = _boot(daemon)
        update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
        pos.open_shift(
            PosdClient.cash_counts(total=10000) + PosdClient.cash_counts(total=5000, currency="CHF")
        )
        # 1.00 EUR short, 0.95 CHF over: two Vorgänge; killed at the second one's
        # finish (its start committed together with the first one's pending row)
        counted = PosdClient.cash_counts(total=9900) + PosdClient.cash_counts(
            total=5095, currency="CHF"
        )
        pos = _boot(daemon, "event.before_finish:2")
        shift = pos.get_shift()
        _dies_under(daemon, lambda: pos.close_shift(counted, request_id="close-fx"))
        pos = _boot(daemon)
        assert pos.get_shift(shift.shift_id).state == closing_pb2.SHIFT_STATE_OPEN
        booked = _differences(db)
        assert [(a, c, s) for a, c, _, _, s, _ in booked] == [(-100, "EUR", "SIGNED")]
        assert len(_journaled_numbers(db, "TSE_EVENT_CANCELLED")) == 1  # the francs'

        closed = pos.close_shift(counted, request_id="close-fx")
        assert closed.state == closing_pb2.SHIFT_STATE_CLOSED
        assert {b.currency_code: b.difference.amount_minor for b in closed.balances} == {
            "EUR": 0,  # booked already, into the shift's expected cash
            "CHF": 95,
        }
        assert pos.close_shift(counted, request_id="close-fx") == closed
        rows = _differences(db)
        assert [(a, c, local, s) for a, c, local, _, s, _ in rows] == [
            (-100, "EUR", None, "SIGNED"),
            (95, "CHF", 100, "SIGNED"),
        ]

        tar = pos.export_tse()
        report = verify_export(io.BytesIO(tar), allow_open_transactions=True)
        assert report.ok, report.summary()
        finishes, started = tse_finishes(tar)
        assert started == set(finishes), f"open: {sorted(started - set(finishes))}"
        beleg = {n for n, f in finishes.items() if f.process_data.startswith(BELEG)}
        recorded = db_query(
            db, "SELECT transaction_number, process_data FROM cash_movements ORDER BY 1"
        )
        assert beleg == {int(str(n)) for n, _ in recorded}
        for n, data in recorded:
            assert finishes[int(str(n))].process_data == data
        assert db_query(
            db,
            "SELECT COUNT(*) FROM tse_pending_events WHERE state NOT IN ('DONE', 'CANCELLED')",
        ) == [(0,)]
        assert pos.verify_journal().ok
        assert daemon.terminate() == 0
    finally:
        daemon.close()
