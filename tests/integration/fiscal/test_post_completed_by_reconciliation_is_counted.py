"""A post the TSE signed but the crash kept from committing is completed by the start-up
reconciliation (the sale posted as signed); the till's PostSale retry gets that posted
sale. That post is a sale posted like any other: posd_sales_posted_total counts it, once
(at the reconciliation's commit; the retry that claims it commits no post)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from posd.client import PosdError
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import Running, start_in_thread
from tests.integration.api.test_full_sale_api import seed

CASH = common_pb2.PAYMENT_METHOD_CASH
METRICS = {"metrics": {"listen": "127.0.0.1:0"}}


def metric(running: Running, name: str) -> float:
    port = running.daemon.metrics.bound_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_post_completed_after_a_crash_is_counted_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    running = start_in_thread(state, METRICS)
    try:
        with running.client() as pos:
            pos.retries = 0
            seed(pos)
            sale_id = pos.create_sale().sale_id
            total = pos.add_line(sale_id, item_id="COFFEE").sale.total.amount_minor
            pos.add_payment(sale_id, CASH, total)
            # the TSE signs, the post's transaction fails: the crash state
            crashpoints.arm_from_env("post.in_transaction:1:raise")
            try:
                with pytest.raises(PosdError) as failed:
                    pos.post_sale(sale_id, request_id="post-crashed-1")
            finally:
                crashpoints.arm_from_env("")
            assert failed.value.reason == "POST_NOT_SAVED"
            assert metric(running, "posd_sales_posted_total") == 0
    finally:
        running.stop()

    running = start_in_thread(state, METRICS)  # reconciliation posts it as signed
    try:
        with running.client() as pos:
            assert pos.get_sale(sale_id).state == sale_pb2.SALE_STATE_POSTED
            assert metric(running, "posd_sales_posted_total") == 1
            # the till's retry gets the posted sale; no second post is counted
            posted = pos.post_sale(sale_id, request_id="post-crashed-2")
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert posted.tse.state == "SIGNED"
            again = pos.post_sale(sale_id, request_id="post-crashed-2")
            assert again.receipt_number == posted.receipt_number
            assert metric(running, "posd_sales_posted_total") == 1
    finally:
        running.stop()
