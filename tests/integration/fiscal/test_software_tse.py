"""The software TSE on real SQLite files: durability, log messages, export, verifier."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from posd_daemon.fiscal import der, qr
from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal import process_data as pd
from posd_daemon.fiscal.software_tse import SoftwareTse
from posd_daemon.fiscal.verify_export import VerifyReport, verify_export
from posd_daemon.services.tse_port import Tse, TseError, TseOperation

CLIENT = "KASSE-01"
KB = pd.PROCESS_TYPE_KASSENBELEG
PAYMENTS = [pd.Payment(1000, pd.PaymentKind.CASH), pd.Payment(297, pd.PaymentKind.NON_CASH)]
RECEIPT = pd.encode(pd.kassenbeleg_v1("Beleg", [1190, 107, 0, 0, 0], PAYMENTS))


class StepClock:
    """A clock that advances one second per reading."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _tse(path: Path, curve: str = "P-256") -> SoftwareTse:
    tse = SoftwareTse(path, curve=curve, clock=StepClock(datetime(2024, 5, 1, 8, 0, tzinfo=UTC)))
    tse.register_client(CLIENT)
    return tse


def _sale(tse: SoftwareTse, updates: int = 1) -> int:
    start = tse.start_transaction(CLIENT, KB, b"")
    for _ in range(updates):
        tse.update_transaction(CLIENT, start.transaction_number, KB, b"")
    tse.finish_transaction(CLIENT, start.transaction_number, KB, RECEIPT)
    return start.transaction_number


