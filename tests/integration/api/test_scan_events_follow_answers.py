"""A scanned line's events go out through the same queue as the API's answers: a UI's
change of the sale that committed first is published first, also while that queue is
held (behind a PostSale's answer, ``ANSWER_FIRST_S``). The scanner published at once,
so its line reached the UIs and the customer display before the UI's earlier line,
and the display ended on the total of the event that was overtaken."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from posd.client import PosdClient

from posd_daemon.api import runtime
from tests.conftest import Running
from tests.integration.api.test_devices_api import Stream, scan, seed, stream_factory, wait_for

__all__ = ["stream_factory"]  # the fixture, used by name

HOLD_S = 0.5


def test_a_scan_after_a_ui_change_is_published_after_it(
    running: Running,
    pos: PosdClient,
    stream_factory: Callable[..., Stream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(pos)
    sale = pos.create_sale()
    events = stream_factory()
    # the work after AddLine's answer held as after a PostSale's, only longer (the
    # daemon runs in this process)
    monkeypatch.setitem(runtime.ANSWER_FIRST_S, "AddLine", HOLD_S)
    pos.add_line(sale.sale_id, item_id="2002")  # committed first; its event now waits
    scan(running, b"4006381333931\r\n")  # the active sale: committed second
    wait_for(lambda: len(pos.get_sale(sale.sale_id).lines) == 2)
    wait_for(lambda: len([e for e in events.of("sale") if e.sale.sale_id == sale.sale_id]) >= 2)
    counts = [e.sale.line_count for e in events.of("sale") if e.sale.sale_id == sale.sale_id]
    assert counts == [1, 2], f"sale events out of commit order: {counts}"
    final = pos.get_sale(sale.sale_id)
    wait_for(
        lambda: (
            events.of("display_content")[-1].display_content.total.amount_minor
            == final.total.amount_minor
        )
    )
