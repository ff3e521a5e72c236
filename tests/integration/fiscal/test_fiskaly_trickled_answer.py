"""A fiskaly answer trickled a byte at a time ends at the TSE timeout, not when the
server stops sending: every socket wait is short, so only a deadline for the whole
answer stops it (the sale waits for the TSE thread meanwhile). Over real sockets."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.services.tse_port import TseError

#: sent before the body: a complete header promising 200 bytes of JSON
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"


class TricklingServer:
    """Answers every request with HEAD and then one body byte every 0.1 s, for at most
    ``seconds`` per connection."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request (small: one recv holds it)
                conn.sendall(HEAD)
                until = time.monotonic() + self.seconds
                while time.monotonic() < until and not self.stopped.is_set():
                    conn.sendall(b" ")
                    time.sleep(0.1)
            except OSError:
                return  # the client gave up and closed: what the test wants

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def server() -> Iterator[TricklingServer]:
    s = TricklingServer(seconds=8.0)
    yield s
    s.stop()


def test_a_trickled_answer_is_a_timeout_within_the_tse_timeout(server: TricklingServer) -> None:
    tse = FiskalyTse(
        f"http://127.0.0.1:{server.port}/api/v2", "key", "secret", str(uuid.uuid4()), timeout_s=1.0
    )
    try:
        begin = time.monotonic()
        with pytest.raises(TseError) as failed:
            tse.register_client("KASSE-01")  # logs in first: that answer trickles
        elapsed = time.monotonic() - begin
    finally:
        tse.close()
    assert (failed.value.code, failed.value.transient) == ("TIMEOUT", True), failed.value
    # before: 8 s, as long as the server kept sending; the margin is for a loaded machine
    assert elapsed < 1.0 + 0.6, elapsed
    assert server.connections >= 1
