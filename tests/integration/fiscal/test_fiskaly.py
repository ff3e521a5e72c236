"""FiskalyTse against the fake fiskaly SIGN DE v2 server, over real sockets."""

from __future__ import annotations

import http.client
import io
import json
import socket
import tarfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from posd_daemon.fiscal import fiskaly, log_message, qr
from posd_daemon.fiscal import process_data as pd
from posd_daemon.fiscal.fiskaly import (
    CANCEL_PROCESS_DATA,
    FiskalyTse,
    ProcessDataError,
    client_uuid_for,
    process_data_to_schema,
)
from posd_daemon.fiscal.verify_export import verify_export
from posd_daemon.services.tse_port import Tse, TseError, TseLogResult, TseOperation, TseState
from tests.support.fake_fiskaly import FakeFiskaly, render_process

CLIENT = "KASSE-01"
RECEIPT = b"Beleg^75.33_7.99_0.00_0.00_0.00^10.00:Bar_5.00:Bar:CHF_64.30:Unbar"
KB = "Kassenbeleg-V1"

MakeTse = Callable[..., FiskalyTse]


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def make_tse(fake: FakeFiskaly, tmp_path: Path) -> Iterator[MakeTse]:
    created: list[FiskalyTse] = []

    def make(**kwargs: Any) -> FiskalyTse:
        kwargs.setdefault("state_dir", tmp_path / "state")
        kwargs.setdefault("timeout_s", 2.0)
        kwargs.setdefault("clock", fake.now)
        kwargs.setdefault("export_poll_s", 0.01)
        base_url = kwargs.pop("base_url", fake.base_url)
        tse = FiskalyTse(base_url, fake.api_key, fake.api_secret, fake.tss_id, **kwargs)
        created.append(tse)
        return tse

    yield make
    for tse in created:
        tse.close()


@pytest.fixture
def tse(make_tse: MakeTse) -> FiskalyTse:
    backend = make_tse()
    backend.register_client(CLIENT)
    return backend


def _verify(fake: FakeFiskaly, tse: FiskalyTse, result: TseLogResult) -> None:
    """The signature really covers the TR-03151 log message the result describes."""
    info = tse.info()
    signed = log_message.encode_signed_part(
        certified_data_type=log_message.OID_TRANSACTION_LOG,
        certified_data=log_message.TransactionData(
            operation_type=result.operation.value,
            client_id=result.client_id,
            process_data=result.process_data,
            process_type=result.process_type,
            transaction_number=result.transaction_number,
        ).encode(),
        serial_number=info.serial_number,
        signature_algorithm=info.signature_algorithm,
        signature_counter=result.signature_counter,
        log_time=int(result.log_time.timestamp()),
    )
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), info.public_key)
    assert log_message.verify_plain(key, info.signature_algorithm, signed, result.signature)


def _raw(
    fake: FakeFiskaly, method: str, path: str, body: Any = None, *, token: str | None = None
) -> tuple[int, Any]:
    """A plain HTTP call to the fake (for checking its contract)."""
    conn = http.client.HTTPConnection(*fake.base_url.removeprefix("http://").split(":"))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None if body is None else json.dumps(body)
    conn.request(method, "/api/v2" + path, body=payload, headers=headers)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data


def _token(fake: FakeFiskaly) -> str:
    status, data = _raw(
        fake, "POST", "/auth", {"api_key": fake.api_key, "api_secret": fake.api_secret}
    )
    assert status == 200
    return str(data["access_token"])


# --------------------------------------------------------------------------- auth


def test_is_a_tse_port(tse: FiskalyTse) -> None:
    assert isinstance(tse, Tse)


