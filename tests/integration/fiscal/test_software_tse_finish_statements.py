"""The software TSE's finish on the pay path: few SQL statements, same results.

In the daemon the finish runs on the TSE thread while the database thread writes the
post's rows: every statement releases and re-takes the GIL, and each re-take waits for
the other thread's next release. The finish's statement count is therefore part of the
pay-to-receipt latency (bench/pay_latency.py), not only its fsync.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.fiscal import process_data as pd
from posd_daemon.fiscal.software_tse import SoftwareTse
from posd_daemon.services.tse_port import TseError

CLIENT = "KASSE-01"
KB = pd.PROCESS_TYPE_KASSENBELEG
RECEIPT = pd.encode(
    pd.kassenbeleg_v1("Beleg", [1190, 107, 0, 0, 0], [pd.Payment(1297, pd.PaymentKind.CASH)])
)


def _statements(tse: SoftwareTse, fn: object) -> list[str]:
    seen: list[str] = []
    conn = tse._db()
    conn.set_trace_callback(seen.append)
    try:
        fn()  # type: ignore[operator]
    finally:
        conn.set_trace_callback(None)
    return seen


def test_finish_runs_in_six_statements_and_signs_the_next_counter(tmp_path: Path) -> None:
    with SoftwareTse(tmp_path / "tse") as tse:
        tse.register_client(CLIENT)
        started = tse.start_transaction(CLIENT, KB, b"")
        seen: list[str] = []
        result = None

        def finish() -> None:
            nonlocal result
            result = tse.finish_transaction(CLIENT, started.transaction_number, KB, RECEIPT)

        seen = _statements(tse, finish)
        # BEGIN, the check, the counter, the log message, the transaction, COMMIT
        assert len(seen) <= 6, seen
        assert result is not None
        assert result.signature_counter == started.signature_counter + 1
        assert result.start_time == started.log_time
        # stored: the same finish again is answered from the store (idempotent)
        again = tse.finish_transaction(CLIENT, started.transaction_number, KB, RECEIPT)
        assert again.signature == result.signature
        assert again.signature_counter == result.signature_counter
        # the counters moved by exactly one signature each
        nxt = tse.start_transaction(CLIENT, KB, b"")
        assert nxt.signature_counter == result.signature_counter + 1
        assert nxt.transaction_number == started.transaction_number + 1


def test_finish_refusals_keep_their_reasons_and_change_nothing(tmp_path: Path) -> None:
    with SoftwareTse(tmp_path / "tse") as tse:
        tse.register_client(CLIENT)
        tse.register_client("KASSE-02")
        started = tse.start_transaction(CLIENT, KB, b"")
        with pytest.raises(TseError) as unknown:
            tse.finish_transaction(CLIENT, started.transaction_number + 5, KB, RECEIPT)
        assert unknown.value.code == "UNKNOWN_TRANSACTION"
        with pytest.raises(TseError) as unregistered:
            tse.finish_transaction("KASSE-09", started.transaction_number, KB, RECEIPT)
        assert unregistered.value.code == "CLIENT_NOT_REGISTERED"
        with pytest.raises(TseError) as other:
            tse.finish_transaction("KASSE-02", started.transaction_number, KB, RECEIPT)
        assert other.value.code == "CLIENT_MISMATCH"
        # nothing of the refusals was signed: the finish takes the next counter
        done = tse.finish_transaction(CLIENT, started.transaction_number, KB, RECEIPT)
        assert done.signature_counter == started.signature_counter + 1
        with pytest.raises(TseError) as differs:
            tse.finish_transaction(CLIENT, started.transaction_number, KB, RECEIPT + b"x")
        assert differs.value.code == "UNKNOWN_TRANSACTION"
