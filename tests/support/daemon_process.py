"""Runs the REAL posd daemon as a child process, the way systemd runs a ``Type=notify`` unit.

    with DaemonProcess(tmp_path / "state") as daemon:
        daemon.start()                      # spawn, then wait for READY=1 on NOTIFY_SOCKET
        with daemon.client() as pos:        # logged in as the demo manager
            pos.create_sale()
        daemon.kill()                       # SIGKILL, as a power cut would
        daemon.start()                      # same state dir: what survived?

Like systemd, the helper binds a unix datagram socket, passes it as ``$NOTIFY_SOCKET``
(and ``$WATCHDOG_USEC`` on request) and reads the sender's pid from ``SCM_CREDENTIALS``,
so a notification is attributed to the process that sent it, never to an earlier
incarnation. The daemon's stdout/stderr go to ``posd.stdout.log``/``posd.stderr.log`` in
the state dir (appended over restarts, each start marked), so a failing test can show them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from posd.client import PosdClient

#: The console script of the venv running the tests.
POSD_EXECUTABLE = Path(sys.executable).with_name("posd")
POSCTL_EXECUTABLE = Path(sys.executable).with_name("posctl")

DEMO_OPERATOR = ("1", "1234")  # the embedded defaults' demo manager

#: The config the helper writes when none is given: defaults plus a free metrics port.
TEST_CONFIG = """\
# written by tests/support/daemon_process.py
[metrics]
listen = "127.0.0.1:0"

[log]
level = "info"
format = "json"
"""

_CRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


@dataclass(frozen=True, slots=True)
class NotifyMessage:
    """One sd_notify datagram: sender pid, arrival time (monotonic) and its fields."""

    pid: int
    at: float
    fields: dict[str, str]
    raw: str


class NotifyListener:
    """A ``NOTIFY_SOCKET``: receives datagrams on a thread and keeps them, in order."""

    def __init__(self) -> None:
        # a short private directory: sun_path is limited to 108 bytes
        self._dir = Path(tempfile.mkdtemp(prefix="posd-notify-"))
        self.path = self._dir / "notify"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.bind(str(self.path))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.settimeout(0.2)
        self._cond = threading.Condition()
        self._messages: list[NotifyMessage] = []
        self._closed = False
        self._thread = threading.Thread(target=self._receive, name="notify-listener", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        space = socket.CMSG_SPACE(_CRED.size)
        while not self._closed:
            try:
                data, ancdata, _flags, _addr = self._sock.recvmsg(65536, space)
            except TimeoutError:
                continue
            except OSError:
                return
            pid = 0
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _CRED.unpack(payload[: _CRED.size])[0]
            text = data.decode("utf-8", "replace")
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            with self._cond:
                self._messages.append(NotifyMessage(pid, time.monotonic(), fields, text))
                self._cond.notify_all()

    def messages(self, pid: int | None = None) -> list[NotifyMessage]:
        with self._cond:
            return [m for m in self._messages if pid is None or m.pid == pid]

    def wait_for(
        self,
        predicate: Callable[[NotifyMessage], bool],
        timeout: float,
        *,
        give_up: Callable[[], bool] = lambda: False,
    ) -> NotifyMessage | None:
        """The first message (old or new) matching ``predicate``; None on timeout/give-up."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self._messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or give_up():
                    return None
                self._cond.wait(min(left, 0.05))

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self._dir.rmdir()