def test_logs_in_once_and_refreshes_before_expiry(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    tse.info()
    assert (fake.logins, fake.refreshes) == (1, 0)
    fake.advance(fake.access_ttl_s - 30)  # inside the renewal margin, not yet expired
    tse.info()
    assert (fake.logins, fake.refreshes) == (1, 1)
    assert all(r.status != 401 for r in fake.requests)


def test_refreshes_on_401_and_repeats_the_call(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    tse.info()
    fake.revoke_access_tokens()
    assert tse.info().manufacturer == "fiskaly"
    assert [r.status for r in fake.requests if r.status == 401] == [401]
    assert (fake.logins, fake.refreshes) == (1, 1)


def test_logs_in_again_when_the_refresh_token_is_refused(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    tse.info()
    fake.revoke_all_tokens()
    tse.info()
    assert (fake.logins, fake.refreshes) == (2, 0)


def test_logs_in_again_after_both_tokens_expired(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    tse.info()
    fake.advance(fake.refresh_ttl_s + 1)
    tse.info()
    assert (fake.logins, fake.refreshes) == (2, 0)
    assert all(r.status != 401 for r in fake.requests)


def test_bad_credentials_are_permanent(fake: FakeFiskaly, tmp_path: Path) -> None:
    bad = FiskalyTse(fake.base_url, "nope", "nope", fake.tss_id, state_dir=tmp_path)
    with pytest.raises(TseError) as err:
        bad.info()
    assert (err.value.code, err.value.transient) == ("AUTH_FAILED", False)
    bad.close()


# --------------------------------------------------------------------------- transactions


def test_full_lifecycle_start_update_finish(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    started = tse.start_transaction(CLIENT, KB, b"")
    assert started.operation is TseOperation.START
    assert started.transaction_number == 1
    assert started.start_time == started.log_time
    updated = tse.update_transaction(CLIENT, 1, KB, b"Beleg^5.00_0.00_0.00_0.00_0.00^5.00:Bar")
    assert updated.operation is TseOperation.UPDATE
    assert tse.open_transactions(CLIENT) == [1]
    finished = tse.finish_transaction(CLIENT, 1, KB, RECEIPT)
    assert finished.operation is TseOperation.FINISH
    assert finished.process_data == RECEIPT
    assert finished.process_type == KB
    assert finished.start_time == started.start_time
    counters = [r.signature_counter for r in (started, updated, finished)]
    assert counters == sorted(counters)
    assert len(set(counters)) == 3
    assert [r.query["tx_revision"] for r in fake.tx_requests()] == [["1"], ["2"], ["3"]]
    assert fake.transaction_by_number(1).state == "FINISHED"
    assert tse.open_transactions(CLIENT) == []
    qr_code = fake.transaction_by_number(1).revisions[-1][1]["qr_code_data"]
    assert qr.verify_qr(qr_code).valid  # the fake's QR code is a valid DSFinV-K one
    for result in (started, updated, finished):
        assert result.client_id == CLIENT
        _verify(fake, tse, result)


def test_cancel_ends_the_transaction_as_cancelled(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    result = tse.cancel_transaction(CLIENT, number)
    assert result.operation is TseOperation.FINISH
    assert (result.process_type, result.process_data) == (KB, CANCEL_PROCESS_DATA)
    assert fake.tx_requests()[-1].body == {
        "state": "CANCELLED",
        "client_id": client_uuid_for(fake.tss_id, CLIENT),
        "schema": {
            "standard_v1": {
                "receipt": {
                    "receipt_type": "CANCELLATION",
                    "amounts_per_vat_rate": [],
                    "amounts_per_payment_type": [],
                }
            }
        },
    }
    assert fake.transaction_by_number(number).state == "CANCELLED"
    _verify(fake, tse, result)


def test_transaction_numbers_and_revisions_per_transaction(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    a = tse.start_transaction(CLIENT, KB, b"").transaction_number
    b = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.update_transaction(CLIENT, a, KB, b"Beleg^1.00_0.00_0.00_0.00_0.00^")
    tse.update_transaction(CLIENT, a, KB, b"Beleg^2.00_0.00_0.00_0.00_0.00^")
    tse.finish_transaction(CLIENT, b, KB, b"Beleg^0.00_0.00_0.00_0.00_0.00^")
    tse.finish_transaction(CLIENT, a, KB, b"Beleg^2.00_0.00_0.00_0.00_0.00^2.00:Bar")
    assert (a, b) == (1, 2)
    assert [len(fake.transaction_by_number(n).revisions) for n in (a, b)] == [4, 2]
    by_tx: dict[str, list[str]] = {}
    for request in fake.tx_requests():
        by_tx.setdefault(request.path, []).extend(request.query["tx_revision"])
    assert sorted(by_tx.values()) == [["1", "2"], ["1", "2", "3", "4"]]


def test_finished_transaction_cannot_change(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    other = b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar"
    changes: list[Callable[[], TseLogResult]] = [
        lambda: tse.update_transaction(CLIENT, number, KB, RECEIPT),
        lambda: tse.finish_transaction(CLIENT, number, KB, other),
        lambda: tse.cancel_transaction(CLIENT, number),
    ]
    for change in changes:
        with pytest.raises(TseError) as err:
            change()
        assert (err.value.code, err.value.transient) == ("UNKNOWN_TRANSACTION", False)
    assert len(fake.transaction_by_number(number).revisions) == 2


def test_finishing_again_with_the_same_data_returns_the_stored_result(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    first = make_tse()
    first.register_client(CLIENT)
    number = first.start_transaction(CLIENT, KB, b"").transaction_number
    finished = first.finish_transaction(CLIENT, number, KB, RECEIPT)
    counter = fake.signature_counter
    assert first.finish_transaction(CLIENT, number, KB, RECEIPT) == finished
    assert fake.tx_requests("GET")  # read back from fiskaly, not signed again
    first.close()
    second = make_tse()  # a restart: the state file remembers the closed transaction
    assert second.open_transactions(CLIENT) == []
    assert second.finish_transaction(CLIENT, number, KB, RECEIPT) == finished
    assert fake.signature_counter == counter
    assert len(fake.transaction_by_number(number).revisions) == 2
    with pytest.raises(TseError) as err:
        second.finish_transaction("KASSE-02", number, KB, RECEIPT)
    assert err.value.code == "CLIENT_MISMATCH"


def test_cancelling_again_returns_the_stored_result(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    cancelled = tse.cancel_transaction(CLIENT, number)
    assert tse.cancel_transaction(CLIENT, number) == cancelled
    with pytest.raises(TseError) as err:  # a finish is not what closed it
        tse.finish_transaction(CLIENT, number, KB, CANCEL_PROCESS_DATA)
    assert err.value.code == "UNKNOWN_TRANSACTION"
    assert fake.transaction_by_number(number).state == "CANCELLED"


def test_closed_transaction_gone_on_fiskaly_is_unknown(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    fake.transactions.clear()  # fiskaly no longer knows it (404)
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("UNKNOWN_TRANSACTION", False)


def test_closed_transactions_kept_are_bounded(
    fake: FakeFiskaly, make_tse: MakeTse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fiskaly, "_CLOSED_KEPT", 2)
    tse = make_tse()
    tse.register_client(CLIENT)
    numbers = [tse.start_transaction(CLIENT, KB, b"").transaction_number for _ in range(3)]
    for number in numbers:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    tse.close()
    again = make_tse()
    with pytest.raises(TseError) as err:  # the oldest is forgotten
        again.finish_transaction(CLIENT, numbers[0], KB, RECEIPT)
    assert err.value.code == "UNKNOWN_TRANSACTION"
    for number in numbers[1:]:
        assert again.finish_transaction(CLIENT, number, KB, RECEIPT).transaction_number == number


def test_wrong_client_or_number_is_refused_locally(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    sent = len(fake.requests)
    with pytest.raises(TseError) as err:
        tse.finish_transaction("KASSE-02", number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("CLIENT_MISMATCH", False)
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, 999, KB, RECEIPT)
    assert err.value.code == "UNKNOWN_TRANSACTION"
    assert len(fake.requests) == sent


# --------------------------------------------------------------------------- faults


def test_lost_answer_is_retried_with_the_same_revision(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    counter = fake.signature_counter
    fake.drop_next(1, match="/tx/", after=True)  # fiskaly signs, the answer is lost
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    puts = fake.tx_requests()[1:]
    assert [p.query["tx_revision"] for p in puts] == [["2"], ["2"]]
    assert puts[0].body == puts[1].body
    assert len(fake.transaction_by_number(number).revisions) == 2
    assert fake.signature_counter == counter + 1 == result.signature_counter
    _verify(fake, tse, result)


def test_request_lost_before_fiskaly_is_retried(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.drop_next(1, match="/tx/")
    tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert len(fake.transaction_by_number(number).revisions) == 2


def test_server_error_is_transient_and_the_next_call_recovers(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    # a 5xx lasting the whole call (one 5xx is repeated within it: see
    # test_fiskaly_h61_busy_cloud.py)
    tse = make_tse(timeout_s=0.3)
    tse.register_client(CLIENT)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(10**6, status=503, match="/tx/")
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("HTTP_503", True)
    fake.clear_faults()
    assert tse.open_transactions(CLIENT) == [number]
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    # revision 1 started it; every request after it asked for revision 2 (none took 3)
    assert {r.query["tx_revision"][0] for r in fake.tx_requests()} == {"1", "2"}


def test_timeout_is_transient_and_a_repeat_reuses_the_signature(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(timeout_s=0.2)
    tse.register_client(CLIENT)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.delay_next(2, seconds=0.6, match="/tx/")  # signs, answers too late (twice)
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("TIMEOUT", True)
    fake.wait_idle()
    tx = fake.transaction_by_number(number)
    assert (len(tx.revisions), tx.state) == (2, "FINISHED")
    # The caller tries the same finish again: fiskaly already signed it, no third revision.
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert len(tx.revisions) == 2
    assert result.signature_counter == tx.revisions[1][1]["signature"]["counter"]
    assert tse.open_transactions(CLIENT) == []
    _verify(fake, tse, result)
    # Settled as closed by that finish: one more repeat still gets the stored result.
    assert tse.finish_transaction(CLIENT, number, KB, RECEIPT) == result
    assert len(tx.revisions) == 2


def test_timeout_then_a_different_call_takes_the_next_revision(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(timeout_s=0.2)
    tse.register_client(CLIENT)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.delay_next(2, seconds=0.6, match="/tx/")
    with pytest.raises(TseError):
        tse.update_transaction(CLIENT, number, KB, b"Beleg^1.00_0.00_0.00_0.00_0.00^")
    fake.wait_idle()
    tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    states = [body["state"] for body, _ in fake.transaction_by_number(number).revisions]
    assert states == ["ACTIVE", "ACTIVE", "FINISHED"]


def test_connection_loss_is_transient(fake: FakeFiskaly, make_tse: MakeTse) -> None:
    tse = make_tse(timeout_s=0.3)
    tse.register_client(CLIENT)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.drop_next(10**6, match="/tx/")  # for the whole call
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("UNREACHABLE", True)


def test_unreachable_server_is_transient(make_tse: MakeTse) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tse = make_tse(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TseError) as err:
        tse.self_test()
    assert (err.value.code, err.value.transient) == ("UNREACHABLE", True)


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_permanent(fake: FakeFiskaly, tse: FiskalyTse, status: int) -> None:
    fake.fail_next(1, status=status, match="/tx/")
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, KB, b"")
    assert (err.value.code, err.value.transient) == (f"HTTP_{status}", False)
    assert tse.open_transactions(CLIENT) == []


def test_disabled_tss_refuses_transactions(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    fake.tss_state = "DISABLED"
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, KB, b"")
    assert (err.value.code, err.value.transient) == ("HTTP_400", False)
    with pytest.raises(TseError) as err:
        tse.self_test()
    assert (err.value.code, err.value.transient) == ("DISABLED", False)


def test_too_many_active_transactions(make_tse: MakeTse, tmp_path: Path) -> None:
    with FakeFiskaly(max_active=2) as small:
        tse = FiskalyTse(
            small.base_url, small.api_key, small.api_secret, small.tss_id, state_dir=tmp_path
        )
        tse.register_client(CLIENT)
        tse.start_transaction(CLIENT, KB, b"")
        tse.start_transaction(CLIENT, KB, b"")
        with pytest.raises(TseError) as err:
            tse.start_transaction(CLIENT, KB, b"")
        assert (err.value.code, err.value.transient) == ("HTTP_409", False)
        assert tse.open_transactions(CLIENT) == [1, 2]
        tse.close()


# --------------------------------------------------------------------------- clients


def test_client_registration_is_idempotent(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    tse.register_client(CLIENT)
    fake.client_conflict_on_repeat = True  # fiskaly may refuse a second create
    tse.register_client(CLIENT)
    client_uuid = client_uuid_for(fake.tss_id, CLIENT)
    assert list(fake.clients) == [client_uuid]
    assert fake.clients[client_uuid]["serial_number"] == CLIENT
    assert client_uuid == client_uuid_for(fake.tss_id, CLIENT)
    assert client_uuid != client_uuid_for("00000000-0000-4000-8000-000000000000", CLIENT)
    assert tse.info().registered_clients == (CLIENT,)


def test_client_taken_by_another_serial_is_a_conflict(fake: FakeFiskaly, make_tse: MakeTse) -> None:
    tse = make_tse()
    tse.register_client("OTHER")
    fake.clients[client_uuid_for(fake.tss_id, CLIENT)] = dict(
        fake.clients.pop(client_uuid_for(fake.tss_id, "OTHER")), serial_number="OTHER"
    )
    with pytest.raises(TseError) as err:
        tse.register_client(CLIENT)
    assert (err.value.code, err.value.transient) == ("CLIENT_CONFLICT", False)


def test_too_many_clients(tmp_path: Path) -> None:
    with FakeFiskaly(max_clients=1) as fake:
        tse = FiskalyTse(fake.base_url, fake.api_key, fake.api_secret, fake.tss_id)
        tse.register_client("R1")
        with pytest.raises(TseError) as err:
            tse.register_client("R2")
        assert (err.value.code, err.value.transient) == ("HTTP_409", False)
        tse.close()


def test_admin_login_around_client_registration(tmp_path: Path) -> None:
    with FakeFiskaly(admin_pin="24680") as fake:
        without = FiskalyTse(fake.base_url, fake.api_key, fake.api_secret, fake.tss_id)
        with pytest.raises(TseError) as err:
            without.register_client(CLIENT)
        assert (err.value.code, err.value.transient) == ("HTTP_403", False)
        with_pin = FiskalyTse(
            fake.base_url, fake.api_key, fake.api_secret, fake.tss_id, admin_pin="24680"
        )
        with_pin.register_client(CLIENT)
        paths = [r.path for r in fake.requests if "/admin/" in r.path]
        assert paths == [f"/tss/{fake.tss_id}/admin/auth", f"/tss/{fake.tss_id}/admin/logout"]
        assert not fake.admin_logged_in
        without.close()
        with_pin.close()


def test_unknown_client_is_refused_by_fiskaly(fake: FakeFiskaly, make_tse: MakeTse) -> None:
    tse = make_tse()  # no register_client
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, KB, b"")
    assert (err.value.code, err.value.transient) == ("HTTP_400", False)


# --------------------------------------------------------------------------- processData


def test_receipt_schema_is_sent_exactly(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    assert "schema" not in fake.tx_requests()[0].body
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert fake.tx_requests()[-1].body == {
        "state": "FINISHED",
        "client_id": client_uuid_for(fake.tss_id, CLIENT),
        "schema": {
            "standard_v1": {
                "receipt": {
                    "receipt_type": "RECEIPT",
                    "amounts_per_vat_rate": [
                        {"vat_rate": "NORMAL", "amount": "75.33"},
                        {"vat_rate": "REDUCED_1", "amount": "7.99"},
                    ],
                    "amounts_per_payment_type": [
                        {"payment_type": "CASH", "amount": "10.00"},
                        {"payment_type": "CASH", "amount": "5.00", "currency_code": "CHF"},
                        {"payment_type": "NON_CASH", "amount": "64.30"},
                    ],
                }
            }
        },
    }
    assert result.process_data == RECEIPT  # what fiskaly rebuilt from the schema and signed


def test_negative_amounts_round_trip(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    data = b"AVRechnung^-19.99_0.00_-1.07_0.50_-3.50^-20.00:Unbar_-4.06:Bar"
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    result = tse.finish_transaction(CLIENT, number, KB, data)
    assert fake.tx_requests()[-1].body["schema"] == {
        "standard_v1": {
            "receipt": {
                "receipt_type": "INVOICE",
                "amounts_per_vat_rate": [
                    {"vat_rate": "NORMAL", "amount": "-19.99"},
                    {"vat_rate": "SPECIAL_RATE_1", "amount": "-1.07"},
                    {"vat_rate": "SPECIAL_RATE_2", "amount": "0.50"},
                    {"vat_rate": "NULL", "amount": "-3.50"},
                ],
                "amounts_per_payment_type": [
                    {"payment_type": "NON_CASH", "amount": "-20.00"},
                    {"payment_type": "CASH", "amount": "-4.06"},
                ],
            }
        }
    }
    assert result.process_data == data
    _verify(fake, tse, result)


def test_order_schema(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    data = b'2;"Bier ""Hell"";0,5l";3.90\r1.5;"Brezel; frisch";-1.20'
    number = tse.start_transaction(CLIENT, "Bestellung-V1", b"").transaction_number
    result = tse.update_transaction(CLIENT, number, "Bestellung-V1", data)
    assert fake.tx_requests()[-1].body["schema"] == {
        "standard_v1": {
            "order": {
                "line_items": [
                    {"quantity": "2", "text": 'Bier "Hell";0,5l', "price_per_unit": "3.90"},
                    {"quantity": "1.5", "text": "Brezel; frisch", "price_per_unit": "-1.20"},
                ]
            }
        }
    }
    assert (result.process_type, result.process_data) == ("Bestellung-V1", data)
    _verify(fake, tse, result)


def test_empty_payment_list_and_all_receipt_types() -> None:
    schema = process_data_to_schema(KB, b"AVTraining^0.00_0.00_0.00_0.00_12.00^")
    assert schema == {
        "standard_v1": {
            "receipt": {
                "receipt_type": "TRAINING",
                "amounts_per_vat_rate": [{"vat_rate": "NULL", "amount": "12.00"}],
                "amounts_per_payment_type": [],
            }
        }
    }
    assert process_data_to_schema(KB, b"") is None
    types = {
        "Beleg": "RECEIPT",
        "AVTransfer": "TRANSFER",
        "AVBestellung": "ORDER",
        "AVBelegabbruch": "CANCELLATION",
        "AVSachbezug": "BENEFIT_IN_KIND",
        "AVRechnung": "INVOICE",
        "AVSonstige": "OTHER",
    }
    for bon_typ, receipt_type in types.items():
        mapped = process_data_to_schema(KB, f"{bon_typ}^0.00_0.00_0.00_0.00_0.00^".encode())
        assert mapped is not None
        assert mapped["standard_v1"]["receipt"]["receipt_type"] == receipt_type


@pytest.mark.parametrize(
    "data",
    [
        b"Beleg^1.00_0.00_0.00_0.00^",  # four amounts
        b"Beleg^1.0_0.00_0.00_0.00_0.00^",  # one decimal
        b"Beleg^1,00_0.00_0.00_0.00_0.00^",  # decimal comma
        b"AVBelegstorno^0.00_0.00_0.00_0.00_0.00^",  # not for TSE systems
        b"Beleg^0.00_0.00_0.00_0.00_0.00^1.00:Karte",
        b"Beleg^0.00_0.00_0.00_0.00_0.00^1.00:Bar:chf",
        b"Beleg^0.00_0.00_0.00_0.00_0.00",
        b"Beleg^1e2_0.00_0.00_0.00_0.00^",
        b"\xff",
    ],
)
def test_bad_process_data_is_refused_before_sending(
    fake: FakeFiskaly, tse: FiskalyTse, data: bytes
) -> None:
    with pytest.raises(ProcessDataError):
        process_data_to_schema(KB, data)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    sent = len(fake.requests)
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, data)
    assert (err.value.code, err.value.transient) == ("INVALID_PROCESS_DATA", False)
    assert len(fake.requests) == sent
    assert tse.open_transactions(CLIENT) == [number]


_CASH, _NON_CASH = pd.PaymentKind.CASH, pd.PaymentKind.NON_CASH


@pytest.mark.parametrize(
    ("process_type", "text"),
    [
        (
            KB,
            pd.kassenbeleg_v1(
                "Beleg",
                [7533, 799, 0, 0, 0],
                [
                    pd.Payment(6430, _NON_CASH),
                    pd.Payment(500, _CASH, "CHF"),
                    pd.Payment(1000, _CASH),
                ],
            ),
        ),
        (KB, pd.kassenbeleg_v1("AVRechnung", [-1999, 0, 0, 0, -350], [pd.Payment(-2349, _CASH)])),
        (KB, pd.kassenbeleg_v1("AVSachbezug", {pd.VatSlot.REDUCED: 100})),
        (KB, pd.avbelegabbruch()),
        (
            "Bestellung-V1",
            pd.bestellung_v1(
                [
                    pd.OrderLine(Decimal("0.5"), 'Saft "O"', 250),
                    pd.OrderLine(2, "Brot; dunkel", -100),
                ]
            ),
        ),
    ],
)
def test_schema_round_trips_the_process_data_builder(process_type: str, text: str) -> None:
    """What posd builds (fiscal.process_data) is what fiskaly rebuilds and signs."""
    data = pd.encode(text)
    assert render_process(process_data_to_schema(process_type, data)) == (process_type, data)


def test_cancel_process_data_matches_the_builder() -> None:
    assert pd.encode(pd.AVBELEGABBRUCH) == CANCEL_PROCESS_DATA


def test_other_process_types_are_refused(tse: FiskalyTse) -> None:
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, "SonstigerVorgang", b"x")
    assert err.value.code == "INVALID_PROCESS_DATA"


# --------------------------------------------------------------------------- restart


def test_restart_finishes_a_transaction_started_before(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    first = make_tse()
    first.register_client(CLIENT)
    number = first.start_transaction(CLIENT, KB, b"").transaction_number
    first.update_transaction(CLIENT, number, KB, b"Beleg^1.00_0.00_0.00_0.00_0.00^")
    first.close()
    second = make_tse()
    assert second.open_transactions(CLIENT) == [number]
    result = second.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.transaction_number == number
    assert fake.tx_requests()[-1].query["tx_revision"] == ["3"]


def test_restart_after_a_lost_start_still_finds_the_transaction(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    first = make_tse(timeout_s=0.3)
    first.register_client(CLIENT)
    fake.drop_next(1, match="/tx/", after=True)  # fiskaly starts it, the answer is lost
    fake.drop_next(10**6, match="/tx/")  # and nothing answers for the rest of the call
    with pytest.raises(TseError):
        first.start_transaction(CLIENT, KB, b"")
    first.close()
    fake.clear_faults()
    (tx,) = fake.transactions.values()
    second = make_tse()
    assert second.open_transactions(CLIENT) == [tx.number]
    second.cancel_transaction(CLIENT, tx.number)
    assert tx.state == "CANCELLED"
    assert second.open_transactions(CLIENT) == []


def test_start_that_never_arrived_is_forgotten(fake: FakeFiskaly, make_tse: MakeTse) -> None:
    first = make_tse(timeout_s=0.3)
    first.register_client(CLIENT)
    fake.drop_next(10**6, match="/tx/")
    with pytest.raises(TseError):
        first.start_transaction(CLIENT, KB, b"")
    fake.clear_faults()
    assert fake.transactions == {}
    assert make_tse().open_transactions(CLIENT) == []


def test_open_transactions_adopts_what_only_fiskaly_knows(
    fake: FakeFiskaly, make_tse: MakeTse, tmp_path: Path
) -> None:
    first = make_tse(state_dir=None)
    first.register_client(CLIENT)
    number = first.start_transaction(CLIENT, KB, b"").transaction_number
    other = make_tse(state_dir=tmp_path / "lost")
    assert other.open_transactions(CLIENT) == [number]
    other.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert fake.transaction_by_number(number).state == "FINISHED"


def test_corrupt_state_file_is_set_aside(make_tse: MakeTse, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    tse = make_tse()
    tse.register_client(CLIENT)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    path = next(state.iterdir())
    path.write_text("{not json")
    # The mapping is gone, but fiskaly still lists the transaction: it is adopted.
    assert make_tse().open_transactions(CLIENT) == [number]
    assert any(p.name.startswith(path.name + ".corrupt-") for p in state.iterdir())


def test_transaction_gone_on_fiskaly_does_not_block_reconciliation(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(timeout_s=0.3)
    tse.register_client(CLIENT)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(10**6, status=503, match="/tx/")
    with pytest.raises(TseError):
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)  # now pending
    fake.clear_faults()
    fake.transactions.clear()  # fiskaly no longer knows it (404)
    assert tse.open_transactions(CLIENT) == []


def test_state_write_failure_keeps_the_signature(
    fake: FakeFiskaly, tse: FiskalyTse, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number

    def broken(txs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(tse._state, "save", broken)
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert tse.open_transactions(CLIENT) == []


# --------------------------------------------------------------------------- info, export


def test_info_and_self_test(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    tse.self_test()
    tse.start_transaction(CLIENT, KB, b"")
    info = tse.info()
    assert (info.manufacturer, info.certified, info.state) == (
        "fiskaly",
        True,
        TseState.INITIALIZED,
    )
    assert info.serial_number == fake.serial
    assert info.public_key == fake.public_point
    assert info.public_key[0] == 4
    assert info.signature_algorithm == "ecdsa-plain-SHA256"
    assert info.time_format == "unixTime"
    assert (info.signature_counter, info.transaction_counter) == (1, 1)
    (certificate,) = info.certificates
    assert x509.load_der_x509_certificate(certificate).public_key() == fake.key.public_key()
    assert info.registered_clients == (CLIENT,)


def test_export_writes_the_tar(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    fake.export_polls = 2
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    out = io.BytesIO()
    tse.export(out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = tar.getnames()
        files = {name: tar.extractfile(name).read() for name in names}  # type: ignore[union-attr]
    assert "info.csv" in names
    assert f"{fake.serial.hex()}_X509.der" in names
    logs = sorted(n for n in names if n.endswith(".log"))
    assert len(logs) == 2
    assert any(f"_Sig-2_Log-Tra_No-{number}_Finish_Client-{CLIENT}.log" in n for n in logs)
    key = fake.key.public_key()
    for name in logs:
        message = log_message.parse_log_message(files[name])
        assert message.verify(key)
        assert message.transaction is not None
        assert message.transaction.client_id == CLIENT
    finish = next(n for n in logs if "_Finish_" in n)
    parsed = log_message.parse_log_message(files[finish])
    assert parsed.transaction is not None
    assert parsed.transaction.process_data == RECEIPT
    report = verify_export(io.BytesIO(out.getvalue()))
    assert report.ok, report.summary()
    assert (report.valid_signatures, report.complete_transactions) == (2, 1)
    gets = [r for r in fake.requests if r.method == "GET" and "/export/" in r.path]
    assert [r.path.endswith("/file") for r in gets] == [False, False, False, True]


# --------------------------------------------------------------------------- the fake's contract


def test_fake_enforces_auth_and_revision_order(fake: FakeFiskaly) -> None:
    assert _raw(fake, "GET", f"/tss/{fake.tss_id}")[0] == 401
    token = _token(fake)
    client = "11111111-1111-4111-8111-111111111111"
    assert _raw(fake, "PUT", f"/tss/{fake.tss_id}/client/{client}", {"serial_number": "R1"},
                token=token)[0] == 200  # fmt: skip
    tx = f"/tss/{fake.tss_id}/tx/22222222-2222-4222-8222-222222222222"
    start = {"state": "ACTIVE", "client_id": client}
    status, error = _raw(fake, "PUT", tx + "?tx_revision=2", start, token=token)
    assert (status, error["code"], error["status_code"]) == (409, "E_TX_REVISION", 409)
    assert set(error) == {"status_code", "error", "code", "message"}
    assert _raw(fake, "PUT", tx + "?tx_revision=1", start, token=token)[0] == 200
    assert _raw(fake, "PUT", tx + "?tx_revision=3", start, token=token)[0] == 409
    repeat = _raw(fake, "PUT", tx + "?tx_revision=1", start, token=token)
    assert repeat[0] == 200
    assert repeat[1]["signature"]["counter"] == 1
    finish = {"state": "FINISHED", "client_id": client}
    assert _raw(fake, "PUT", tx + "?tx_revision=1", finish, token=token)[0] == 409
    assert _raw(fake, "PUT", tx + "?tx_revision=2", finish, token=token)[0] == 200
    status, error = _raw(fake, "PUT", tx + "?tx_revision=3", start, token=token)
    assert (status, error["code"]) == (409, "E_TX_NOT_ACTIVE")
    unknown = {"state": "ACTIVE", "client_id": "33333333-3333-4333-8333-333333333333"}
    other_tx = f"/tss/{fake.tss_id}/tx/44444444-4444-4444-8444-444444444444?tx_revision=1"
    assert _raw(fake, "PUT", other_tx, unknown, token=token)[0] == 400
    fake.advance(fake.access_ttl_s + 1)
    assert _raw(fake, "GET", f"/tss/{fake.tss_id}", token=token)[0] == 401
