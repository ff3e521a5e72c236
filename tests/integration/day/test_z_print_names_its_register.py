"""The printed Z is this register's: a database that still holds closings under another
register id (the register was renamed; an imported database) had the Z of that register
with the same number printed, as the Z was read by its number alone. The printout calls
the receipts' sum what it is, not turnover ("UMSATZ BRUTTO" summed vouchers sold and
invoices paid, which are no turnover)."""

from __future__ import annotations

import json
import sqlite3

from posd.client import PosdClient

from tests.conftest import Running
from tests.integration.api.test_devices_api import printed, wait_for
from tests.support.cash import close_as_expected


def test_the_z_printed_is_this_registers(running: Running) -> None:
    with running.client() as pos:
        check(running, pos)


def check(running: Running, pos: PosdClient) -> None:
    pos.upsert_item("T-1", "Tee", 450)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="T-1")
    with sqlite3.connect(running.config.database_path) as conn:
        report = {"z_nr": 1, "register_id": "AAA-ALT", "currency": "EUR",
                  "created_at": "2024-01-02T18:00:00.000000Z"}  # fmt: skip
        conn.execute(
            "INSERT INTO closings (z_nr, register_id, created_at, business_date, operator_id,"
            " report, report_sha256) VALUES (1, 'AAA-ALT', ?, '2024-01-02', '1', ?, '')",
            (report["created_at"], json.dumps(report)),
        )
    pos.cancel_sale(sid, "Test")
    close_as_expected(pos)
    z = pos.z_closing()
    assert z.z_nr == 1
    wait_for(lambda: "Z-BON 1" in printed(running))
    text = printed(running)
    assert f"Kasse {running.config.register.id}" in text
    assert "Kasse AAA-ALT" not in text
    assert "UMSATZ BRUTTO" not in text
    assert "Belege brutto" in text