class DaemonError(RuntimeError):
    """The daemon did not come up (or down) as expected; carries its exit code and stderr."""

    def __init__(self, message: str, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(f"{message}\n--- posd stderr (tail) ---\n{stderr[-3000:]}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass
class DaemonProcess:
    """One posd state directory and the daemon process currently running on it."""

    state_dir: Path
    config: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    watchdog_usec: int | None = None
    ready_timeout: float = 20.0
    executable: Path = POSD_EXECUTABLE

    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    starts: int = field(default=0, init=False)
    ready_message: NotifyMessage | None = field(default=None, init=False)
    spawned_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.config is None:
            self.config = self.state_dir / "posd-test.toml"
            if not self.config.exists():
                self.config.write_text(TEST_CONFIG, encoding="utf-8")
        self.notify = NotifyListener()
        self._clients: list[PosdClient] = []
        self._lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "posd.sock"

    @property
    def target(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "posd.sqlite3"

    @property
    def printer_path(self) -> Path:
        return self.state_dir / "printer.txt"

    @property
    def stdout_path(self) -> Path:
        return self.state_dir / "posd.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.state_dir / "posd.stderr.log"

    # -- process state ----------------------------------------------------------------------

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise DaemonError("the daemon was never started")
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def argv(self) -> list[str]:
        argv = [str(self.executable), "--state-dir", str(self.state_dir)]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        return argv

    def spawn(self, *, crashpoints: str = "", env: Mapping[str, str] | None = None) -> int:
        """Starts the process without waiting for READY; returns its pid."""
        if self.running:
            raise DaemonError(f"posd (pid {self.pid}) is still running")
        child_env = dict(os.environ)
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "POSD_CRASHPOINTS"):
            child_env.pop(key, None)
        child_env["NOTIFY_SOCKET"] = str(self.notify.path)
        child_env["PYTHONUNBUFFERED"] = "1"
        # printed times and business days follow the register's zone (register.timezone,
        # default the system's): the same on every machine the tests run on
        child_env.setdefault("TZ", "UTC")
        if self.watchdog_usec:
            child_env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        if crashpoints:
            child_env["POSD_CRASHPOINTS"] = crashpoints
        child_env.update(self.env)
        child_env.update(env or {})
        # gRPC shares one subchannel among all channels of a process to the same address:
        # channels still open to a dead incarnation would make a new one wait out their
        # reconnect back-off (1 s and growing). A client belongs to one incarnation.
        self.close_clients()
        self.starts += 1
        marker = f"--- posd start #{self.starts} crashpoints={crashpoints or '-'} ---\n"
        with self._log("stdout") as out, self._log("stderr") as err:
            out.write(marker.encode())
            err.write(marker.encode())
            out.flush()
            err.flush()
            self.spawned_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=child_env,
                cwd=self.state_dir,
                start_new_session=True,  # a SIGINT to pytest is not a SIGINT to posd
            )
        self.ready_message = None
        return self.proc.pid

    def _log(self, stream: str) -> IO[bytes]:
        return open(self.state_dir / f"posd.{stream}.log", "ab")

    def wait_ready(self, timeout: float | None = None) -> NotifyMessage:
        """Waits for READY=1 from this very process; raises if it exits or times out."""
        proc = self.proc
        if proc is None:
            raise DaemonError("the daemon was never started")
        msg = self.notify.wait_for(
            lambda m: m.pid == proc.pid and m.fields.get("READY") == "1",
            self.ready_timeout if timeout is None else timeout,
            give_up=lambda: proc.poll() is not None,
        )
        if msg is None and proc.poll() is not None:
            # a READY=1 sent just before the exit may still be on its way to the listener
            msg = self.notify.wait_for(
                lambda m: m.pid == proc.pid and m.fields.get("READY") == "1", 0.3
            )
        if msg is None:
            if proc.poll() is None:
                self.kill()
                raise DaemonError("posd sent no READY=1 in time (killed it)", None, self.stderr())
            raise DaemonError(
                f"posd exited with {proc.returncode} before READY=1",
                proc.returncode,
                self.stderr(),
            )
        self.ready_message = msg
        return msg

    def start(
        self, *, crashpoints: str = "", env: Mapping[str, str] | None = None
    ) -> DaemonProcess:
        """Spawns the daemon and waits until it has sent READY=1."""
        self.spawn(crashpoints=crashpoints, env=env)
        self.wait_ready()
        return self

    def send_signal(self, sig: int) -> bool:
        """Signals the current process if it still runs; thread-safe. False if it had exited."""
        with self._lock:
            proc = self.proc
            if proc is None or proc.poll() is not None:
                return False
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                return False
            return True

    def wait_exit(self, timeout: float = 10.0) -> int:
        if self.proc is None:
            raise DaemonError("the daemon was never started")
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DaemonError(
                f"posd (pid {self.proc.pid}) did not exit within {timeout} s", None, self.stderr()
            ) from None

    def kill(self) -> int:
        """SIGKILL (nothing runs after it: no flush, no cleanup) and reap."""
        self.send_signal(signal.SIGKILL)
        return self.wait_exit()

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, as ``systemctl stop`` sends, and wait for the exit code."""
        self.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def restart(
        self, *, crashpoints: str = "", env: Mapping[str, str] | None = None, kill: bool = True
    ) -> DaemonProcess:
        """Stops the current process (SIGKILL, or SIGTERM with ``kill=False``), starts anew."""
        if self.running:
            if kill:
                self.kill()
            else:
                self.terminate()
        return self.start(crashpoints=crashpoints, env=env)

    # -- clients ---------------------------------------------------------------------------

    def client(self, *, login: bool = True, open_shift: bool = True, **kwargs: Any) -> PosdClient:
        """A ``PosdClient`` on the daemon's socket, closed by the next start or :meth:`close`."""
        pos = PosdClient(self.target, **kwargs)
        self._clients.append(pos)
        if login:
            pos.login(*DEMO_OPERATOR)
            if open_shift:
                pos.ensure_shift()
        return pos

    def posctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Runs ``posctl --state-dir DIR --operator 1 --pin 1234 ARGS`` and captures output."""
        argv = [
            str(POSCTL_EXECUTABLE),
            "--state-dir",
            str(self.state_dir),
            "--operator",
            DEMO_OPERATOR[0],
            "--pin",
            DEMO_OPERATOR[1],
        ]
        if self.config is not None:
            argv[1:1] = ["--config", str(self.config)]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    # -- what the daemon said ------------------------------------------------------------------

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_events(self) -> Iterator[dict[str, Any]]:
        """The JSON log records of all starts, in order."""
        for line in self.stdout().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    yield json.loads(line)

    def metrics_port(self) -> int:
        """The metrics port of the latest start (logged in the ``serving`` event)."""
        port = 0
        for event in self.log_events():
            if event.get("event") == "serving":
                port = int(event.get("metrics_port") or 0)
        return port

    # -- teardown -----------------------------------------------------------------------------

    def close_clients(self) -> None:
        for pos in self._clients:
            with contextlib.suppress(Exception):
                pos.close()
        self._clients.clear()

    def close(self) -> None:
        try:
            self.close_clients()
            if self.running:
                try:
                    self.terminate(timeout=10)
                except DaemonError:
                    self.kill()
        finally:
            self.notify.close()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if exc_type is None:
            # an error no caller handled is a defect even when every answer was right
            errors = [e for e in self.log_events() if e.get("event") == "loop_error"]
            assert not errors, f"the daemon's event loop reported errors: {errors}"
