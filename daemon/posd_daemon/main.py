"""``posd``: run the daemon (systemd Type=notify aware)."""

# ruff: noqa: E402  (SIGHUP is ignored before the imports: see below)

from __future__ import annotations

import signal

#: a TERM/INT that came before run() installed the event loop's handlers (see below)
_early_stop: list[signal.Signals] = []


def _stop_early(signum: int, _frame: object) -> None:
    # `systemctl stop` right after a start: the default action killed the process half
    # way through its imports or its configuration; noted here, the stop follows as soon
    # as run() can do it cleanly
    _early_stop.append(signal.Signals(signum))


signal.signal(signal.SIGTERM, _stop_early)
signal.signal(signal.SIGINT, _stop_early)

# Before the imports below (half a second of them): a HUP while the daemon starts
# (`systemctl reload` right after a start, a logrotate habit) killed it with the default
# action, and systemd counts death by SIGHUP as clean (no Restart=on-failure). The event
# loop's own handlers replace these (and the TERM/INT ones above) once it runs (see run()).
signal.signal(signal.SIGHUP, signal.SIG_IGN)

import argparse
import asyncio
import os
import sys
from pathlib import Path

from posd_daemon import __version__
from posd_daemon.bootstrap import STOP_FORCE_S, StartupError, start
from posd_daemon.ops import crashpoints, eventloop
from posd_daemon.ops import logging as plog
from posd_daemon.ops.config import Config, ConfigError, file_problems, load
from posd_daemon.ops.systemd import Notifier
from posd_daemon.ops.timezone import ZoneError
from posd_daemon.store.database import StoreError

EX_CONFIG = 78  # sysexits.h: configuration error (systemd shows it as such)
#: what the stop takes after the gRPC server is down (outbox, devices, TSE client,
#: database), generously: asked of systemd with the grace (EXTEND_TIMEOUT_USEC)
STOP_REST_S = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="posd", description="posd point-of-sale device daemon")
    p.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("POSD_CONFIG") or None,
        help="TOML file merged over the embedded defaults ($POSD_CONFIG)",
    )
    p.add_argument("--state-dir", help="override state.dir")
    p.add_argument(
        "--check-config", action="store_true", help="validate the configuration and exit"
    )
    p.add_argument("--version", action="version", version=f"posd {__version__}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {"state": {"dir": args.state_dir}} if args.state_dir else None
    try:
        config = load(args.config, overrides)
    except ConfigError as exc:
        print(f"posd: {exc}", file=sys.stderr)
        return EX_CONFIG
    problems = file_problems(config)
    if problems:
        where = args.config or "embedded defaults"
        print(
            f"posd: invalid configuration ({where}):\n  " + "\n  ".join(problems),
            file=sys.stderr,
        )
        return EX_CONFIG
    try:
        config.zone()  # the system's zone when register.timezone is ""
    except ZoneError as exc:
        # a configuration error like the others: 78, which the unit's
        # RestartPreventExitStatus= keeps from restarting (1 would restart in a loop)
        print(f"posd: {exc}", file=sys.stderr)
        return EX_CONFIG
    if args.check_config:
        print("configuration ok")
        return 0
    plog.configure(
        config.log.level,
        config.log.format,
        # never logged, not even inside an exception's text (a fiskaly auth error)
        secrets=(config.tse.fiskaly_api_key, config.tse.fiskaly_api_secret, config.store.secret),
    )
    crashpoints.arm_from_env()
    if _early_stop:
        plog.get("posd").info("stopped", detail=f"{_early_stop[0].name} before the start")
        return 0
    try:
        return eventloop.run(run(config))
    except KeyboardInterrupt:
        return 130


async def run(config: Config) -> int:
    log = plog.get("posd")
    notifier = Notifier()
    stop = asyncio.Event()
    hurry = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_stop_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            stop.set()
        elif not hurry.is_set():
            log.warning("stop_now", signal=sig.name, detail="in-flight calls are cancelled")
            hurry.set()

    # Installed before start(), not after: a TERM while it opens the database, migrates or
    # registers the TSE client (`systemctl stop` right after a start) killed the process
    # with the default action. Now the start completes (the migration is one transaction
    # anyway, store.database.migrate) and the daemon stops at once, the regular way.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop_signal, sig)
    # No reload: a HUP (logrotate habit, a closed terminal) must not kill the register,
    # and death by SIGHUP would count as clean for systemd (no Restart=on-failure).
    loop.add_signal_handler(
        signal.SIGHUP,
        lambda: log.warning(
            "sighup_ignored", detail="posd has no reload; restart it to apply a new config"
        ),
    )
    if _early_stop:  # came between main()'s check and the handlers above
        stop.set()
    try:
        daemon = await start(config)
    except (StartupError, StoreError) as exc:
        log.error("startup_failed", error=str(exc))
        print(f"posd: {exc}", file=sys.stderr)
        return 1
    watchdog = None
    if stop.is_set():
        # asked to stop while starting: no READY=1 (systemd is stopping a unit that
        # never became ready), straight on to the regular stop, which finds no calls
        log.info("stop_while_starting")
    else:
        notifier.ready(f"serving on {daemon.socket_path}")
        if notifier.watchdog_usec:
            watchdog = asyncio.create_task(_watchdog(notifier, notifier.watchdog_usec / 2e6))
    await stop.wait()
    log.info("stopping")
    grace = config.api.grace_seconds
    notifier.stopping(
        f"stopping: letting calls in flight finish (up to {grace} s)",
        # api.grace_seconds may exceed the unit's TimeoutStopSec=: ask for what the stop
        # may take (Daemon.stop: the grace, its slack, the forced stop, then the rest)
        extend_usec=int((grace + 1.0 + STOP_FORCE_S + STOP_REST_S) * 1_000_000),
    )
    if watchdog is not None:
        watchdog.cancel()
    await daemon.stop(hurry=hurry)
    notifier.close()
    if not daemon.server_stopped:
        # everything of ours is closed (database, devices, journal); gRPC's own threads
        # still wait for a peer that reads nothing, and the interpreter's exit would
        # join them for good: leave now, with the logs flushed
        log.info("exit_now", detail="the gRPC server did not finish its shutdown")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


async def _watchdog(notifier: Notifier, interval: float) -> None:
    """Pinged from the event loop itself: a hung loop stops the pings and systemd notices."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
