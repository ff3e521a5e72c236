"""While housekeeping cancels an abandoned sale (a new sale replaces the operator's
empty ones; its TSE transaction is finished as AVBelegabbruch), a change of that sale
is refused as what happens to it: it is being cancelled, not "being posted"."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api.test_devices_api import wait_for
from tests.integration.api.test_post_ahead import seed


def test_a_change_during_the_cancel_of_an_abandoned_sale_is_refused_as_being_cancelled(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(pos)
    emptied = pos.create_sale().sale_id
    line = pos.add_line(emptied, item_id="A").line_id  # its TSE transaction starts
    pos.remove_line(emptied, line)
    gateway = running.daemon.gateway
    assert gateway.tse is not None
    cancel = gateway.tse.cancel_transaction
    cancelling = threading.Event()

    def slow_cancel(*args: Any, **kwargs: Any) -> Any:
        cancelling.set()
        time.sleep(1.0)  # a slow TSE: the cashier touches the sale meanwhile
        return cancel(*args, **kwargs)

    monkeypatch.setattr(gateway.tse, "cancel_transaction", slow_cancel)
    # a new sale replaces the empty one (housekeeping cancels it, slowly)
    replacing = threading.Thread(target=pos.create_sale)
    replacing.start()
    try:
        assert cancelling.wait(5)
        with pytest.raises(PosdError) as refused:
            pos.add_line(emptied, item_id="B")
    finally:
        replacing.join(10)
    wait_for(lambda: pos.get_sale(emptied).state == sale_pb2.SALE_STATE_CANCELLED)
    cancelled = pos.get_sale(emptied)
    assert not cancelled.lines or all(ln.item_id != "B" for ln in cancelled.lines)
    assert refused.value.reason == "SALE_BEING_CANCELLED"
    assert "being cancelled" in refused.value.message
    assert "posted" not in refused.value.message
