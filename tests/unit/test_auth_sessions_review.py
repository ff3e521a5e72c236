"""Log-in and sessions: a log-out ends the token on the session cache too, even while a
call with that token is being resolved; an unknown operator id costs the scrypt of the
configured ones; a PIN hash the config names is parsed strictly."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import statistics
import time
from pathlib import Path

import pytest

from posd_daemon.api.runtime import Runtime
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.ops.metrics import Metrics
from posd_daemon.ops.pins import check_format, hash_pin, verify_pin
from posd_daemon.services import auth as auth_mod
from posd_daemon.services.auth import Authenticator, OperatorRecord
from posd_daemon.services.clock import system_clock
from posd_daemon.services.executor import DbExecutor
from posd_daemon.store.database import connect, open_database


class _Context:
    """What Runtime.operator reads of a gRPC call: its metadata."""

    def __init__(self, token: str) -> None:
        self._md = (("authorization", f"Bearer {token}"),)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._md


def _manager() -> Operator:
    return Operator("1", "Anna", "manager", frozenset(Permission))


def test_a_call_resolved_while_its_token_is_logged_out_does_not_cache_it(
    tmp_path: Path,
) -> None:
    """A UI sends a call and logs out at once: the call's session lookup ran before the
    log-out's delete but its answer came back after the log-out cleared the cache. The
    token must not be cached then: it would keep working (from the cache) until it
    expired, hours after the log-out."""

    async def main() -> None:
        path = tmp_path / "posd.sqlite3"
        db = DbExecutor(
            open_database(path), connect(path, readonly=True), connect(path, readonly=True)
        )
        auth = Authenticator([OperatorRecord(_manager(), hash_pin("1234"))], system_clock, 12)
        rt = Runtime(db, auth, Metrics.create(), system_clock)
        try:
            token, _ = await db.write(lambda tx: auth.open_session(tx, _manager()))
            ctx = _Context(token)
            # a call (not cached yet: first after a restart, or evicted) looks it up
            call = asyncio.ensure_future(rt.operator(ctx))  # type: ignore[arg-type]
            await asyncio.sleep(0)  # its lookup is queued on the database thread
            # the loop is held on purpose: the lookup ends, its answer waits for the loop
            time.sleep(0.2)  # noqa: ASYNC251
            # Logout (OperatorServicer.Logout): the cache first, then the store
            rt.forget_session(token)
            await db.write(lambda tx: auth.close_session(tx, token))
            assert (await call).operator_id == "1"  # it began before the log-out
            with pytest.raises(DomainError) as err:
                await rt.operator(ctx)  # type: ignore[arg-type]
            assert err.value.reason == "UNAUTHENTICATED"
        finally:
            db.close()

    asyncio.run(main())


def _median_refusal_s(auth: Authenticator, ids: list[str]) -> float:
    times = []
    for operator_id in ids:
        start = time.perf_counter()
        with pytest.raises(DomainError) as err:
            auth.check_pin(operator_id, "9999")
        times.append(time.perf_counter() - start)
        assert err.value.reason == "UNAUTHENTICATED"
    return statistics.median(times)


def _hash_with(pin: str, n: int, r: int, p: int) -> str:
    """A PIN hash made with other parameters than posctl's (another tool, an older
    version): valid for the config (check_format) and for log-in."""
    salt = b"s" * 16
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def test_an_unknown_operator_id_takes_as_long_as_a_wrong_pin() -> None:
    """Log-in answers "unknown operator or wrong PIN" for both; the time it takes must
    not tell them apart either. The configured hashes here are cheaper than posctl's
    (N=2^12): an unknown id hashed with posctl's parameters took four times as long."""
    encoded = _hash_with("1234", 2**12, 8, 1)
    check_format(encoded)
    assert verify_pin("1234", encoded)
    ops = [Operator(str(i), f"Op {i}", "cashier", frozenset({Permission.SALE})) for i in range(4)]
    auth = Authenticator([OperatorRecord(o, encoded) for o in ops], system_clock, 12)
    # fewer than MAX_FAILURES per id: no lock-out (it would skip the PIN check)
    per_id = auth_mod.MAX_FAILURES - 2
    known = _median_refusal_s(auth, [o.operator_id for o in ops for _ in range(per_id)])
    unknown = _median_refusal_s(auth, [f"nobody-{i}" for i in range(len(ops) * per_id)])
    assert 0.5 < unknown / known < 2.0, (known, unknown)


@pytest.mark.parametrize("digest_bytes", [0, 4, 15, 65, 4096])
def test_a_pin_hash_with_a_digest_of_absurd_length_is_refused(digest_bytes: int) -> None:
    """An empty or cut digest (a hash pasted incompletely) was accepted: the operator
    could then never log in (or with a 4-byte digest, any PIN with 1 in 2^32 chance), and
    only found out at the register; a huge one made every log-in derive that many bytes."""
    salt = base64.b64encode(b"s" * 16).decode()
    digest = base64.b64encode(b"d" * digest_bytes).decode()
    with pytest.raises(ValueError, match="hash"):
        check_format(f"scrypt$16384$8$1${salt}${digest}")


def test_posctls_hashes_stay_valid() -> None:
    check_format(hash_pin("0000"))


@pytest.mark.parametrize("pin", ["１２３４", "²³⁴⁵", "١٢٣٤"])
def test_posctl_hash_pin_refuses_digits_no_keypad_types(
    pin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """str.isdigit() holds for fullwidth, superscript and Arabic-Indic digits: a hash of
    such a PIN would never match what the register's keypad sends."""
    import io

    from posd_daemon.cli import posctl

    monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
    assert posctl.main(["operator", "hash-pin"]) != 0
    assert "scrypt$" not in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
    assert posctl.main(["operator", "hash-pin"]) == 0
    assert capsys.readouterr().out.startswith("scrypt$")
