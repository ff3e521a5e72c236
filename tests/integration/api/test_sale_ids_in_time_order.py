"""The daemon gives its sales (and the reversals it makes) time-ordered ids (UUID
version 7, services.ids): a later sale's id sorts after an earlier one's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd.v1 import common_pb2

from tests.conftest import start_in_thread
from tests.integration.api.test_sale_part2 import call, pay, post

CASH = common_pb2.PAYMENT_METHOD_CASH


class SteppingClock:
    """Three milliseconds later at every reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=3)
        return self.now


def test_sales_and_reversals_get_ids_in_creation_order(tmp_path: Path) -> None:
    running = start_in_thread(tmp_path / "state", clock=SteppingClock())
    try:
        with running.client() as pos:
            pos.upsert_item("brot", "Brot", 349)
            pos.ensure_shift()
            ids = []
            for _ in range(3):
                sid = pos.create_sale().sale_id
                pos.add_line(sid, item_id="brot")
                pay(pos, sid, CASH, 500)
                post(pos, sid)
                ids.append(sid)
            reversal = call(pos, "ReverseReceipt", sale_id=ids[0], reason="Fehlbon").reversal
            ids.append(reversal.sale_id)
        assert ids == sorted(ids) and len(set(ids)) == 4
        assert all(uuid.UUID(hex=i).version == 7 for i in ids)
    finally:
        running.stop()
