"""``posctl``: the field technician's and sysadmin's command line for posd.

Talks to the daemon over its socket through ``posd-client``, or with ``--target`` over
its TCP API (api.tcp: TLS only, mutual with api.tls_client_ca). ``journal verify --db``
works without a running daemon (it opens the database read-only).
"""

from __future__ import annotations

import argparse
import getpass
import grp
import ipaddress
import json
import os
import socket as pysocket
import sqlite3
import ssl
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

# gRPC's core logs every failed TLS handshake to stderr by itself (a line per retry, read
# once as grpc is imported); posctl says the cause in one line (_remote_unreachable)
if "GRPC_VERBOSITY" not in os.environ:
    os.environ["GRPC_VERBOSITY"] = "NONE"

import grpc
from google.protobuf.json_format import MessageToDict
from posd.client import PosdClient, PosdError, error_from_rpc
from posd.v1 import sale_pb2, system_pb2

from posd_daemon.cli import devices_cli, posctl_catalog, posctl_day
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.text import is_digits
from posd_daemon.fiscal.verify_export import verify_export
from posd_daemon.ops.config import ConfigError, listen_problem, load
from posd_daemon.ops.pins import hash_pin
from posd_daemon.ops.timezone import ZoneError, named_zone, zone_name
from posd_daemon.store import journal
from posd_daemon.store.database import connect

EXIT_NOT_RUNNING = 3
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
#: the reader of stdout went away (128 + SIGPIPE, as coreutils exit)
EXIT_BROKEN_PIPE = 141

