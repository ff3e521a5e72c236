"""A serial printer that answers ``DLE EOT`` too late, over a real pty pair.

Closing and reopening a serial port (unlike a TCP reconnect) does not end the byte
stream: replies the printer sends after the reopen still arrive. They belong to the
question that gave up, and must not be taken as the answer to the next one. And the
guard against them must cost nothing when the printer answers at once, must be bounded
for a printer that never answers, and must not throw away a genuine answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from posd_daemon.devices.escpos.codec import STATUS_REQUEST_ALL
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import PtyDevice
from posd_daemon.devices.transport import SerialTransport

# DLE EOT n replies (bits 0, 1, 4, 7 fixed to 0, 1, 1, 0; Epson ESC/POS reference,
# DLE EOT): all clear, and paper end (DLE EOT 2 bit 5, DLE EOT 4 bits 5+6).
READY = bytes([0x12, 0x12, 0x12, 0x12])
PAPER_END = bytes([0x12, 0x12 | 0x20, 0x12, 0x12 | 0x60])

TIMEOUT = 0.3


class _Answers:
    """A pty handler: ``answer(n)`` gives the delay and the reply to the n-th question
    (1-based; a reply of None is silence)."""

    def __init__(self, answer: Callable[[int], tuple[float, bytes | None]]) -> None:
        self.answer = answer
        self.questions = 0
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> bytes | None:
        out = b""
        for _ in range(data.count(STATUS_REQUEST_ALL)):
            with self._lock:
                self.questions += 1
                n = self.questions
            delay, reply = self.answer(n)
            if delay:
                time.sleep(delay)  # the pump thread: later questions wait behind it
            out += reply or b""
        return out or None


def _printer(pty: PtyDevice) -> EscPosPrinter:
    return EscPosPrinter(
        SerialTransport(pty.path), get_profile("generic-80mm"), status_timeout=TIMEOUT
    )


def test_a_late_serial_reply_is_not_the_answer_to_the_next_question() -> None:
    # the first question is answered 0.6 s late with paper end; the roll has been
    # changed by the time of the next question, answered at once with "ready"
    answers = _Answers(lambda n: (0.6, PAPER_END) if n == 1 else (0.0, READY))
    with PtyDevice(answers) as pty, _printer(pty) as printer:
        first = printer.read_status()
        assert not first.reachable
        assert "got 0 of 4" in first.detail
        second = printer.read_status()
        assert second.ready, second.summary()
        assert not second.paper_end
        assert answers.questions == 2


def test_a_late_half_answer_is_discarded_and_the_next_answer_read() -> None:
    # two of the four replies to the first question come in time, the other two (paper
    # end) 0.45 s later, while the next question waits for its answer (which takes 0.2 s)
    with PtyDevice() as pty, _printer(pty) as printer:
        early = threading.Timer(0.05, pty.write, (PAPER_END[:2],))
        late = threading.Timer(0.45, pty.write, (PAPER_END[2:],))
        early.start()
        late.start()
        answered: list[threading.Timer] = []
        try:
            first = printer.read_status()
            assert not first.reachable
            assert "got 2 of 4" in first.detail
            # the next answer also comes from a timer: a handler that sleeps would hold
            # the pty's write lock and keep the late replies back until it returned

            def answer(data: bytes) -> None:
                for _ in range(data.count(STATUS_REQUEST_ALL)):
                    answered.append(threading.Timer(0.2, pty.write, (READY,)))
                    answered[-1].start()

            pty.handler = answer
            second = printer.read_status()
            assert second.ready, second.summary()
            assert len(answered) == 1
        finally:
            for timer in (early, late, *answered):
                timer.join()


def test_a_printer_answering_at_once_is_not_slowed_down() -> None:
    answers = _Answers(lambda n: (0.0, READY))
    with PtyDevice(answers) as pty, _printer(pty) as printer:
        started = time.monotonic()
        for _ in range(5):
            assert printer.read_status().ready
        # each answer comes in milliseconds; nothing waits for a quiet line
        assert time.monotonic() - started < TIMEOUT


def test_a_printer_switched_on_after_a_silent_question_is_read_within_a_bound() -> None:
    # off for the first question (never answered), then on: the wait for the late
    # replies of the first question is bounded, and the genuine answer to the second
    # is read, not discarded as the first one's
    answers = _Answers(lambda n: (0.0, None) if n == 1 else (0.0, READY))
    with PtyDevice(answers) as pty, _printer(pty) as printer:
        first = printer.read_status()
        assert not first.reachable
        started = time.monotonic()
        second = printer.read_status()
        waited = time.monotonic() - started
        assert second.ready, second.summary()
        assert waited < 3 * TIMEOUT + 0.3, waited
        # and the wait is not repeated once the printer answers again
        started = time.monotonic()
        assert printer.read_status().ready
        assert time.monotonic() - started < TIMEOUT


def test_a_printer_that_stays_silent_is_unreachable_within_a_bound() -> None:
    answers = _Answers(lambda n: (0.0, None))
    with PtyDevice(answers) as pty, _printer(pty) as printer:
        started = time.monotonic()
        for _ in range(3):
            assert not printer.read_status().reachable
        # each question: at most the grace for the previous one's replies plus its own
        # timeout
        assert time.monotonic() - started < 3 * 3 * TIMEOUT + 0.5
        assert answers.questions == 3
