"""PurgeSales keeps a sale the TSE signed whose post did not commit (SaleCommands.
signed_unposted): it says so (SIGNED_NOT_POSTED, the state SALE_SIGNED_NOT_POSTED names),
not BEING_POSTED, which sent the technician looking for a post in progress. In-process
daemon on a real socket and real SQLite files; the post fails after signing through the
post.in_transaction crashpoint, as a failing disk makes it fail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from posd.client import PosdError
from posd.v1 import sale_pb2

from tests.integration.api.test_sale_part2 import call
from tests.support.fullsale import import_items, item, post_not_saved, register


def test_a_signed_unposted_sale_is_kept_as_signed_not_posted(tmp_path: Path) -> None:
    with register(tmp_path / "s") as (running, clock), running.client() as pos:
        # a sale of nothing to pay: no payment, so the purge does not keep it for its
        # payments (HAS_PAYMENTS) before it asks whether the sale may be cancelled
        import_items(pos, item("FREE", "Probe", 0))
        pos.retries = 0  # the client's retry of POST_NOT_SAVED would post it at once
        sale_id = pos.create_sale().sale_id
        pos.add_line(sale_id, item_id="FREE")
        post_not_saved(lambda: pos.post_sale(sale_id))
        with pytest.raises(PosdError) as locked:
            pos.cancel_sale(sale_id, "left")
        assert locked.value.reason == "SALE_SIGNED_NOT_POSTED"
        clock.advance(timedelta(hours=3))

        for dry_run in (True, False):
            resp = call(pos, "PurgeSales", older_than={"seconds": 7200}, validate_only=dry_run)
            assert [(p.sale_id, p.action, p.reason) for p in resp.sales] == [
                (sale_id, sale_pb2.PURGE_ACTION_KEPT, "SIGNED_NOT_POSTED")
            ], dry_run
        assert pos.get_sale(sale_id).state == sale_pb2.SALE_STATE_OPEN
        # the lock's way out still works: posted again with the TSE's signature
        assert pos.post_sale(sale_id).state == sale_pb2.SALE_STATE_POSTED
