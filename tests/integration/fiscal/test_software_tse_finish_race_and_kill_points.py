"""Software TSE: a finish repeated concurrently, and SIGKILL at every SQL statement of an
operation. Real SQLite state directories, real subprocesses killed with SIGKILL.

- A finish asked twice with the same data is idempotent (the daemon's crash
  reconciliation relies on it): a second finish racing the first (another thread, or a
  second instance on the same state directory) must get the stored result, not a
  refusal that makes the daemon treat a signed receipt as refused.
- A process killed at any statement of register/start/update/finish/cancel leaves the
  counters so that the next operation continues them: nothing reused, nothing skipped,
  every result handed out is in the export (TR-03151 signature counter, fiscal-de.md).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal.software_tse import SoftwareTse
from posd_daemon.fiscal.verify_export import verify_export
from posd_daemon.services.tse_port import TseError, TseLogResult

CLIENT = "KASSE-01"
KB = "Kassenbeleg-V1"
RECEIPT = b"Beleg^11.90_1.07_0.00_0.00_0.00^10.00:Bar_2.97:Unbar"


class GateClock:
    """A wall clock that, once armed, holds its next reading until released: the TSE
    reads its clock for the log time of an operation before it signs."""

    def __init__(self) -> None:
        self.armed = False
        self.reading = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> datetime:
        if self.armed:
            self.armed = False
            self.reading.set()
            assert self.release.wait(30)
        return datetime.now(UTC)


def test_a_finish_racing_an_identical_finish_gets_the_stored_result(tmp_path: Path) -> None:
    gate = GateClock()
    first = SoftwareTse(tmp_path, clock=gate)
    second = SoftwareTse(tmp_path)  # a second instance on the same state (TSE docstring)
    try:
        first.register_client(CLIENT)
        number = first.start_transaction(CLIENT, KB, b"").transaction_number
        outcome: list[TseLogResult | BaseException] = []

        def finish_first() -> None:
            try:
                outcome.append(first.finish_transaction(CLIENT, number, KB, RECEIPT))
            except BaseException as exc:
                outcome.append(exc)

        gate.armed = True
        worker = threading.Thread(target=finish_first)
        worker.start()
        assert gate.reading.wait(30)  # the first finish is under way, not yet signed
        won = second.finish_transaction(CLIENT, number, KB, RECEIPT)
        gate.release.set()
        worker.join(30)
        assert not worker.is_alive()
        (late,) = outcome
        assert not isinstance(late, BaseException), f"identical finish refused: {late!r}"
        assert late == won  # the stored result, the same signature counter
        assert first.info().signature_counter == won.signature_counter  # signed once
        # different data for the finished transaction is still refused
        with pytest.raises(TseError) as err:
            first.finish_transaction(CLIENT, number, KB, b"Beleg^other")
        assert err.value.code == "UNKNOWN_TRANSACTION"
        with pytest.raises(TseError) as err:
            first.update_transaction(CLIENT, number, KB, b"")
        assert err.value.code == "UNKNOWN_TRANSACTION"
    finally:
        gate.release.set()
        second.close()
        first.close()


def test_threads_finishing_the_same_transaction_all_get_one_result(tmp_path: Path) -> None:
    with SoftwareTse(tmp_path) as tse:
        tse.register_client(CLIENT)
        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible
        try:
            for _ in range(30):
                number = tse.start_transaction(CLIENT, KB, b"").transaction_number
                results: list[TseLogResult | BaseException] = []
                barrier = threading.Barrier(4)

                def finish(
                    n: int = number,
                    got: list[TseLogResult | BaseException] = results,
                    start: threading.Barrier = barrier,
                ) -> None:
                    start.wait()
                    try:
                        got.append(tse.finish_transaction(CLIENT, n, KB, RECEIPT))
                    except BaseException as exc:
                        got.append(exc)

                threads = [threading.Thread(target=finish) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                errors = [r for r in results if isinstance(r, BaseException)]
                assert errors == []
                assert (
                    len({r.signature_counter for r in results if not isinstance(r, BaseException)})
                    == 1
                )
        finally:
            sys.setswitchinterval(previous)
        report = verify_export(_export(tse))
        assert report.ok, report.summary()
        assert report.complete_transactions == 30


# ----------------------------------------------------------------------------- kill points

_VICTIM = """
import os, signal, sys
from pathlib import Path
from posd_daemon.fiscal.software_tse import SoftwareTse

