"""DATEV exports have a deadline of their own (600 s, as the DSFinV-K export), not the
client's ordinary 10 s: `posctl export datev|cashbook` over a year of a busy register
(the DSFinV-K export of such a year takes 11 s) would run into DEADLINE_EXCEEDED. The
gRPC stub is replaced by a recorder of what the client asks of it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from posd.client import PosdClient


class Recorder:
    def __init__(self) -> None:
        self.timeouts: dict[str, float] = {}

    def __getattr__(self, rpc: str) -> Any:
        def method(request: Any, *, timeout: float, metadata: Any) -> Any:
            self.timeouts[rpc] = timeout
            return SimpleNamespace(files=[], closing=None)

        return method


def test_datev_exports_keep_their_own_deadline_and_other_calls_the_clients() -> None:
    client = PosdClient("unix:/nonexistent/posd.sock", timeout=10.0)
    try:
        stub = Recorder()
        client.__dict__["_closing_stub"] = stub  # what the closing property hands out
        start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
        client.export_datev(start, end)
        client.export_cash_book(start, end)
        client.call(stub.GetClosing, object())
        assert stub.timeouts == {"ExportDatev": 600, "ExportCashBook": 600, "GetClosing": 10.0}
    finally:
        client.close()