STATES = {
    "open": sale_pb2.SALE_STATE_OPEN,
    "posted": sale_pb2.SALE_STATE_POSTED,
    "cancelled": sale_pb2.SALE_STATE_CANCELLED,
    "parked": sale_pb2.SALE_STATE_PARKED,
    "transferred": sale_pb2.SALE_STATE_TRANSFERRED,
    "all": sale_pb2.SALE_STATE_UNSPECIFIED,
}


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="posctl", description="posd diagnostics and operations")
    p.add_argument("--socket", help="daemon socket path ($POSD_SOCKET; default from config)")
    p.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="the daemon's TCP API (api.tcp) instead of its socket ($POSD_TARGET); needs --tls-ca",
    )
    p.add_argument(
        "--tls-ca", metavar="FILE", help="the CA (PEM) that signed the daemon's api.tls_cert"
    )
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="client certificate (PEM) for a daemon with api.tls_client_ca; with --tls-key",
    )
    p.add_argument("--tls-key", metavar="FILE", help="the client certificate's key (PEM)")
    p.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="the name the daemon's certificate is checked for, when --target's host is not"
        " one it names (an IP address, an SSH tunnel's localhost)",
    )
    p.add_argument(
        "--zone",
        metavar="ZONE",
        help="with --target: the register's time zone (its register.timezone, an IANA name"
        " like Europe/Berlin) for the dates given and shown",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("POSD_CONFIG") or _system_config(),
        help=f"the daemon's config ($POSD_CONFIG; default {SYSTEM_CONFIG} when it exists)",
    )
    p.add_argument("--state-dir", help="state directory (to find the socket and database)")
    p.add_argument("--operator", default=os.environ.get("POSCTL_OPERATOR", ""))
    p.add_argument(
        "--pin",
        default=os.environ.get("POSCTL_PIN", ""),
        help="operator PIN ($POSCTL_PIN; prompted when missing)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="daemon reachable, version, uptime, journal, last receipt")
    sale = sub.add_parser("sale", help="sales").add_subparsers(dest="sale_command", required=True)
    ls = sale.add_parser("list", help="list sales, newest first")
    ls.add_argument("--state", choices=sorted(STATES), default="all")
    ls.add_argument("--limit", type=_at_least_one, default=50)
    jr = sub.add_parser("journal", help="journal").add_subparsers(
        dest="journal_command", required=True
    )
    jv = jr.add_parser("verify", help="walk the hash chain; non-zero exit when broken")
    jv.add_argument("--db", type=Path, help="verify this database file directly (offline)")
    pr = sub.add_parser("print", help="printing").add_subparsers(
        dest="print_command", required=True
    )
    q = pr.add_parser("queue", help="print/drawer jobs not yet done")
    q.add_argument("--all", action="store_true", help="include finished jobs")
    rp = pr.add_parser("reprint", help="print a posted receipt again, marked as a copy")
    rp.add_argument(
        "receipt", metavar="RECEIPT", help="the receipt number (as printed) or the sale id"
    )
    dp = pr.add_parser(
        "discard", help="remove a pending job that cannot be done (journaled; DEVICE_TEST)"
    )
    dp.add_argument("job_id", type=posctl_day.whole_number, help="the job (posctl print queue)")
    dp.add_argument("--reason", required=True, help="why (journaled)")
    devices_cli.add_parsers(sub)
    posctl_catalog.add_commands(sub)
    posctl_day.add_commands(sub)
    tse = sub.add_parser("tse", help="the TSE (fiscal signing device)").add_subparsers(
        dest="tse_command", required=True
    )
    tse.add_parser("info", help="manufacturer, serial, key, counters, state")
    tse.add_parser("selftest", help="run the TSE self test")
    tx = tse.add_parser("export", help="write the TSE export TAR")
    tx.add_argument("file", type=Path)
    tv = tse.add_parser("verify-export", help="independently verify a TSE export TAR (offline)")
    tv.add_argument("file", type=Path)
    tv.add_argument(
        "--allow-open",
        action="store_true",
        help="transactions without a finish are listed, not a failure (an export taken"
        " while sales are open or parked: match them against those sales)",
    )
    out = sub.add_parser("outage", help="TSE outage journal").add_subparsers(
        dest="outage_command", required=True
    )
    out.add_parser("list", help="outages with their receipts")
    oe = out.add_parser("export", help="outage log as CSV")
    oe.add_argument("file", type=Path)
    out.add_parser("recover", help="retry the TSE now")
    op = sub.add_parser("operator", help="operators").add_subparsers(
        dest="operator_command", required=True
    )
    op.add_parser("hash-pin", help="hash a PIN for the config file (reads it from stdin)")
    _json_anywhere(p)
    return p


def _json_anywhere(parser: argparse.ArgumentParser) -> None:
    """``--json`` also after the subcommand (``posctl watch --json``, as a technician
    types it): every subcommand takes it, leaving the global value when not given."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                if "--json" not in sub._option_string_actions:
                    sub.add_argument(
                        "--json",
                        action="store_true",
                        default=argparse.SUPPRESS,
                        help="machine-readable output",
                    )
                _json_anywhere(sub)


def _at_least_one(text: str) -> int:
    if not is_digits(text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number, at least 1")
    return int(text)


#: where the systemd install keeps the daemon's config (systemd/posd.service)
SYSTEM_CONFIG = Path("/etc/posd/posd.toml")


def _system_config() -> Path | None:
    """The installed daemon's config, when there is one this user can read: posctl on a
    register finds the daemon's socket and database the way the daemon does."""
    return SYSTEM_CONFIG if os.access(SYSTEM_CONFIG, os.R_OK) else None


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    overrides = {"state": {"dir": args.state_dir}} if args.state_dir else None
    try:
        cfg = load(args.config, overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    socket = Path(args.socket or os.environ.get("POSD_SOCKET") or cfg.socket_path)
    return socket, cfg.database_path


@dataclass(frozen=True)
class Remote:
    """The daemon's TCP API as ``--target`` names it, with the TLS files read: the
    credentials gRPC connects with, and the same files as an ``ssl`` context to say why a
    connection failed (gRPC only reports that it did not become ready)."""

    target: str
    host: str
    port: int
    credentials: grpc.ChannelCredentials
    context: ssl.SSLContext
    ca: str
    cert: str
    #: --tls-server-name, "" when not given (the certificate must name ``host``)
    server_name: str


#: the commands that open the database or config of this computer, not the daemon's:
#: against another register they would answer for the wrong one
_LOCAL_ONLY: dict[tuple[str, str | None], str] = {
    ("receipts", "url"): "receipts url reads the register's database directly",
}


def _check_connection(args: argparse.Namespace, sub: str | None) -> None:
    """The connection options checked before anything else, each mistake one line."""
    if getattr(args, "socket", None) and getattr(args, "target", None):
        raise CliError(
            "--socket and --target both given: the daemon's unix socket or its TCP address,"
            " not both"
        )
    target = _target(args)
    if not target:
        for option in ("tls_ca", "tls_cert", "tls_key", "tls_server_name"):
            if getattr(args, option, None) is not None:
                name = "--" + option.replace("_", "-")
                raise CliError(f"{name}: only with --target (the unix socket needs no TLS)")
        if getattr(args, "zone", None) is not None:
            raise CliError(
                "--zone: only with --target (on the register, its config's register.timezone"
                " is the zone)"
            )
        return
    if (zone := getattr(args, "zone", None)) is not None:
        _named_zone(zone)
    if args.command == "journal" and getattr(args, "db", None) is not None:
        raise CliError(
            "journal verify --db reads a database file on this computer: not with --target"
            " (drop --db to verify the journal through the daemon at the target)"
        )
    if (why := _LOCAL_ONLY.get((args.command, sub))) is not None:
        raise CliError(f"{why}: not with --target (run it on the register itself)")


def _target(args: argparse.Namespace) -> str:
    """``--target`` or ``$POSD_TARGET``; an explicit ``--socket`` wins over the latter.
    A handler's caller may build ``args`` with neither (tests, other commands)."""
    if target := getattr(args, "target", None):
        return str(target)
    return "" if getattr(args, "socket", None) else os.environ.get("POSD_TARGET", "")


def _remote(args: argparse.Namespace, target: str) -> Remote:
    """The TLS connection to ``target``: TCP is served only with TLS (ops/config.py:
    api.tcp needs api.tls_cert), so there is no plain-text fallback."""
    # the same syntax api.tcp is checked with: host:port, IPv6 in brackets
    if problem := listen_problem(target, any_port=False):
        raise CliError(f"--target {target}: {problem} (give HOST:PORT, as the daemon's api.tcp)")
    host, _, port = target.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    ca_file, cert_file, key_file = (
        getattr(args, name, None) or "" for name in ("tls_ca", "tls_cert", "tls_key")
    )
    if not ca_file:
        raise CliError(
            "--target needs --tls-ca FILE: the CA that signed the daemon's certificate"
            " (posd serves TCP only with TLS)"
        )
    if bool(cert_file) != bool(key_file):
        raise CliError(
            "--tls-cert and --tls-key go together: a client certificate and its key (for a"
            " daemon with api.tls_client_ca)"
        )
    server_name = _server_name(getattr(args, "tls_server_name", None))
    ca = _read(ca_file, "--tls-ca")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
    try:
        context.load_verify_locations(cadata=ca.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError):
        raise CliError(f"{ca_file}: no PEM certificate in it (--tls-ca)") from None
    cert = key = None
    if cert_file:
        cert, key = _read(cert_file, "--tls-cert"), _read(key_file, "--tls-key")
        try:
            context.load_cert_chain(cert_file, key_file, password=lambda: _no_password(key_file))
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise CliError(
                    f"{key_file}: does not belong to the certificate {cert_file}"
                    " (--tls-key, --tls-cert)"
                ) from None
            raise CliError(
                f"{cert_file}, {key_file}: no PEM certificate and key in them"
                f" ({exc.reason or exc}; --tls-cert, --tls-key)"
            ) from None
    # gRPC speaks HTTP/2 over TLS: ALPN "h2" (RFC 7540 section 3.3), as gRPC itself offers
    context.set_alpn_protocols(["h2"])
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
    return Remote(target, host, int(port), credentials, context, ca_file, cert_file, server_name)


def _server_name(name: str | None) -> str:
    """``--tls-server-name`` checked as a name a certificate can carry: a host name or an
    IP address ("" when not given)."""
    if name is None:
        return ""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        # a host name's syntax as api.tcp's is checked (any port stands in for one)
        if not name or listen_problem(f"{name}:1", any_port=False):
            raise CliError(
                f"--tls-server-name {name!r}: not a host name or IP address (the name the"
                " daemon's api.tls_cert was issued for)"
            ) from None
    return name


def _read(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {(exc.strerror or str(exc)).lower()} ({option})") from None


def _no_password(key: str) -> str:
    """An encrypted key would have OpenSSL prompt on the terminal, and gRPC cannot use it."""
    raise CliError(f"{key}: the key is encrypted: give it without a passphrase (--tls-key)")


def register_zone(args: argparse.Namespace) -> tzinfo:
    """The register's time zone as the daemon's config sets it (dates on posctl's
    command line are days on the register's calendar). With ``--target`` this computer
    is not the register: ``--zone``, else the zone the daemon says (GetStatus, no
    log-in), else the zone the config read names; its system's zone (no
    register.timezone) would be this computer's, not the register's."""
    state_dir = getattr(args, "state_dir", None)
    overrides = {"state": {"dir": state_dir}} if state_dir else None
    remote = bool(_target(args))
    if remote:
        said = _daemon_zone(args)
        if (zone := getattr(args, "zone", None)) is not None:
            given = _named_zone(zone)
            if said is not None and zone_name(said) != zone_name(given):
                # its business days are on its clock: another zone moves the dates given
                raise CliError(
                    f"--zone {zone}: the register keeps {zone_name(said)} (posctl status);"
                    " leave --zone out or give that zone"
                )
            return given
        if said is not None:
            return said
    try:
        cfg = load(getattr(args, "config", None), overrides)
        if remote and not cfg.register.timezone:
            raise CliError(
                "--target: the register's time zone is not known on this computer: give"
                " --zone ZONE (its register.timezone, e.g. Europe/Berlin)"
            )
        return cfg.zone()
    except (ConfigError, ZoneError) as exc:
        raise CliError(str(exc)) from None


def _daemon_zone(args: argparse.Namespace) -> tzinfo | None:
    """The zone the daemon says it keeps (GetStatusResponse.timezone); None when it says
    none (an older daemon, a zone without an IANA name) or one this computer lacks."""
    try:
        with _client(args, login=False) as client:
            name = client.status().timezone
    except PosdError:
        return None
    try:
        return named_zone(name) if name else None
    except ZoneError:
        return None


def _named_zone(name: str) -> tzinfo:
    """``--zone``: an IANA time zone name (for a daemon that does not say its zone)."""
    try:
        return named_zone(name)
    except ZoneError:
        raise CliError(
            f"--zone {name!r}: no such time zone: give the register's register.timezone,"
            " an IANA name like Europe/Berlin"
        ) from None


def register_currency(args: argparse.Namespace) -> str:
    """The register's currency, as the daemon says (GetStatus, no log-in): amounts typed
    on posctl's command line without a currency are in it, and in its decimals (500 yen
    is not 500.00). The daemon's own word, not a config file: posctl may reach it with
    --socket and no config, or read another file than the daemon. A daemon too old to
    say: the config posctl reads."""
    try:
        with _client(args, login=False) as client:
            currency = client.status().currency_code
    except PosdError:  # a daemon that does not say (older, or serving part of the API)
        currency = ""
    if currency:
        return currency
    state_dir = getattr(args, "state_dir", None)  # a handler's caller may give neither
    overrides = {"state": {"dir": state_dir}} if state_dir else None
    try:
        return load(getattr(args, "config", None), overrides).register.currency
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _client(args: argparse.Namespace, *, login: bool) -> PosdClient:
    if target := _target(args):
        remote = _remote(args, target)
        client = PosdClient(
            target,
            timeout=10.0,
            retries=1,
            credentials=remote.credentials,
            tls_server_name=remote.server_name or None,
        )
        try:
            # longer than on the socket: a TCP and TLS handshake across the shop's network
            client.wait_ready(timeout=5.0)
        except grpc.FutureTimeoutError:
            client.close()
            raise _remote_unreachable(remote) from None
    else:
        socket, _ = _paths(args)
        # unix:<absolute path>: "unix://" + a relative path would read its first part as a host
        client = PosdClient(f"unix:{os.path.abspath(socket)}", timeout=10.0, retries=1)
        try:
            client.wait_ready(timeout=2.0)
        except grpc.FutureTimeoutError:
            client.close()
            hint = devices_cli.DIRECT_HINT if args.command == "test" else ""
            raise _unreachable(socket, hint) from None
    if login:
        try:
            operator = args.operator or _ask("operator id: ", "--operator ID ($POSCTL_OPERATOR)")
            pin = args.pin or _ask("PIN: ", "--pin PIN ($POSCTL_PIN)", secret=True)
        except BaseException:
            client.close()
            raise
        client.login(operator, pin)
    return client


def _unreachable(path: Path, hint: str) -> CliError:
    """Why nothing answered on the socket: a path that is no socket or one this user may
    not use is said as such (posd may well be running), else posd is not running."""
    not_running = CliError(
        f"posd is not running (nothing answers on {path}).\n"
        "Start it with 'systemctl start posd' (or 'posd'), or check --socket/--state-dir." + hint,
        EXIT_NOT_RUNNING,
    )
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return not_running
    except PermissionError:
        return _denied(path.parent)
    except OSError as exc:
        return CliError(f"{path}: {exc.strerror or exc}")
    if not stat.S_ISSOCK(mode):
        return CliError(f"{path}: not a socket (check --socket/--state-dir)")
    probe = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(os.fspath(path))
    except PermissionError:
        return _denied(path)
    except OSError:
        return not_running  # refused: a socket left behind by a daemon that is gone
    finally:
        probe.close()
    return CliError(
        f"posd accepts connections on {path} but does not answer (starting, or hung):"
        " see 'journalctl -u posd'",
        EXIT_NOT_RUNNING,
    )


#: OpenSSL's verify results (include/openssl/x509_vfy.h) said in the daemon's terms
_CERT_NOT_YET_VALID, _CERT_EXPIRED = 9, 10
_HOST_MISMATCH, _IP_MISMATCH = 62, 64


def _remote_unreachable(remote: Remote) -> CliError:
    """Why the daemon at ``--target`` did not answer: gRPC only says it never became
    ready, so the connection is tried again with the same files through ``ssl``, whose
    errors name the cause (nothing listening, the daemon's certificate, this client's)."""
    where = remote.target
    try:
        raw = pysocket.create_connection((remote.host, remote.port), timeout=5.0)
    except pysocket.gaierror as exc:
        return CliError(f"{remote.host}: unknown host ({exc.strerror}): check --target")
    except ConnectionRefusedError:
        return CliError(
            f"nothing listening on {where} (connection refused): is posd running there, with"
            " api.tcp on that port?",
            EXIT_NOT_RUNNING,
        )
    except OSError as exc:  # no route, a firewall dropping it (timed out)
        return CliError(
            f"{where}: {exc.strerror or 'no answer'} (check --target and the network)",
            EXIT_NOT_RUNNING,
        )
    try:
        # the name gRPC checked: --tls-server-name, else --target's host
        name = remote.server_name or remote.host
        with remote.context.wrap_socket(raw, server_hostname=name) as tls:
            # TLS 1.3 (RFC 8446 section 4.4.2): the daemon checks the client certificate
            # after this side's handshake ended; a refusal is an alert on the first read
            tls.settimeout(2.0)
            if tls.recv(1) == b"":
                # gRPC's server (BoringSSL) closes without an alert when it refuses one
                return _client_certificate(remote, "closed after the handshake")
    except ssl.SSLCertVerificationError as exc:
        return _server_certificate(remote, exc)
    except ssl.SSLError as exc:
        return _client_certificate(remote, (exc.reason or str(exc)).lower().replace("_", " "))
    except TimeoutError:
        pass  # no refusal
    except OSError as exc:
        return CliError(f"{where}: {exc.strerror or exc} during the TLS handshake", EXIT_FAILED)
    finally:
        raw.close()
    return CliError(
        f"{where} accepts TLS but posd does not answer (starting, hung, or not posd):"
        " see 'journalctl -u posd' there",
        EXIT_NOT_RUNNING,
    )


def _server_certificate(remote: Remote, exc: ssl.SSLCertVerificationError) -> CliError:
    why = exc.verify_message or str(exc)
    if exc.verify_code in (_HOST_MISMATCH, _IP_MISMATCH):
        if remote.server_name:
            return CliError(
                f"{remote.target}: the daemon's certificate does not name {remote.server_name}"
                " (--tls-server-name): give a name its api.tls_cert was issued for"
            )
        return CliError(
            f"{remote.target}: the daemon's certificate does not name {remote.host}: give"
            " --target a name or address its api.tls_cert was issued for, or that name as"
            " --tls-server-name"
        )
    if exc.verify_code in (_CERT_EXPIRED, _CERT_NOT_YET_VALID):
        return CliError(
            f"{remote.target}: the daemon's certificate: {why}: renew its api.tls_cert (or"
            " check this computer's clock)"
        )
    return CliError(
        f"{remote.target}: the daemon's certificate is not accepted with --tls-ca"
        f" {remote.ca} ({why}): give the CA that signed its api.tls_cert"
    )


def _client_certificate(remote: Remote, why: str) -> CliError:
    if not remote.cert:
        return CliError(
            f"{remote.target}: the daemon asks for a client certificate (api.tls_client_ca;"
            f" {why}): give --tls-cert FILE --tls-key FILE"
        )
    return CliError(
        f"{remote.target}: the daemon refused the client certificate {remote.cert} ({why}):"
        " it must be signed by the daemon's api.tls_client_ca and valid"
    )


def _denied(path: Path) -> CliError:
    try:
        group = f"group {grp.getgrgid(path.stat().st_gid).gr_name}"
    except (OSError, KeyError):
        group = "the daemon's group (posd)"
    return CliError(
        f"{path}: permission denied: run posctl as root or as a member of {group}"
        " (posd may well be running)"
    )


def _ask(prompt: str, option: str, *, secret: bool = False) -> str:
    """Prompts on a terminal only: cron, scripts and ``</dev/null`` must say it instead."""
    if not sys.stdin.isatty():
        raise CliError(f"{prompt.rstrip(': ')} missing: give {option} (stdin is not a terminal)")
    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        raise CliError(f"{prompt.rstrip(': ')} missing: give {option}") from None


def _out(args: argparse.Namespace, data: object, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text)


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args, login=False) as c:
        s = c.status()
    data = MessageToDict(s, preserving_proto_field_name=True)
    text = "\n".join(
        [
            f"posd {s.version}: running, register {s.register_id} ({s.currency_code})",
            f"uptime:          {s.uptime_seconds} s",
            f"time zone:       {s.timezone or '(no IANA name)'}",
            f"journal:         {s.journal_records} records",
            f"database:        {s.database_bytes} bytes",
            f"last receipt:    {s.last_receipt_number}",
            f"open sales:      {s.open_sales}",
            f"parked sales:    {s.parked_sales}",
            f"pending jobs:    {s.pending_jobs}",
        ]
    )
    _out(args, data, text)
    return 0


def cmd_sale_list(args: argparse.Namespace) -> int:
    with _client(args, login=True) as c:
        sales = []
        for sale in c.list_sales(STATES[args.state], page_size=min(args.limit, 1000)):
            sales.append(sale)
            if len(sales) >= args.limit:
                break
    rows = [
        f"{'receipt':>8}  {'state':<10} {'total':>10}  {'lines':>5}  sale id",
    ]
    for s in sales:
        state = sale_pb2.SaleState.Name(s.state).removeprefix("SALE_STATE_").lower()
        total = format_minor(s.total.amount_minor, s.total.currency_code)
        rows.append(
            f"{s.receipt_number or '-':>8}  {state:<10} {total:>10}  {len(s.lines):>5}  {s.sale_id}"
        )
    _out(args, [MessageToDict(s, preserving_proto_field_name=True) for s in sales], "\n".join(rows))
    return 0


def _offline(db: Path) -> sqlite3.Connection:
    """The database of a stopped daemon, read-only. SQLite's read-only mode still creates
    the -shm file beside it, which a technician in group posd may not (the state dir is
    0750): then, when no WAL holds changes the file lacks, it is read as immutable."""
    try:
        conn = connect(db, readonly=True)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError as exc:
        wal = db.with_name(db.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise CliError(
                f"{db}: {exc}; its WAL ({wal}) holds changes that need a writable directory"
                " to read: run posctl as the daemon's user, or verify through the running"
                " daemon (without --db)"
            ) from None
        uri = f"file:{db.resolve()}?mode=ro&immutable=1"
        return sqlite3.connect(uri, uri=True, isolation_level=None)


def cmd_journal_verify(args: argparse.Namespace) -> int:
    if args.db is not None:
        if not args.db.exists():
            raise CliError(f"{args.db}: no such database")
        if args.db.is_dir():
            raise CliError(f"{args.db}: is a directory, not a database file")
        try:
            conn = _offline(args.db)
            try:
                r = journal.verify(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:  # "file is not a database", unreadable …
            raise CliError(f"{args.db}: {exc}") from None
        ok, checked, bad, problem = r.ok, r.records_checked, r.first_bad_sequence, r.problem
    else:
        with _client(args, login=True) as c:
            v = c.verify_journal()
        ok, checked, bad, problem = v.ok, v.records_checked, v.first_bad_sequence, v.problem
    data = {"ok": ok, "records_checked": checked, "first_bad_sequence": bad, "problem": problem}
    if ok:
        _out(args, data, f"journal ok: {checked} records verified")
        return 0
    _out(args, data, f"journal BROKEN at record {bad}: {problem}")
    return EXIT_FAILED


def cmd_print_queue(args: argparse.Namespace) -> int:
    with _client(args, login=True) as c:
        jobs = c.print_jobs(include_done=args.all)
    rows = [f"{'job':>6}  {'kind':<7} {'receipt':>8}  {'state':<8} {'tries':>5}  last error"]
    for j in jobs:
        state = _JOB_STATES.get(j.state, "?")
        rows.append(
            f"{j.job_id:>6}  {j.kind:<7} {j.receipt_number or '-':>8}  {state:<8}"
            f" {j.attempts:>5}  {j.last_error}"
        )
    if len(rows) == 1:
        rows.append("(no jobs)")
    _out(args, [MessageToDict(j, preserving_proto_field_name=True) for j in jobs], "\n".join(rows))
    return 0


_JOB_STATES = {
    system_pb2.PRINT_JOB_STATE_PENDING: "pending",
    system_pb2.PRINT_JOB_STATE_DONE: "done",
    system_pb2.PRINT_JOB_STATE_DISCARDED: "discarded",
}


def cmd_print_discard(args: argparse.Namespace) -> int:
    with _client(args, login=True) as c:
        r = c.discard_print_job(args.job_id, args.reason)
    what = f"receipt {r.receipt_number}" if r.receipt_number else "no receipt"
    _out(
        args,
        MessageToDict(r, preserving_proto_field_name=True),
        f"job {r.job_id} discarded ({r.kind}, {what}; journal record {r.journal_sequence})",
    )
    return 0


def cmd_print_reprint(args: argparse.Namespace) -> int:
    ref = str(args.receipt)
    with _client(args, login=True) as c:
        # a receipt number as printed (what a technician reads off the paper, as
        # `receipts show` takes it), else a sale id (32 hex digits)
        if is_digits(ref) and len(ref) < 32:
            try:
                number = posctl_day.whole_number(ref)
            except argparse.ArgumentTypeError as exc:  # beyond int64, what the API carries
                raise CliError(f"receipt {exc}") from None
            ref = c.get_receipt(receipt_number=number).sale.sale_id
        r = c.reprint_receipt(ref)
    _out(
        args,
        MessageToDict(r, preserving_proto_field_name=True),
        f"copy of receipt {r.receipt_number} queued as print job {r.job_id}",
    )
    return 0


def _devices(
    handler: Callable[
        [
            argparse.Namespace,
            Callable[..., PosdClient],
            Callable[[argparse.Namespace, object, str], None],
        ],
        int,
    ],
) -> Callable[[argparse.Namespace], int]:
    return lambda args: handler(args, _client, _out)


def cmd_tse_info(args: argparse.Namespace) -> int:
    with _client(args, login=True) as c:
        info = c.tse_info()
    data = MessageToDict(info, preserving_proto_field_name=True)
    data.pop("certificates", None)
    rows = [
        f"backend:             {info.backend}",
        f"manufacturer:        {info.manufacturer}",
        f"model:               {info.model}",
        f"certified:           {'yes' if info.certified else 'NO'}",
        f"serial number:       {info.serial_number}",
        f"public key:          {info.public_key}",
        f"signature algorithm: {info.signature_algorithm} ({info.time_format})",
        f"signature counter:   {info.signature_counter}",
        f"transactions:        {info.transaction_counter}",
        f"state:               {info.state}",
        f"clients:             {', '.join(info.registered_clients)}",
        f"outage:              {info.active_outage_number or 'none'}",
    ]
    if info.active_outage_number and not info.state:
        # answered without the TSE (it is out): its identity as last read, no counters
        rows[7:11] = ["TSE not answering:   counters, state and clients unknown"]
    _out(args, data, "\n".join(rows))
    return 0


def cmd_tse_selftest(args: argparse.Namespace) -> int:
    with _client(args, login=True) as c:
        r = c.tse_self_test()
    _out(
        args,
        MessageToDict(r, preserving_proto_field_name=True),
        "self test passed" if r.ok else f"self test FAILED: {r.error_code}: {r.message}",
    )
    return 0 if r.ok else EXIT_FAILED


def write_file(path: Path, data: bytes) -> None:
    """``data`` to ``path`` through ``<path>.part``: never half a file under the name,
    and a write that fails (or a Ctrl-C during it) leaves nothing behind."""
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def not_a_directory(path: Path) -> None:
    """An output file given as a directory, or in one that does not exist, is said
    before anything is fetched (a TSE export can take minutes), naming what was typed
    rather than the ``.part`` file write_file would have failed on."""
    if path.is_dir():
        raise CliError(f"{path}: is a directory: give a file name")
    if path.exists() and not path.is_file():
        # the rename onto it would replace whatever it is: the daemon's socket (tab
        # completion in the state directory) became a CSV file and the daemon unreachable
        raise CliError(f"{path}: not a regular file")
    parent = path.absolute().parent
    if not parent.is_dir():
        what = "not a directory" if parent.exists() else "no such directory"
        raise CliError(f"{path.parent}: {what}")


def cmd_tse_export(args: argparse.Namespace) -> int:
    not_a_directory(args.file)
    with _client(args, login=True) as c:
        data = c.export_tse()
    write_file(args.file, data)
    _out(
        args,
        {"file": str(args.file), "bytes": len(data)},
        f"wrote {len(data)} bytes to {args.file}",
    )
    return 0


def cmd_tse_verify_export(args: argparse.Namespace) -> int:
    if not args.file.exists():
        raise CliError(f"{args.file}: no such file")
    report = verify_export(args.file, allow_open_transactions=args.allow_open)
    data = {
        "ok": report.ok,
        "summary": report.summary(),
        "open_transactions": list(report.open_transactions),
        "first_problem": None
        if report.first_problem is None
        else {"file": report.first_problem.file, "what": report.first_problem.what},
    }
    text = report.summary()
    if report.open_transactions:
        numbers = ", ".join(str(n) for n in report.open_transactions[:50])
        text += f"\nopen transactions (no finish yet): {numbers}"
        if not args.allow_open:
            text += "\n(an export taken while sales are open or parked: --allow-open)"
    _out(args, data, text)
    return 0 if report.ok else EXIT_FAILED


def cmd_outage_list(args: argparse.Namespace) -> int:
    with _client(args, login=True) as c:
        outages = c.list_outages()
    rows = [f"{'no':>4}  {'begin':<20} {'end':<20} {'error':<14} receipts"]
    for o in outages:
        # on the register's clock, as every other time posctl shows (and the outage and
        # recovery slips print): a UTC time read as local was an hour or two off
        begin = posctl_day._local(args, o.start_time)
        end = posctl_day._local(args, o.end_time) if o.HasField("end_time") else "(open)"
        # every Vorgang: receipts and cash movements' slips (K<n>)
        receipts = ", ".join(o.vorgaenge) or ", ".join(map(str, o.receipt_numbers)) or "-"
        rows.append(f"{o.outage_number:>4}  {begin:<20} {end:<20} {o.error_code:<14} {receipts}")
    if len(rows) == 1:
        rows.append("(no outages)")
    _out(
        args, [MessageToDict(o, preserving_proto_field_name=True) for o in outages], "\n".join(rows)
    )
    return 0


def cmd_outage_export(args: argparse.Namespace) -> int:
    not_a_directory(args.file)
    with _client(args, login=True) as c:
        data = c.export_outages()
    # through <file>.part like the TSE export: written in place, a full disk truncated
    # the previous export (the outage log an auditor asks for) under its own name
    write_file(args.file, data)
    _out(args, {"file": str(args.file), "bytes": len(data)}, f"wrote {args.file}")
    return 0


def cmd_outage_recover(args: argparse.Namespace) -> int:
    with _client(args, login=True) as c:
        r = c.recover_tse()
    _out(
        args,
        MessageToDict(r, preserving_proto_field_name=True),
        "TSE available, no outage open"
        if r.recovered
        else f"TSE still unavailable (outage {r.active_outage_number})",
    )
    return 0 if r.recovered else EXIT_FAILED


def cmd_hash_pin(args: argparse.Namespace) -> int:
    pin = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("PIN: ")
    # ASCII digits only: str.isdigit() also holds for fullwidth or superscript digits,
    # whose hash would never match what a keypad sends
    if not (pin.isascii() and pin.isdigit()) or not 4 <= len(pin) <= 12:
        raise CliError("a PIN is 4..12 digits 0-9")
    hashed = hash_pin(pin)
    _out(args, {"pin_hash": hashed}, hashed)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        ("status", None): cmd_status,
        ("sale", "list"): cmd_sale_list,
        ("journal", "verify"): cmd_journal_verify,
        ("print", "queue"): cmd_print_queue,
        ("print", "reprint"): cmd_print_reprint,
        ("print", "discard"): cmd_print_discard,
        ("devices", None): _devices(devices_cli.cmd_devices),
        ("watch", None): _devices(devices_cli.cmd_watch),
        ("test", None): _devices(devices_cli.cmd_test),
        ("device", "status"): _devices(devices_cli.cmd_device_status),
        ("monitor", None): _devices(devices_cli.cmd_monitor),
        ("drawer", "open"): _devices(devices_cli.cmd_drawer_open),
        ("operator", "hash-pin"): cmd_hash_pin,
        ("tse", "info"): cmd_tse_info,
        ("tse", "selftest"): cmd_tse_selftest,
        ("tse", "export"): cmd_tse_export,
        ("tse", "verify-export"): cmd_tse_verify_export,
        ("outage", "list"): cmd_outage_list,
        ("outage", "export"): cmd_outage_export,
        ("outage", "recover"): cmd_outage_recover,
    }
    handlers.update(posctl_catalog.HANDLERS)
    handlers.update(posctl_day.HANDLERS)
    sub = (
        getattr(args, "sale_command", None)
        or getattr(args, "journal_command", None)
        or getattr(args, "print_command", None)
        or getattr(args, "operator_command", None)
        or getattr(args, "tse_command", None)
        or getattr(args, "outage_command", None)
        or getattr(args, "device_command", None)
        or getattr(args, "drawer_command", None)
        or posctl_day.subcommand(args)
    )
    try:
        _check_connection(args, sub)
        code = handlers[(args.command, sub)](args)
        sys.stdout.flush()  # here, where a closed pipe is handled, not at the exit
        return code
    except BrokenPipeError:
        # the reader went away (`posctl ... | head -2`): quietly, as coreutils end on
        # SIGPIPE (128 + 13), and with stdout on /dev/null so the exit's flush is silent
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except CliError as exc:
        print(f"posctl: {exc}", file=sys.stderr)
        return exc.code
    except PosdError as exc:
        print(f"posctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except grpc.RpcError as exc:  # a stream the daemon ended (it stopped or restarted)
        print(f"posctl: {error_from_rpc(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a directory, no permission, a missing file, a full disk
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"posctl: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.DatabaseError as exc:
        print(f"posctl: database: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except EOFError:
        print("posctl: stdin: ended before the input was complete", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(file=sys.stderr)  # end the prompt's line
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    # through the module the other commands import, not this copy run as __main__: its
    # CliError would be another class than theirs, and their refusals tracebacks
    from posd_daemon.cli import posctl as _posctl  # noqa: PLW0406  (deliberate, see above)

    sys.exit(_posctl.main())