state, operation, kill_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
tse = SoftwareTse(state)
client = "KASSE-01"
if operation != "register":
    tse.register_client(client)
open_numbers = list(tse.open_transactions(client)) if operation != "register" else []
if operation in ("update", "finish", "cancel") and not open_numbers:
    r = tse.start_transaction(client, "Kassenbeleg-V1", b"")
    print(r.signature_counter, r.transaction_number, flush=True)
    open_numbers = [r.transaction_number]
statements = 0

def trace(statement):
    global statements
    statements += 1
    if statements == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

# the hook only observes the TSE's own SQLite connection; nothing is replaced
tse._conn.set_trace_callback(trace)
if operation == "register":
    tse.register_client("KASSE-%02d" % kill_at)
    print(0, 0, flush=True)
elif operation == "start":
    r = tse.start_transaction(client, "Kassenbeleg-V1", b"")
    print(r.signature_counter, r.transaction_number, flush=True)
elif operation == "update":
    r = tse.update_transaction(client, open_numbers[0], "Kassenbeleg-V1", b"u")
    print(r.signature_counter, r.transaction_number, flush=True)
elif operation == "finish":
    r = tse.finish_transaction(client, open_numbers[0], "Kassenbeleg-V1", b"f")
    print(r.signature_counter, r.transaction_number, flush=True)
else:
    r = tse.cancel_transaction(client, open_numbers[0])
    print(r.signature_counter, r.transaction_number, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # after the operation returned: a crash too
"""


def _export(tse: SoftwareTse) -> io.BytesIO:
    buffer = io.BytesIO()
    tse.export(buffer)
    buffer.seek(0)
    return buffer


def _stored(tse: SoftwareTse) -> dict[int, lm.LogMessage]:
    with tarfile.open(fileobj=_export(tse)) as tar:
        out: dict[int, lm.LogMessage] = {}
        for member in tar.getmembers():
            if member.name.endswith(".log"):
                handle = tar.extractfile(member)
                assert handle is not None
                message = lm.parse_log_message(handle.read())
                out[message.signature_counter] = message
    return out


@pytest.mark.parametrize("operation", ["register", "start", "update", "finish", "cancel"])
def test_sigkill_at_every_statement_of_an_operation(tmp_path: Path, operation: str) -> None:
    with SoftwareTse(tmp_path):
        pass  # the state exists (initialize signed) before the first kill
    handed_out: list[tuple[int, int]] = []
    last_counter = 1
    # an operation runs fewer than 12 statements: the last values of kill_at let it
    # return and kill the process right after that
    for kill_at in range(1, 13):
        proc = subprocess.run(
            [sys.executable, "-c", _VICTIM, str(tmp_path), operation, str(kill_at)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        lines = [line.split() for line in proc.stdout.splitlines()]
        handed_out += [(int(c), int(n)) for c, n in lines if c != "0"]
        with SoftwareTse(tmp_path) as tse:
            stored = _stored(tse)
            info = tse.info()
            assert sorted(stored) == list(range(1, info.signature_counter + 1))  # no gap
            assert info.signature_counter >= last_counter
            last_counter = info.signature_counter
            for counter, number in handed_out:  # every result handed out is durable
                transaction = stored[counter].transaction
                assert transaction is not None
                assert transaction.transaction_number == number
            numbers = sorted(
                {m.transaction.transaction_number for m in stored.values() if m.transaction}
            )
            assert numbers == list(range(1, info.transaction_counter + 1))
            report = verify_export(_export(tse), allow_open_transactions=True)
            assert report.ok, report.summary()
            tse.self_test()
    counters = [c for c, _ in handed_out]
    assert len(counters) == len(set(counters)), "a signature counter was handed out twice"
    assert os.path.exists(tmp_path / "tse.sqlite3")