def _export(tse: SoftwareTse) -> dict[str, bytes]:
    buffer = io.BytesIO()
    tse.export(buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        out: dict[str, bytes] = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            out[member.name] = handle.read()
    return out


def _tar(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _logs(members: dict[str, bytes]) -> list[tuple[str, lm.LogMessage]]:
    logs = [(n, lm.parse_log_message(d)) for n, d in members.items() if n.endswith(".log")]
    return sorted(logs, key=lambda item: item[1].signature_counter)


# ----------------------------------------------------------------------------- basics


def test_implements_port_and_says_not_certified(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    assert isinstance(tse, Tse)
    info = tse.info()
    assert info.certified is False
    assert info.manufacturer == "posd"
    assert "NOT CERTIFIED" in info.model
    assert info.serial_number == hashlib.sha256(info.public_key).digest()
    assert info.registered_clients == (CLIENT,)
    assert (info.signature_algorithm, info.time_format) == ("ecdsa-plain-SHA256", "unixTime")
    cert = x509.load_der_x509_certificate(info.certificates[0])
    (cn,) = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert "NOT CERTIFIED" in str(cn.value)
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert lm.public_point(public) == info.public_key
    for name in ("tse-key.pem", "tse.sqlite3"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    with sqlite3.connect(tmp_path / "tse.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tse.close()
    tse.close()  # idempotent
    with pytest.raises(TseError) as err:
        tse.info()
    assert err.value.code == "CLOSED"


def test_counters_survive_reopening(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    for _ in range(3):
        _sale(tse)
    before = tse.info()
    open_tx = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.close()

    again = SoftwareTse(tmp_path)
    after = again.info()
    assert after.serial_number == before.serial_number
    assert after.signature_counter == before.signature_counter + 1
    assert after.transaction_counter == before.transaction_counter + 1 == open_tx
    assert list(again.open_transactions(CLIENT)) == [open_tx]
    again.register_client(CLIENT)  # idempotent: no new system log
    assert again.info().signature_counter == after.signature_counter
    result = again.finish_transaction(CLIENT, open_tx, KB, RECEIPT)
    assert result.signature_counter == after.signature_counter + 1
    nxt = again.start_transaction(CLIENT, KB, b"")
    assert nxt.transaction_number == open_tx + 1
    assert nxt.signature_counter == after.signature_counter + 2
    again.close()


def test_continuous_after_many_operations(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    tse.self_test()
    for i in range(40):
        _sale(tse, updates=i % 3)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.cancel_transaction(CLIENT, number)
    info = tse.info()
    report = verify_export(io.BytesIO(_tar(_export(tse)).getvalue()))
    assert report.ok, report.summary()
    assert report.transactions == report.complete_transactions == 41
    assert report.log_messages == info.signature_counter == report.last_signature_counter
    assert report.first_signature_counter == 1
    assert report.system_logs == 3  # initialize, registerClient, selfTest
    assert report.valid_signatures == report.log_messages
    tse.close()


def test_fixed_clock_and_result_fields(tmp_path: Path) -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    tse = SoftwareTse(tmp_path, clock=lambda: moment)
    tse.register_client(CLIENT)
    start = tse.start_transaction(CLIENT, KB, b"")
    assert start.operation is TseOperation.START
    assert start.log_time == start.start_time == moment.replace(microsecond=0)
    finish = tse.finish_transaction(CLIENT, start.transaction_number, KB, RECEIPT)
    assert finish.operation is TseOperation.FINISH
    assert finish.process_data == RECEIPT
    assert finish.start_time == start.start_time
    assert len(finish.signature) == 64
    names = list(_export(tse))
    assert f"Unixt_1704164645_Sig-4_Log-Tra_No-1_Finish_Client-{CLIENT}.log" in names
    assert "Unixt_1704164645_Sig-1_Log-Sys_initialize.log" in names
    assert "Unixt_1704164645_Sig-2_Log-Sys_registerClient.log" in names
    tse.close()


def test_errors(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    counter = tse.info().signature_counter
    with pytest.raises(TseError) as err:
        tse.start_transaction("OTHER", KB, b"")
    assert (err.value.code, err.value.transient) == ("CLIENT_NOT_REGISTERED", False)
    with pytest.raises(TseError) as err:
        tse.update_transaction(CLIENT, 999, KB, b"")
    assert (err.value.code, err.value.transient) == ("UNKNOWN_TRANSACTION", False)
    number = _sale(tse)
    counter_after_sale = tse.info().signature_counter
    calls: list[Callable[[], object]] = [
        # the same data again returns the stored result (idempotent); other data fails
        lambda: tse.finish_transaction(CLIENT, number, KB, b"Beleg^other"),
        lambda: tse.update_transaction(CLIENT, number, KB, b""),
        lambda: tse.cancel_transaction(CLIENT, number),
    ]
    for call in calls:
        with pytest.raises(TseError) as err:
            call()
        assert (err.value.code, err.value.transient) == ("UNKNOWN_TRANSACTION", False)
    tse.register_client("OTHER")
    open_number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    with pytest.raises(TseError) as err:
        tse.finish_transaction("OTHER", open_number, KB, RECEIPT)
    assert err.value.code == "CLIENT_MISMATCH"
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, "Kassenbeleg_V1", b"")  # '_' is not PrintableString
    assert err.value.code == "INVALID_ARGUMENT"
    assert tse.info().signature_counter == counter_after_sale + 2  # registerClient + start
    assert counter_after_sale == counter + 3
    assert list(tse.open_transactions(CLIENT)) == [open_number]
    assert list(tse.open_transactions("OTHER")) == []
    tse.close()
    with pytest.raises(TseError) as err:
        SoftwareTse(tmp_path, curve="P-384")
    assert err.value.code == "CURVE_MISMATCH"
    with pytest.raises(TseError) as err:
        SoftwareTse(tmp_path / "x", curve="secp256k1")
    assert err.value.code == "INVALID_ARGUMENT"


def test_cancel_finishes_as_belegabbruch(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    result = tse.cancel_transaction(CLIENT, number)
    assert result.operation is TseOperation.FINISH
    assert result.process_type == "Kassenbeleg-V1"
    assert result.process_data == b"AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"
    assert list(tse.open_transactions(CLIENT)) == []
    tse.close()


def test_self_test_detects_tampered_storage(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    _sale(tse)
    tse.self_test()
    with sqlite3.connect(tmp_path / "tse.sqlite3") as other:
        other.execute("DELETE FROM log_messages WHERE signature_counter = 3")
    with pytest.raises(TseError) as err:
        tse.self_test()
    assert err.value.code == "SELF_TEST_FAILED"
    assert "log messages" in err.value.message
    tse.close()


def test_thread_safe(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                _sale(tse, updates=0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_export(_tar(_export(tse)))
    assert report.ok, report.summary()
    assert report.complete_transactions == 40
    tse.close()


# ----------------------------------------------------------------------------- log messages


@pytest.mark.parametrize(
    ("curve", "algorithm", "size"),
    [
        ("P-256", "ecdsa-plain-SHA256", 32),
        ("P-384", "ecdsa-plain-SHA384", 48),
        ("brainpoolP256r1", "ecdsa-plain-SHA256", 32),
        ("brainpoolP384r1", "ecdsa-plain-SHA384", 48),
    ],
)
def test_all_curves_sign_verifiable_messages(
    tmp_path: Path, curve: str, algorithm: str, size: int
) -> None:
    tse = _tse(tmp_path, curve)
    start = tse.start_transaction(CLIENT, KB, b"")
    finish = tse.finish_transaction(CLIENT, start.transaction_number, KB, RECEIPT)
    info = tse.info()
    assert info.signature_algorithm == algorithm
    assert len(info.public_key) == 1 + 2 * size
    assert len(finish.signature) == 2 * size
    cert_key = x509.load_der_x509_certificate(info.certificates[0]).public_key()
    assert isinstance(cert_key, ec.EllipticCurvePublicKey)
    for _, message in _logs(_export(tse)):
        assert message.signature_algorithm == algorithm
        assert message.verify(cert_key)
    verification = qr.verify_qr(qr.build_qr(finish, info))
    assert verification == qr.QrVerification(True, curve, "plain")
    report = verify_export(_tar(_export(tse)))
    assert report.ok, report.summary()
    tse.close()


def test_log_message_fields_order_and_tags(tmp_path: Path) -> None:
    tse = _tse(tmp_path)
    start = tse.start_transaction(CLIENT, KB, b"")
    finish = tse.finish_transaction(CLIENT, start.transaction_number, KB, RECEIPT)
    info = tse.info()
    members = _export(tse)
    name = (
        f"Unixt_{int(finish.log_time.timestamp())}_Sig-{finish.signature_counter}"
        f"_Log-Tra_No-{finish.transaction_number}_Finish_Client-{CLIENT}.log"
    )
    raw = members[name]
    items = der.decode(raw).children()
    assert [i.tag for i in items] == [
        0x02,  # version
        0x06,  # certifiedDataType
        0x80,  # [0] operationType
        0x81,  # [1] clientId
        0x82,  # [2] processData
        0x83,  # [3] processType
        0x85,  # [5] transactionNumber
        0x04,  # serialNumber
        0x30,  # signatureAlgorithm
        0x02,  # signatureCounter
        0x02,  # logTime (unixTime)
        0x04,  # signatureValue
    ]
    assert der.decode_integer(items[0]) == 2
    assert der.decode_oid(items[1]) == "0.4.0.127.0.7.3.7.1.1"
    assert items[2].content == b"FinishTransaction"
    assert items[3].content == CLIENT.encode()
    assert items[4].content == RECEIPT
    assert items[5].content == b"Kassenbeleg-V1"
    assert der.decode_integer(items[6], tag=0x85) == finish.transaction_number
    assert items[7].content == info.serial_number
    (algorithm_oid,) = items[8].children()
    assert der.decode_oid(algorithm_oid) == "0.4.0.127.0.7.1.1.4.1.3"
    assert der.decode_integer(items[9]) == finish.signature_counter
    assert der.decode_integer(items[10]) == int(finish.log_time.timestamp())
    assert items[11].content == finish.signature
    signed = b"".join(i.raw for i in items[:-1])
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), info.public_key)
    assert lm.verify_plain(key, "ecdsa-plain-SHA256", signed, finish.signature)

    system = [m for n, m in _logs(members) if m.kind == "Sys"]
    assert [m.system.operation_type for m in system if m.system] == [
        "initialize",
        "registerClient",
    ]
    assert all(der.decode_oid(der.decode(m.raw).children()[1]) == lm.OID_SYSTEM_LOG for m in system)
    tse.close()


# ----------------------------------------------------------------------------- export


def test_export_deterministic_and_verifies_from_file(tmp_path: Path) -> None:
    tse = _tse(tmp_path / "tse")
    for _ in range(3):
        _sale(tse)
    first, second = io.BytesIO(), io.BytesIO()
    tse.export(first)
    tse.export(second)
    assert first.getvalue() == second.getvalue()
    path = tmp_path / "export.tar"
    path.write_bytes(first.getvalue())
    report = verify_export(path)
    assert report.ok, report.summary()
    assert report.certificates == 1
    assert report.info["manufacturer"] == "posd"
    assert "NOT CERTIFIED" in report.info["description"]
    members = _export(tse)
    cert_names = [n for n in members if n.endswith("_X509.der")]
    assert cert_names == [f"{tse.info().serial_hex}_X509.der"]
    assert members["info.csv"].startswith(b'"description:","posd software TSE (NOT CERTIFIED')
    tse.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tse = _tse(tmp_path_factory.mktemp("tse"))
    for _ in range(3):
        _sale(tse)
    members = _export(tse)
    tse.close()
    return members


@pytest.fixture(scope="module")
def other_certificate(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tse = SoftwareTse(tmp_path_factory.mktemp("other"))
    cert = tse.info().certificates[0]
    tse.close()
    return cert


def _name(members: dict[str, bytes], fragment: str) -> str:
    (match,) = [n for n in members if fragment in n]
    return match


def _verify(members: dict[str, bytes]) -> VerifyReport:
    return verify_export(_tar(members))


def test_untampered_export_ok(exported: dict[str, bytes]) -> None:
    report = _verify(exported)
    assert report.ok, report.summary()
    assert report.first_problem is None


def test_flipped_signature_byte(exported: dict[str, bytes]) -> None:
    members = dict(exported)
    target = _name(members, "_No-2_Finish_")
    raw = bytearray(members[target])
    raw[-1] ^= 0x01
    members[target] = bytes(raw)
    report = _verify(members)
    assert report.first_problem is not None
    assert report.first_problem.file == target
    assert "signature does not verify" in report.first_problem.what


def test_dropped_log_file(exported: dict[str, bytes]) -> None:
    members = dict(exported)
    dropped = _name(members, "_No-2_Update_")
    del members[dropped]
    report = _verify(members)
    assert report.first_problem is not None
    assert "signature counter gap" in report.first_problem.what
    assert report.first_problem.file == _name(members, "_No-2_Finish_")


def test_dropped_start_reports_gap_first(exported: dict[str, bytes]) -> None:
    members = dict(exported)
    del members[_name(members, "_No-3_Start_")]
    report = _verify(members)
    assert report.first_problem is not None
    assert "signature counter gap" in report.first_problem.what
    assert any("does not begin with StartTransaction" in p.what for p in report.problems)


def test_altered_process_data(exported: dict[str, bytes]) -> None:
    members = dict(exported)
    target = _name(members, "_No-1_Finish_")
    original = members[target]
    assert b"Beleg^11.90" in original
    members[target] = original.replace(b"Beleg^11.90", b"Beleg^91.90")
    report = _verify(members)
    assert report.first_problem is not None
    assert report.first_problem.file == target
    assert "signature does not verify" in report.first_problem.what


def test_swapped_certificate(exported: dict[str, bytes], other_certificate: bytes) -> None:
    members = {n: d for n, d in exported.items() if not n.endswith("_X509.der")}
    other_key = x509.load_der_x509_certificate(other_certificate).public_key()
    assert isinstance(other_key, ec.EllipticCurvePublicKey)
    other_name = hashlib.sha256(lm.public_point(other_key)).hexdigest() + "_X509.der"
    members[other_name] = other_certificate
    report = _verify(members)
    assert report.first_problem is not None
    assert report.first_problem.file.startswith("Unixt_")
    assert "_Sig-1_" in report.first_problem.file
    assert "matches no certificate" in report.first_problem.what


def test_swapped_certificate_content_under_old_name(
    exported: dict[str, bytes], other_certificate: bytes
) -> None:
    members = dict(exported)
    cert_name = _name(members, "_X509.der")
    members[cert_name] = other_certificate
    report = _verify(members)
    assert report.first_problem is not None
    assert report.first_problem.file == cert_name
    assert "not the SHA-256" in report.first_problem.what


def test_renamed_log_file(exported: dict[str, bytes]) -> None:
    members = dict(exported)
    target = _name(members, "_No-2_Finish_")
    members[target.replace(f"Client-{CLIENT}", "Client-KASSE-02")] = members.pop(target)
    report = _verify(members)
    assert report.first_problem is not None
    assert "file name does not match the contents" in report.first_problem.what


def test_missing_finish_and_open_transactions(exported: dict[str, bytes]) -> None:
    members = {n: d for n, d in exported.items() if "_No-3_Finish_" not in n}
    report = _verify(members)
    assert report.first_problem is not None
    assert "transaction 3 has no FinishTransaction" in report.first_problem.what
    lenient = verify_export(_tar(members), allow_open_transactions=True)
    assert lenient.ok, lenient.summary()
    assert lenient.open_transactions == (3,)


def test_not_a_tar() -> None:
    report = verify_export(io.BytesIO(b"not a tar at all" * 100))
    assert not report.ok
    assert "not a readable TAR" in str(report.first_problem)


# ----------------------------------------------------------------------------- crash


_SIGNER = """
import sys
from pathlib import Path
from posd_daemon.fiscal.software_tse import SoftwareTse

tse = SoftwareTse(Path(sys.argv[1]))
tse.register_client("KASSE-01")
while True:
    r = tse.start_transaction("KASSE-01", "Kassenbeleg-V1", b"")
    print(r.signature_counter, r.transaction_number, flush=True)
    r = tse.update_transaction("KASSE-01", r.transaction_number, "Kassenbeleg-V1", b"u")
    print(r.signature_counter, r.transaction_number, flush=True)
    r = tse.finish_transaction("KASSE-01", r.transaction_number, "Kassenbeleg-V1", b"f")
    print(r.signature_counter, r.transaction_number, flush=True)
"""


def _run_and_kill(state: Path, results: int) -> list[tuple[int, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGNER, str(state)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    returned: list[tuple[int, int]] = []
    try:
        for line in proc.stdout:
            counter, number = line.split()
            returned.append((int(counter), int(number)))
            if len(returned) >= results:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for line in rest.splitlines(keepends=True):
        if line.endswith("\n"):  # a complete line: that result was returned
            counter, number = line.split()
            returned.append((int(counter), int(number)))
    return returned


@pytest.mark.parametrize("results", [31, 47])
def test_crash_keeps_counters_continuous(tmp_path: Path, results: int) -> None:
    returned = _run_and_kill(tmp_path, results)
    returned += _run_and_kill(tmp_path, results)  # a second crash on the same state
    counters = [c for c, _ in returned]
    assert len(counters) == len(set(counters)), "a counter was handed out twice"

    tse = SoftwareTse(tmp_path)
    members = _export(tse)
    stored = {m.signature_counter: m for _, m in _logs(members)}
    info = tse.info()
    assert sorted(stored) == list(range(1, info.signature_counter + 1))  # no gap, no dup
    for counter, number in returned:  # every returned result is durable
        transaction = stored[counter].transaction
        assert transaction is not None
        assert transaction.transaction_number == number
    report = verify_export(_tar(members), allow_open_transactions=True)
    assert report.ok, report.summary()
    assert len(report.open_transactions) <= 2  # at most one per killed process

    for number in tse.open_transactions(CLIENT):
        tse.cancel_transaction(CLIENT, number)
    nxt = tse.start_transaction(CLIENT, KB, b"")
    assert nxt.signature_counter == info.signature_counter + len(report.open_transactions) + 1
    assert nxt.transaction_number == info.transaction_counter + 1
    tse.finish_transaction(CLIENT, nxt.transaction_number, KB, RECEIPT)
    final = verify_export(_tar(_export(tse)))
    assert final.ok, final.summary()
    tse.self_test()
    tse.close()


def test_concurrent_processes_share_counters(tmp_path: Path) -> None:
    """Two instances on one state dir (e.g. a stray second daemon) never reuse counters."""
    first = _tse(tmp_path)
    second = SoftwareTse(tmp_path)
    results = []
    for tse in (first, second, first, second):
        results.append(tse.start_transaction(CLIENT, KB, b""))
    assert [r.signature_counter for r in results] == [3, 4, 5, 6]
    assert [r.transaction_number for r in results] == [1, 2, 3, 4]
    second.close()
    first.close()


def test_finish_is_idempotent_for_the_same_data(tmp_path: Path) -> None:
    """Crash reconciliation re-finishes with the same data and gets the stored result."""
    from posd_daemon.services.tse_port import TseError as _TseError

    with SoftwareTse(tmp_path / "idem") as tse:
        tse.register_client("REG-1")
        start = tse.start_transaction("REG-1", "Kassenbeleg-V1", b"")
        data = b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar"
        first = tse.finish_transaction("REG-1", start.transaction_number, "Kassenbeleg-V1", data)
        counter = tse.info().signature_counter
        again = tse.finish_transaction("REG-1", start.transaction_number, "Kassenbeleg-V1", data)
        assert again == first
        assert tse.info().signature_counter == counter  # nothing new was signed
        try:
            tse.finish_transaction("REG-1", start.transaction_number, "Kassenbeleg-V1", b"x")
            raise AssertionError("finished twice with different data")
        except _TseError as exc:
            assert exc.code == "UNKNOWN_TRANSACTION"
