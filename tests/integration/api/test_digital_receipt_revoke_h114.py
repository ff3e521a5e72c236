"""RevokeDigitalReceipt through the real daemon: the link stops working (410 Gone from
the real HTTP receipt server, FAILED_PRECONDITION from GetDigitalReceipt), one journal
record without the token, idempotent, and ``posctl receipts revoke`` as a subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api.test_digital_receipts import (
    digital,  # noqa: F401 - the fixture
    get,
    port_of,
    printed,
    printed_url,
    sell,
    wait_for,
)
from tests.support.posctl_run import posctl_args


def revoke(
    pos: PosdClient, sale_id: str, reason: str = "Link versehentlich geteilt", rid: str = ""
) -> sale_pb2.DigitalReceipt:
    return pos.revoke_digital_receipt(sale_id, reason, request_id=rid or uuid.uuid4().hex)


def journal_records(running: Running) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT kind, ref, payload FROM journal WHERE kind = 'DIGITAL_RECEIPT_REVOKED'"
        ).fetchall()
    finally:
        db.close()
    return [(str(k), str(r), str(p)) for k, r, p in rows]


def test_a_revoked_link_answers_410_and_get_digital_receipt_refuses_it(
    digital: Running,  # noqa: F811 - the fixture
) -> None:
    with digital.client() as pos:
        posted = sell(pos)
        url = pos.get_digital_receipt(posted.sale_id).url
        port = port_of(digital)
        path = urlsplit(url).path
        assert get(port, path)[0] == 200
        token = path.rsplit("/", 1)[1]

        answer = revoke(pos, posted.sale_id)
        assert answer.sale_id == posted.sale_id
        assert answer.receipt_number == posted.receipt_number
        assert answer.HasField("revoke_time")
        assert answer.revoke_reason == "Link versehentlich geteilt"

        status, headers, body = get(port, path)
        assert status == 410
        text = body.decode("utf-8")
        assert "Dieser Beleg-Link wurde widerrufen" in text
        assert "This receipt link was revoked" in text
        assert f"Beleg-Nr. {posted.receipt_number}" not in text
        assert "SUMME" not in text
        assert headers["cache-control"] == "no-store"
        status, _, body = get(port, path, accept="application/json")
        assert status == 410 and posted.sale_id not in body.decode("utf-8")

        with pytest.raises(PosdError) as err:
            pos.get_digital_receipt(posted.sale_id)
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.reason == "DIGITAL_RECEIPT_REVOKED"

        # a supervisor's audit trail shows it (ListAuditEvents)
        audit = pos.call(
            pos.sales.ListAuditEvents,
            sale_pb2.ListAuditEventsRequest(kinds=["DIGITAL_RECEIPT_REVOKED"]),
        ).events
        assert [(e.kind, e.sale_id, e.operator_id) for e in audit] == [
            ("DIGITAL_RECEIPT_REVOKED", posted.sale_id, "1")
        ]

        # revoked again (another request): the revoked state, no second journal record
        again = revoke(pos, posted.sale_id, reason="nochmal")
        assert again.revoke_time == answer.revoke_time
        assert again.revoke_reason == "Link versehentlich geteilt"

    records = journal_records(digital)
    assert len(records) == 1
    _, ref, payload = records[0]
    assert ref == f"receipt:{posted.receipt_number}"
    assert posted.sale_id in payload and '"operator_id":"1"' in payload
    assert "Link versehentlich geteilt" in payload
    assert token not in payload
    revoked = digital.daemon.metrics.digital_receipt_requests.labels("revoked")
    assert revoked._value.get() == 2


def test_revoke_is_idempotent_by_request_id_and_refuses_what_it_must(
    digital: Running,  # noqa: F811 - the fixture
) -> None:
    with digital.client() as pos:
        posted = sell(pos)
        rid = uuid.uuid4().hex
        first = revoke(pos, posted.sale_id, rid=rid)
        assert revoke(pos, posted.sale_id, rid=rid) == first
        with pytest.raises(PosdError) as err:
            revoke(pos, "0" * 32)
        assert err.value.reason == "SALE_NOT_FOUND"
        with pytest.raises(PosdError) as err:
            revoke(pos, posted.sale_id, reason="  ")
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(PosdError) as err:
            revoke(pos, posted.sale_id, reason="x" * 201)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        # an open sale has no link
        open_sale = pos.create_sale()
        with pytest.raises(PosdError) as err:
            revoke(pos, open_sale.sale_id)
        assert err.value.reason == "DIGITAL_RECEIPT_NOT_FOUND"
        other = sell(pos)
    # the cashier may not revoke (STORNO, as a reversal)
    with digital.client("2", "0000") as cashier:
        with pytest.raises(PosdError) as err:
            revoke(cashier, other.sale_id)
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert len(journal_records(digital)) == 1


def test_a_reprint_of_a_revoked_receipt_carries_no_link(
    digital: Running,  # noqa: F811 - the fixture
) -> None:
    with digital.client() as pos:
        posted = sell(pos)
        url = printed_url(digital, posted.receipt_number)
        revoke(pos, posted.sale_id)
        pos.reprint_receipt(posted.sale_id)
        wait_for(lambda: "KOPIE" in printed(digital).upper())
        # the copy is printed after the original: its part of the paper
        wait_for(lambda: printed(digital).count(f"Beleg-Nr. {posted.receipt_number}") >= 2)
    paper = printed(digital)
    copy = paper[paper.rindex(f"Beleg-Nr. {posted.receipt_number}") :]
    assert url in paper  # the original carried it
    assert url not in copy and "Digitaler Beleg" not in copy


def test_posctl_receipts_revoke(digital: Running) -> None:  # noqa: F811 - the fixture
    with digital.client() as pos:
        posted = sell(pos)
        url = pos.get_digital_receipt(posted.sale_id).url

    def posctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "posd_daemon.cli.posctl", *posctl_args(digital, *args)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    number = str(posted.receipt_number)  # as printed, like receipts show and url
    done = posctl("receipts", "revoke", number, "--reason", "falsch geteilt")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert f"receipt {posted.receipt_number}" in lines[0] and "revoked" in lines[0]
    assert get(port_of(digital), urlsplit(url).path)[0] == 410
    done = posctl("receipts", "revoke", "999", "--reason", "x")
    assert done.returncode == 1
    assert "NOT_FOUND" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = posctl("receipts", "revoke", posted.sale_id, "--reason", "x")
    assert done.returncode == 2  # argparse: a receipt number, not a sale id
    done = posctl("receipts", "revoke", number)
    assert done.returncode == 2  # argparse: --reason is required
