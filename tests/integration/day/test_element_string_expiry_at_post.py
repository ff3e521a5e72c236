"""A pack's GS1 expiry date (AI 17) is checked again at the post, as a lot's: a sale open
across midnight (or parked overnight) must not post a pack that expired meanwhile unless
an operator with SELL_EXPIRED_LOT posts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from posd.client import PosdError
from posd.v1 import sale_pb2

from tests.integration.day.test_business_day import FixedClock
from tests.integration.day.test_time_rules import BERLIN, CASH, journal
from tests.support.fullsale import import_items, item

SOAP_GTIN = "04006381333948"


def test_a_pack_that_expired_since_it_was_scanned_is_checked_again_at_the_post(
    tmp_path: Path,
) -> None:
    from tests.conftest import start_in_thread

    evening = datetime(2026, 3, 10, 22, 50, tzinfo=UTC)  # 23:50 in Berlin
    clock = FixedClock(evening)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as manager, running.client("2", "0000") as cashier:
            import_items(manager, item("SOAP", "Seife", 250, barcodes=[SOAP_GTIN[1:]]))
            sale_id = cashier.create_sale().sale_id
            # expires today (the expiry day itself is still good); no lot on the pack
            line_id = cashier.scan(sale_id, f"01{SOAP_GTIN}17260310").sale.lines[-1].line_id
            cashier.add_payment(sale_id, CASH, 250)

            clock.now = evening + timedelta(minutes=20)  # 00:10 on 11 March
            with pytest.raises(PosdError) as err:
                cashier.post_sale(sale_id)
            assert err.value.reason == "LOT_EXPIRED"
            assert err.value.metadata["line_id"] == line_id
            assert err.value.metadata["expiry_date"] == "2026-03-10"
            refused = cashier.get_sale(sale_id)
            assert refused.state == sale_pb2.SALE_STATE_OPEN
            assert not refused.warnings
            assert not journal(running, "EXPIRED_LOT_SOLD")

            posted = manager.post_sale(sale_id)
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert [w for w in posted.warnings if w.startswith("LOT_EXPIRED")] == [
                "LOT_EXPIRED: Seife lot  of item SOAP expired on 2026-03-10"
            ]
            (sold,) = journal(running, "EXPIRED_LOT_SOLD")
            assert (sold["operator_id"], sold["at"], sold["business_day"]) == (
                "1",
                "post",
                "2026-03-11",
            )

            # a pack already sold past its expiry when scanned is not asked again
            other = manager.create_sale().sale_id
            manager.scan(other, f"01{SOAP_GTIN}17260301")
            manager.add_payment(other, CASH, 250)
            again = manager.post_sale(other)
            assert [w for w in again.warnings if w.startswith("LOT_EXPIRED")] == [
                "LOT_EXPIRED: Seife lot  of item SOAP expired on 2026-03-01"
            ]
            assert len(journal(running, "EXPIRED_LOT_SOLD")) == 2
    finally:
        running.stop()
