"""Which register's Z closing a print job prints, read through store/day.py (review
h100 moved the query out of the documents service)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from posd_daemon.services.device_ports import DeviceError
from posd_daemon.services.documents import DocumentRenderer, render_z_report
from posd_daemon.store import day as day_store
from posd_daemon.store.database import open_database
from posd_daemon.store.outbox import OutboxJob
from tests.unit.domain.test_closing_printout_z51 import NOW, SHOP, flat, printed, report


def _insert(conn: object, register_id: str, business_date: date) -> None:
    body = json.dumps(report(register_id=register_id).to_dict())
    day_store.insert_closing(
        conn,  # type: ignore[arg-type]
        day_store.Closing(
            7, register_id, NOW, business_date.isoformat(), "anna", 10, 20, body,
            hashlib.sha256(body.encode()).hexdigest(),
        ),
    )  # fmt: skip


def _text(conn: object, payload: dict[str, object]) -> str:
    job = OutboxJob(1, "print", "", 0, payload, "NEW", 0, "", NOW)
    renderer = DocumentRenderer(SHOP, 42, tse_certified=True)
    return flat(printed(render_z_report(renderer, conn, job)))  # type: ignore[arg-type]


def test_the_registers_z_prints_and_an_old_job_prints_the_first_registers(
    tmp_path: Path,
) -> None:
    conn = open_database(tmp_path / "posd.db")
    _insert(conn, "R2", date(2026, 11, 20))
    _insert(conn, "R1", date(2026, 11, 21))
    assert "Kasse R2" in _text(conn, {"z_nr": 7, "register_id": "R2"})
    assert "Geschäftstag 20.11.2026" in _text(conn, {"z_nr": 7, "register_id": "R2"})
    assert "Geschäftstag 21.11.2026" in _text(conn, {"z_nr": 7, "register_id": "R1"})
    # a job queued before the payload named its register: the first register's by id
    assert "Kasse R1" in _text(conn, {"z_nr": 7})
    with pytest.raises(DeviceError):
        _text(conn, {"z_nr": 7, "register_id": "R3"})
    with pytest.raises(DeviceError):
        _text(conn, {"z_nr": 8})
    conn.close()
