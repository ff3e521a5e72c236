"""sd_notify never stalls the event loop, and no secret reaches a log line.

The notifier runs on the event loop (READY, the WATCHDOG=1 pings): a blocking send to a
notify socket whose queue is full (systemd busy) blocked the whole loop, the very thing
the watchdog is meant to catch. The log redaction runs in the real pipeline
(``posd_daemon.ops.logging.configure`` in a fresh interpreter, as the daemon runs it).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

from posd_daemon.ops.systemd import Notifier


def test_notify_to_a_full_socket_does_not_block() -> None:
    with tempfile.TemporaryDirectory(prefix="posd-n-") as where:
        path = Path(where) / "notify"
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(str(path))
        receiver.setblocking(False)
        notifier = Notifier({"NOTIFY_SOCKET": str(path)})
        results: list[bool] = []

        def ping() -> None:
            # far more datagrams than a receive queue holds (net.unix.max_dgram_qlen)
            for _ in range(5000):
                results.append(notifier.watchdog())

        pinger = threading.Thread(target=ping, daemon=True)
        pinger.start()
        pinger.join(20)
        stuck = pinger.is_alive()
        while pinger.is_alive():  # unblock the old, blocking send: drain the queue
            try:
                receiver.recv(64)
            except BlockingIOError:
                pinger.join(0.05)
        notifier.close()
        receiver.close()
        assert not stuck, "Notifier.notify blocked on a full notify socket"
        assert len(results) == 5000
        assert results[0] is True
        assert False in results  # the ones the full queue refused are lost, not waited for


def test_notify_to_a_vanished_socket_fails_and_says_so_once(tmp_path: Path) -> None:
    done = _run(
        f"""
        from posd_daemon.ops import logging as plog
        from posd_daemon.ops.systemd import Notifier
        plog.configure("info", "json")
        n = Notifier({{"NOTIFY_SOCKET": "{tmp_path}/gone"}})
        print(n.watchdog(), n.watchdog(), n.watchdog(), flush=True)
        """
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "False False False"
    records = [json.loads(line) for line in lines[:-1]]
    assert [r["event"] for r in records] == ["notify_failed"]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SECRETS = ("fk-api-key-4711", "fk-api-secret-0815", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "1234")


def test_secrets_never_reach_a_log_line() -> None:
    done = _run(
        """
        import logging
        from posd_daemon.ops import logging as plog
        plog.configure("info", "json", secrets=["fk-api-key-4711", "fk-api-secret-0815"])
        log = plog.get("posd")
        token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
        log.info("login", operator_id="1", pin="1234", session_token=token)
        log.info("call", metadata={"authorization": "Bearer " + token, "x": "y"})
        try:
            raise RuntimeError(
                "auth failed: {'api_key': 'fk-api-key-4711', 'api_secret': 'fk-api-secret-0815'}"
            )
        except RuntimeError:
            log.exception("tse_auth_failed")
        logging.getLogger("posd_daemon.fiscal.fiskaly").warning(
            "request failed: headers={'Authorization': 'Bearer %s'} pin=1234", token
        )
        try:
            raise ValueError(f"bad session token={token}; PIN: 1234")
        except ValueError as exc:
            log.error("rpc_failed", error=str(exc))
        log.info("kept", operator_id="1", detail="PIN changed or removed", amount=1234)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["event"] for r in records][:3] == ["login", "call", "tse_auth_failed"]
    for record in records[:-1]:
        text = json.dumps(record)
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} logged: {text}"
        assert "[redacted]" in text
    assert "RuntimeError" in records[2]["exception"]  # the exception itself still shows
    # what only looks like a secret stays: the log stays useful
    assert records[-1]["detail"] == "PIN changed or removed"
    assert records[-1]["amount"] == 1234
    assert records[-1]["operator_id"] == "1"
