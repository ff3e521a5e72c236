"""A new sale replaces the operator's empty sales: housekeeping finishes their TSE
transactions as AVBelegabbruch and cancels them. When the CreateSale's caller goes away
meanwhile (its deadline passed while the TSE cancelled), the removal still runs to its
commit: cut off, the TSE's transaction would be finished while the sale stayed open."""

from __future__ import annotations

import time

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api.test_devices_api import wait_for
from tests.integration.api.test_post_ahead import seed
from tests.integration.api.test_posted_event_caller_gone import impatient, slow_tse


def test_an_abandoned_sale_whose_replacing_caller_went_away_is_cancelled_all_the_same(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(pos)
    emptied = pos.create_sale().sale_id
    line = pos.add_line(emptied, item_id="A").line_id  # its TSE transaction starts
    pos.remove_line(emptied, line)
    slow_tse(running, monkeypatch, "cancel_transaction")
    with pytest.raises(PosdError) as gone:
        impatient(running, pos).create_sale(request_id="replace-gone-1")
    assert gone.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    # the TSE finished the transaction as AVBelegabbruch: the sale is cancelled too
    wait_for(lambda: pos.get_sale(emptied).state == sale_pb2.SALE_STATE_CANCELLED)
    # and it is no longer locked as being cancelled
    time.sleep(0.3)
    assert pos.get_sale(emptied).state == sale_pb2.SALE_STATE_CANCELLED
