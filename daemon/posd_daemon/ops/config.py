"""The TOML configuration: embedded defaults, a file merged over them, strict validation.

Every problem is reported with its dotted path (``printer.columns: must be one of …``);
unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import itertools
import os
import re
import stat
import tomllib
import types
import typing
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from posd_daemon.domain.barcode import LabelKind, LabelLayout
from posd_daemon.domain.money import CURRENCY_EXPONENTS
from posd_daemon.domain.operators import Permission
from posd_daemon.domain.vat import VatCategory, VatRate, VatTable
from posd_daemon.ops.pins import check_format
from posd_daemon.ops.timezone import ZoneError, named_zone, register_zone


class ConfigError(Exception):
    """The configuration is invalid; the message names every problem found."""


@dataclass(frozen=True)
class RegisterConfig:
    id: str = "REG-1"
    currency: str = "EUR"
    shop_name: str = "posd"
    address: list[str] = field(default_factory=list)
    vat_id: str = ""
    #: the shop's Steuernummer from its Finanzamt (e.g. "12/345/67890"): an invoice
    #: names it or the VAT id (§ 14 (4) Nr. 2 UStG); "": none
    tax_number: str = ""
    footer: list[str] = field(default_factory=list)
    #: the register's time zone (IANA name); its calendar decides the business day.
    #: "": the system's local time zone
    timezone: str = ""
    #: a daily exchange rate older than this many days (on the register's calendar) is
    #: refused for a foreign-currency sale, its payments and its post (0: today's only)
    exchange_rate_max_age_days: int = 7


@dataclass(frozen=True)
class StateConfig:
    dir: str = ".state"


@dataclass(frozen=True)
class StoreConfig:
    open_sale_sync: str = "normal"
    #: with "normal": relaxed edits are fsync'd in the background once no edit has come
    #: for this long (0: only by the next fsync'd commit)
    open_sale_flush_ms: int = 5
    #: the other registers of the store: register id -> gRPC target (parked sales move
    #: between them, RegisterLinkService). A register on TCP is known by its certificate,
    #: which must name its id (DNS subjectAltName, api/register_link.py): its id is then a
    #: DNS label (TCP_REGISTER_ID), and so is this register's
    peers: dict[str, str] = field(default_factory=dict)
    #: shared secret of the store's registers (metadata x-posd-store-secret)
    secret: str = ""
    #: the CA (PEM) the other registers' TLS certificates are verified against, needed
    #: with peers on TCP; this register presents api.tls_cert/api.tls_key to them. Each
    #: register's certificate names its register id (e.g. DNS:K1): the CA vouches for
    #: the store, the name for the register
    tls_ca: str = ""


@dataclass(frozen=True)
class ApiConfig:
    socket: str = "{state_dir}/posd.sock"
    socket_mode: str = "0660"
    tcp: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    max_message_bytes: int = 1048576
    session_hours: int = 12
    grace_seconds: int = 5


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = "127.0.0.1:0"


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "auto"


@dataclass(frozen=True)
class PrinterConfig:
    id: str = "printer"
    url: str = "sim://printer"
    profile: str = "epson-tm-t88"
    columns: int = 0
    drawer_sensor: str = ""
    code_page: str = ""
    output: str = "{state_dir}/printer.txt"
    status_poll_ms: int = 1000
    status_timeout_ms: int = 1000


@dataclass(frozen=True)
class DrawerConfig:
    id: str = "drawer"
    driver: str = "printer"
    url: str = ""
    open_command: str = "07"
    pin: int = 2
    on_ms: int = 100
    off_ms: int = 200
    block_sale_while_open: bool = False
    #: one drawer the shifts hand on (the next float is the last count; a float that
    #: differs is a cash difference booked at the open) or one insert per cashier
    shared: bool = False


@dataclass(frozen=True)
class DisplayConfig:
    id: str = "display"
    url: str = "sim://display"
    profile: str = "epson-dm-d"
    euro_byte: int = -1
    code_page: str = ""
    mirror: str = "{state_dir}/display.txt"
    idle_lines: list[str] = field(default_factory=list)
    total_label: str = "SUMME"
    paid_label: str = "GEGEBEN"
    change_label: str = "RÜCKGELD"
    thanks: str = "Vielen Dank!"
    idle_after_seconds: int = 10
    #: 0: the profile's (2); 1: a one-row display (services/display.py takes turns)
    rows: int = 0
    alternate_seconds: int = 2


@dataclass(frozen=True)
class ScannerConfig:
    id: str = "scanner"
    url: str = "sim://scanner"
    fifo: str = "{state_dir}/scanner.fifo"
    layout: str = "us"
    grab: bool = True
    route: str = "sale"
    min_length: int = 3
    max_length: int = 128
    fragment_timeout_ms: int = 500
    max_scans_per_second: int = 20
    check_digits: bool = True


@dataclass(frozen=True)
class DevicesConfig:
    discovery: bool = True
    rescan_seconds: int = 2
    usb: bool = True
    aliases: dict[str, str] = field(default_factory=dict)
    replay_events: int = 1024
    subscriber_queue: int = 1024


@dataclass(frozen=True)
class ReceiptConfig:
    template: str = ""
    logo: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)
    start_codes: str = ""
    end_codes: str = ""


@dataclass(frozen=True)
class TseConfig:
    backend: str = "software"
    timeout_ms: int = 3000
    probe_seconds: int = 10
    print_outage_receipts: bool = True
    software_dir: str = "{state_dir}/tse"
    software_curve: str = "P-256"
    fiskaly_url: str = "https://kassensichv-middleware.fiskaly.com"
    fiskaly_api_key: str = ""
    fiskaly_api_secret: str = ""
    fiskaly_tss_id: str = ""


@dataclass(frozen=True)
class DatevConfig:
    """DATEV cash book accounts. Empty: the SKR03 defaults of ``exports/datev_accounts.Accounts``;
    a shop on SKR04 or with accounts of its own sets them as its tax adviser says."""

    #: revenue account by VAT category (NORMAL, REDUCED, AVERAGE_24_3, AVERAGE_24_1, ZERO,
    #: NOT_TAXABLE)
    revenue: dict[str, str] = field(default_factory=dict)
    #: cash movement account by kind (DEPOSIT, WITHDRAWAL, TRANSIT, TIP, DIFFERENCE)
    movements: dict[str, str] = field(default_factory=dict)
    #: a cash difference over (movements.DIFFERENCE: the one short; set alone, both)
    difference_surplus: str = ""
    non_cash_transit: str = ""
    rounding: str = ""
    receivables: str = ""
    vouchers: str = ""
    #: the client's Sachkontenlänge in DATEV (4 to 8 digits, 4 for the standard SKR03/04):
    #: no account above may be longer (receivables: one more, a debtor's personal account)
    account_length: int = 4


@dataclass(frozen=True)
class VouchersConfig:
    """Tracked vouchers (Gutscheine) sold at this register."""

    #: a voucher is valid to the end of this many years after the year of issue (the
    #: regular limitation period is 3 years from the end of that year, §§ 195, 199 BGB);
    #: 0: vouchers never expire
    validity_years: int = 3


@dataclass(frozen=True)
class DigitalReceiptConfig:
    """Digital receipts by QR code (see services/digital_receipts.py)."""

    enabled: bool = False
    #: host:port of the daemon's HTTP receipt server ("" = not served by this daemon)
    listen: str = "127.0.0.1:0"
    #: what the QR code carries before the token, e.g. "https://kasse.example.de/r/"
    base_url: str = ""
    token_days: int = 90
    #: "full": the whole receipt plus the QR block; "slip": a short slip with the QR code
    paper: str = "full"


@dataclass(frozen=True)
class VatRateConfig:
    category: str
    percent: str
    valid_from: str
    valid_until: str = ""


@dataclass(frozen=True)
class OperatorConfig:
    id: str
    name: str
    role: str
    pin_scrypt: str


@dataclass(frozen=True)
class InstoreCodeConfig:
    """One layout of in-store EAN-13 labels with a price or a weight (``[[instore_codes]]``,
    see default_config.toml)."""

    prefixes: list[str]
    kind: str
    item_digits: int = 5
    price_check_digit: bool = False
    weight_decimals: int = 3


@dataclass(frozen=True)
class Config:
    register: RegisterConfig = field(default_factory=RegisterConfig)
    state: StateConfig = field(default_factory=StateConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    drawer: DrawerConfig = field(default_factory=DrawerConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    scanner: ScannerConfig = field(default_factory=ScannerConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    receipt: ReceiptConfig = field(default_factory=ReceiptConfig)
    tse: TseConfig = field(default_factory=TseConfig)
    digital_receipt: DigitalReceiptConfig = field(default_factory=DigitalReceiptConfig)
    datev: DatevConfig = field(default_factory=DatevConfig)
    vouchers: VouchersConfig = field(default_factory=VouchersConfig)
    vat_rates: list[VatRateConfig] = field(default_factory=list)
    roles: dict[str, list[str]] = field(default_factory=dict)
    operators: list[OperatorConfig] = field(default_factory=list)
    instore_codes: list[InstoreCodeConfig] = field(default_factory=list)

    # -- derived ------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return Path(self.state.dir).expanduser().resolve()

    def path(self, template: str) -> Path:
        return Path(template.replace("{state_dir}", str(self.state_dir))).expanduser()

    @property
    def socket_path(self) -> Path:
        return self.path(self.api.socket)

    @property
    def database_path(self) -> Path:
        return self.state_dir / "posd.sqlite3"

    def zone(self) -> tzinfo:
        """The register's time zone (``register.timezone``, else the system's); raises
        :class:`~posd_daemon.ops.timezone.ZoneError` when the system's cannot be used."""
        return register_zone(self.register.timezone)

    def label_layouts(self) -> tuple[LabelLayout, ...]:
        """The in-store label layouts (``instore_codes``), checked by :func:`load`."""
        return tuple(
            LabelLayout(
                tuple(c.prefixes),
                c.item_digits,
                LabelKind(c.kind),
                price_check_digit=c.price_check_digit,
                weight_decimals=c.weight_decimals,
            )
            for c in self.instore_codes
        )

    def vat_table(self) -> VatTable:
        return VatTable(
            VatRate(
                VatCategory[r.category],
                Decimal(r.percent),
                date.fromisoformat(r.valid_from),
                date.fromisoformat(r.valid_until) if r.valid_until else None,
            )
            for r in self.vat_rates
        )


# -- loading ------------------------------------------------------------------------------


def default_document() -> dict[str, Any]:
    text = (resources.files("posd_daemon.ops") / "default_config.toml").read_text("utf-8")
    return tomllib.loads(text)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "roles":
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    doc = default_document()
    if path is not None:
        try:
            user = tomllib.loads(_read_text(path))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        doc = merge(doc, user)
    if overrides:
        doc = merge(doc, overrides)
    problems: list[str] = []
    cfg = _build(Config, doc, "", problems)
    if not problems:
        _check(cfg, problems)
    if problems:
        where = f"{path}" if path else "embedded defaults"
        raise ConfigError(f"invalid configuration ({where}):\n  " + "\n  ".join(problems))
    assert isinstance(cfg, Config)
    return cfg


def _read_text(path: Path) -> str:
    """The file's text. A UTF-8 byte order mark is dropped: Windows editors (Notepad)
    save one, and tomllib reads it as an "Invalid statement" at line 1 that names
    nothing. Bytes that are not UTF-8 are reported by line and column (the decoder's
    byte offset means nothing to whoever edits the file)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}: not UTF-8: byte 0x{data[exc.start]:02x} at line {line}, column"
            f" {column} (save the file as UTF-8)"
        ) from None


def _unknown_key(where: str, key: str, known: typing.Iterable[str]) -> str:
    """The problem of an unknown key, naming the key probably meant: a typo otherwise
    leaves the reader to find it in default_config.toml."""
    names = list(known)
    match = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    if not match:
        # a key written without its suffix or with a shorter one ("pin" for
        # "pin_scrypt", "fiskaly_api" for "fiskaly_api_key"): too unlike for difflib,
        # but unambiguous when one key alone starts so
        match = [n for n in names if n.startswith(f"{key}_") or key.startswith(f"{n}_")]
    prefix = f"{where}." if where else ""
    hint = f" (did you mean {prefix}{match[0]}?)" if len(match) == 1 else ""
    return f"{prefix}{key}: unknown key{hint}"


def _build(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    """Builds ``tp`` from TOML data, appending every problem with its path."""
    label = where or "(top level)"
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            problems.append(f"{label}: must be a table")
            return None
        hints = typing.get_type_hints(tp)
        known = {f.name: f for f in dataclasses.fields(tp)}
        for key in value:
            if key not in known:
                problems.append(_unknown_key(where, key, known))
        kwargs: dict[str, Any] = {}
        for name, f in known.items():
            sub = f"{where}.{name}" if where else name
            if name in value:
                kwargs[name] = _build(hints[name], value[name], sub, problems)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{sub}: is required")
        try:
            return tp(**kwargs)
        except TypeError:
            return None
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(f"{label}: must be a list")
            return []
        return [_build(inner, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        _, inner = typing.get_args(tp)
        if not isinstance(value, dict):
            problems.append(f"{label}: must be a table")
            return {}
        return {k: _build(inner, v, f"{where}.{k}", problems) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        raise TypeError("unions are not used in the config schema")
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{label}: must be true or false")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{label}: must be a whole number")
            return 0
        return value
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{label}: must be a string")
            return ""
        return value
    raise TypeError(f"unsupported config type {tp}")


#: register.id: the TSE clientId, a PrintableString (X.680) without "/". At most 30
#: characters, well within DSFinV-K's Z_KASSE_ID (A50, exports/dsfinvk_spec.py): an id
#: the export would cut could make two registers' exports name the same register.
REGISTER_ID = re.compile(r"[A-Za-z0-9 '()+,\-.:=?]{1,30}")
#: the id of a register linked over TCP: its certificate names it as a DNS name, so one
#: DNS label (RFC 1123 section 2.1: letters, digits, inner hyphens). One label, no dots:
#: gRPC's server-name check would let a wildcard name ("*.shop") stand for a dotted id
#: ("k1.shop"), which the serving side's check does not (api/register_link.py)
TCP_REGISTER_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,28}[A-Za-z0-9])?")

#: register.tax_number: DSFinV-K's cash_register.csv STNR is A20 (exports/dsfinvk_spec.py)
MAX_TAX_NUMBER = 20

#: vat_rates[].percent: plain decimal notation (ASCII digits), below 100, two decimals at most
VAT_PERCENT = re.compile(r"[0-9]{1,2}(?:\.[0-9]{1,2})?", re.ASCII)
#: operators[].id: the lengths Login accepts (services/auth.Authenticator.check_pin)
MAX_OPERATOR_ID = 64


#: settings naming a file or directory (``~`` and ``{state_dir}`` expanded)
PATH_KEYS = (
    ("state", "dir"),
    ("api", "socket"),
    ("api", "tls_cert"),
    ("api", "tls_key"),
    ("api", "tls_client_ca"),
    ("store", "tls_ca"),
    ("printer", "output"),
    ("display", "mirror"),
    ("scanner", "fifo"),
    ("receipt", "template"),
    ("tse", "software_dir"),
)


def _path_problems(cfg: Config) -> list[str]:
    """Paths that cannot be used at all: a NUL byte, ``~user`` of no such user (pathlib
    raises ValueError/RuntimeError for them wherever the path is used)."""
    found = []
    for table, key in PATH_KEYS:
        value = getattr(getattr(cfg, table), key)
        try:
            if "\0" in value:
                raise ValueError("contains a NUL character")
            Path(value).expanduser()
            if (table, key) == ("state", "dir"):
                _ = cfg.state_dir
        except (ValueError, RuntimeError, OSError) as exc:
            why = str(exc)
            if value.startswith("~") and "home directory" in why:
                why = f"no home directory for {value.split('/', 1)[0]!r} (no such user?)"
            found.append(f"{table}.{key}: {why}: {value!r}")
    return found


def _check(cfg: Config, problems: list[str]) -> None:
    if path_problems := _path_problems(cfg):
        problems.extend(path_problems)
        return  # the checks below use these paths
    if not REGISTER_ID.fullmatch(cfg.register.id):
        # the register id is the TSE's clientId: an ASN.1 PrintableString (fiscal-de.md,
        # log message field [1]); "/" would also split the TSE export's file names
        problems.append(
            "register.id: 1..30 characters of A-Z a-z 0-9 space ' ( ) + , - . : = ?"
            f" (the TSE's client id is an ASN.1 PrintableString), got {cfg.register.id!r}"
        )
    tax_number = cfg.register.tax_number
    if tax_number and (
        len(tax_number) > MAX_TAX_NUMBER
        or not tax_number.isprintable()
        or tax_number != tax_number.strip()
    ):
        # printed on every receipt's head: a line break or an ESC would break the print
        problems.append(
            'register.tax_number: the Steuernummer as printed (e.g. "12/345/67890"),'
            f" 1..{MAX_TAX_NUMBER} printable characters without leading or trailing spaces,"
            f" got {tax_number!r}"
        )
    if cfg.register.currency not in CURRENCY_EXPONENTS:
        problems.append(f"register.currency: unknown currency {cfg.register.currency!r}")
    if cfg.register.timezone:
        try:
            named_zone(cfg.register.timezone)
        except ZoneError as exc:
            problems.append(f"register.timezone: {exc}")
    if not 0 <= cfg.register.exchange_rate_max_age_days <= 366:
        problems.append(
            "register.exchange_rate_max_age_days: between 0 and 366 (days a daily exchange"
            " rate may be old; 0: only today's)"
        )
    try:
        mode = int(cfg.api.socket_mode, 8)
        if mode & ~0o777:
            raise ValueError
    except ValueError:
        problems.append('api.socket_mode: an octal file mode like "0660"')
    if cfg.api.tcp and not (cfg.api.tls_cert and cfg.api.tls_key):
        problems.append("api.tcp: TCP is only served with TLS: set api.tls_cert and api.tls_key")
    if cfg.api.tcp and (problem := listen_problem(cfg.api.tcp, any_port=False)):
        problems.append(f"api.tcp: {problem}")
    if len(bytes(cfg.socket_path)) > MAX_UNIX_PATH:
        problems.append(
            f"api.socket: {cfg.socket_path} is {len(bytes(cfg.socket_path))} bytes long;"
            f" a unix socket path has at most {MAX_UNIX_PATH} (choose a shorter path)"
        )
    problems.extend(_overlap_problems(cfg))
    if not 4096 <= cfg.api.max_message_bytes <= 64 * 1024 * 1024:
        problems.append("api.max_message_bytes: between 4096 and 67108864")
    if not 1 <= cfg.api.session_hours <= 24 * 7:
        problems.append("api.session_hours: between 1 and 168")
    if not 0 <= cfg.api.grace_seconds <= 60:
        problems.append("api.grace_seconds: between 0 and 60")
    if cfg.metrics.listen and (problem := listen_problem(cfg.metrics.listen, any_port=True)):
        problems.append(f"metrics.listen: {problem} (or empty to disable)")
    if cfg.log.level not in ("debug", "info", "warning", "error"):
        problems.append("log.level: one of debug, info, warning, error")
    if cfg.log.format not in ("auto", "json", "console"):
        problems.append("log.format: one of auto, json, console")
    _check_devices(cfg, problems)
    _check_store_link(cfg, problems)
    if cfg.store.open_sale_sync not in ("normal", "full"):
        problems.append("store.open_sale_sync: normal or full")
    if not 0 <= cfg.store.open_sale_flush_ms <= 60_000:
        problems.append("store.open_sale_flush_ms: between 0 and 60000")
    tse = cfg.tse
    if tse.backend not in ("software", "fiskaly", "none"):
        problems.append("tse.backend: one of software, fiskaly, none")
    if not 50 <= tse.timeout_ms <= 60_000:
        problems.append("tse.timeout_ms: between 50 and 60000")
    if not 1 <= tse.probe_seconds <= 3600:
        problems.append("tse.probe_seconds: between 1 and 3600")
    if tse.software_curve not in ("P-256", "P-384", "brainpoolP256r1", "brainpoolP384r1"):
        problems.append("tse.software_curve: P-256, P-384, brainpoolP256r1 or brainpoolP384r1")
    if tse.backend == "fiskaly":
        for key in ("fiskaly_url", "fiskaly_api_key", "fiskaly_api_secret", "fiskaly_tss_id"):
            if not getattr(tse, key):
                problems.append(f"tse.{key}: required for the fiskaly backend")
        try:
            url = urlsplit(tse.fiskaly_url)
            good = url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
        except ValueError:  # a bad port or bracketed host
            good = False
        if tse.fiskaly_url and not good:
            problems.append(
                'tse.fiskaly_url: an http(s) URL, e.g. "https://kassensichv-middleware.fiskaly.com"'
            )
        if tse.fiskaly_tss_id:
            try:
                uuid.UUID(tse.fiskaly_tss_id)
            except ValueError:
                problems.append(
                    "tse.fiskaly_tss_id: the TSS id, a UUID like"
                    f" 8d8c6a4c-3f55-4a8c-8a1b-3c1f2d7c9e10, got {tse.fiskaly_tss_id!r}"
                )
    _check_digital_receipt(cfg.digital_receipt, problems)
    _check_instore_codes(cfg.instore_codes, problems)
    _check_datev(cfg.datev, problems)
    years = cfg.vouchers.validity_years
    if years != 0 and not 3 <= years <= 30:
        # a validity shorter than the regular limitation period (3 years from the end of
        # the year of issue, §§ 195, 199 BGB) unreasonably disadvantages the customer in
        # general terms (§ 307 BGB); a limitation beyond 30 years cannot be agreed (§ 202
        # (2) BGB)
        problems.append(
            f"vouchers.validity_years: 0 (no expiry) or 3 to 30, got {years}: a voucher is"
            " valid at least to the end of the 3rd year after the year of issue (§§ 195,"
            " 199 BGB), at most 30 years (§ 202 (2) BGB)"
        )
    for i, rate in enumerate(cfg.vat_rates):
        where = f"vat_rates[{i}]"
        if rate.category not in VatCategory.__members__:
            problems.append(f"{where}.category: one of {', '.join(VatCategory.__members__)}")
        # Plain notation only: Decimal() also takes "1E1", "-0", "+19", "1_9" and " 19",
        # and receipts, journal and exports print the rate as str(Decimal) ("1E+1%").
        # Two decimals at most: DSFinV-K's UST_SATZ (N2) carries no more.
        if not VAT_PERCENT.fullmatch(rate.percent):
            problems.append(
                f"{where}.percent: a decimal string between 0 and 100 with at most two"
                ' decimals, e.g. "19" or "10.7"'
            )
        days = []
        for key in ("valid_from", "valid_until"):
            text = getattr(rate, key)
            if text or key == "valid_from":
                try:
                    days.append(date.fromisoformat(text))
                except ValueError:
                    problems.append(f"{where}.{key}: a date like 2021-01-01")
        if len(days) == 2 and days[1] < days[0]:
            problems.append(f"{where}.valid_until: {days[1]} is before valid_from {days[0]}")
    if not problems:
        try:
            rates = cfg.vat_table().rates
        except ValueError as exc:
            problems.append(f"vat_rates: {exc}")
        else:
            # sorted by category and valid_from: a day between two rates has none (every
            # sale of that category would be refused VAT_RATE_NOT_CONFIGURED on it)
            for a, b in itertools.pairwise(rates):
                day = timedelta(days=1)
                if (
                    a.category == b.category
                    and a.valid_until
                    and a.valid_until + day < b.valid_from
                ):
                    problems.append(
                        f"vat_rates: no {a.category.name} rate from {a.valid_until + day} to"
                        f" {b.valid_from - day} (valid_until {a.valid_until}, next valid_from"
                        f" {b.valid_from}): the rates must follow each other"
                    )
    for role, perms in cfg.roles.items():
        for perm in perms:
            if perm not in Permission.__members__:
                problems.append(f"roles.{role}: unknown permission {perm!r}")
    seen: set[str] = set()
    for i, op in enumerate(cfg.operators):
        where = f"operators[{i}]"
        if not 1 <= len(op.id) <= MAX_OPERATOR_ID:
            # Login refuses any other id (services/auth.py): the operator could never
            # log in, and would only find out at the register
            problems.append(
                f"{where}.id: 1 to {MAX_OPERATOR_ID} characters (what a log-in names),"
                f" got {len(op.id)}"
            )
        if op.id in seen:
            problems.append(f"{where}.id: duplicate operator id {op.id!r}")
        seen.add(op.id)
        if op.role not in cfg.roles:
            problems.append(f"{where}.role: unknown role {op.role!r}")
        try:
            check_format(op.pin_scrypt)
        except ValueError as exc:
            problems.append(f"{where}.pin_scrypt: {exc}")
        else:
            n, r, p = (int(x) for x in op.pin_scrypt.split("$")[1:4])
            if not _scrypt_usable(n, r, p):
                problems.append(
                    f"{where}.pin_scrypt: scrypt cannot check a PIN with N={n}, r={r}, p={p}"
                    " (OpenSSL takes N below 2^(16*r) and at most 32 MiB): every login would fail;"
                    " hash the PIN with `posctl operator hash-pin`"
                )


def _scrypt_usable(n: int, r: int, p: int) -> bool:
    """Whether ``hashlib.scrypt`` (as ``ops.pins.verify_pin`` calls it) takes these
    parameters, worked out without running it: OpenSSL refuses, before any work, an N not
    below 2^(16·r) (RFC 7914 section 2) and a cost whose memory, B = 128·r·p bytes plus
    V = 128·r·(N+2) bytes, is over its default limit of 32 MiB (SCRYPT_MAX_MEM in OpenSSL's
    scrypt KDF; hashlib passes maxmem=0, that default)."""
    return n < 2 ** (16 * r) and 128 * r * p + 128 * r * (n + 2) <= 32 * 1024 * 1024


def _written_files(cfg: Config) -> list[tuple[str, Path]]:
    """The files posd replaces or writes at the paths the config names (key, path):
    the API socket (a stale one is replaced) and the simulated devices' files."""
    found = [("api.socket", cfg.socket_path)]
    sim = [
        ("printer.output", cfg.printer.url, cfg.printer.output),
        ("display.mirror", cfg.display.url, cfg.display.mirror),
        ("scanner.fifo", cfg.scanner.url, cfg.scanner.fifo),
    ]
    found += [
        (k, cfg.path(name)) for k, url, name in sim if url.lower().startswith("sim:") and name
    ]
    return found


def _overlap_problems(cfg: Config) -> list[str]:
    """Paths that name posd's own files or each other's. The socket's path is replaced
    at the start (unlinked, a stale socket assumed) and removed at the stop, and a
    simulated display's mirror is overwritten: ``api.socket = "{state_dir}/posd.sqlite3"``
    deleted the register's fiscal journal, a path in the software TSE's directory its
    signature counters (tse.sqlite3)."""
    state = cfg.state_dir
    db = cfg.database_path
    own = {
        db: "posd's database",
        **{db.with_name(db.name + s): f"posd's database ({s[1:]} file)" for s in SQLITE_SIDE},
        state / LOCK_FILE: "posd's lock file",
        state: "the state dir (state.dir)",
    }
    tse_dir = _resolved(cfg.path(cfg.tse.software_dir)) if cfg.tse.backend == "software" else None
    found = []
    seen: dict[Path, str] = {}
    for key, raw in _written_files(cfg):
        path = _resolved(raw)
        if path in own:
            found.append(f"{key}: {raw} is {own[path]}; name another path")
        elif tse_dir is not None and path.is_relative_to(tse_dir):
            found.append(
                f"{key}: {raw} is in the software TSE's directory (tse.software_dir);"
                " name a path outside it"
            )
        elif path in seen:
            found.append(f"{key}: {raw} is also {seen[path]}; name another path")
        seen.setdefault(path, key)
    return found


def _resolved(path: Path) -> Path:
    """``path`` absolute, symlinks followed: "{state_dir}/./x", a link and a relative
    path name one file. A symlink loop (RuntimeError before Python 3.13) is left to
    the start, which names it."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


#: what SQLite keeps beside a database in WAL mode (and a rollback journal)
SQLITE_SIDE = ("-wal", "-shm", "-journal")
#: the state dir's lock (bootstrap._lock_state_dir): one daemon per state dir
LOCK_FILE = "posd.lock"


def _check_store_link(cfg: Config, problems: list[str]) -> None:
    """``store.peers`` (register id -> gRPC target) and ``store.secret``: linking is on
    only with both, so peers without the secret would be silently ignored."""
    if cfg.store.peers and not cfg.store.secret:
        problems.append(
            "store.secret: required when store.peers is set (the shared secret of the"
            " store's registers; without it parked sales never move between them)"
        )
    for peer, target in cfg.store.peers.items():
        where = f"store.peers.{peer}"
        if peer == cfg.register.id:
            problems.append(f"{where}: this register's own id (register.id); list the others")
        elif not REGISTER_ID.fullmatch(peer):
            problems.append(f"{where}: a register id (as register.id), got {peer!r}")
        if not target or not target.isprintable() or any(c.isspace() for c in target):
            problems.append(
                f'{where}: a gRPC target such as "10.0.0.2:50051" or'
                f' "unix:/var/lib/posd/posd.sock", got {target!r}'
            )
    tcp = sorted(p for p, t in cfg.store.peers.items() if not t.startswith("unix:"))
    if not tcp:
        return
    # Refused rather than warned of: a register on TCP hands a sale over only to a caller
    # whose client certificate it verified (RegisterLinkServicer), so a link without
    # these could never move a sale; it would fail only when a slip is scanned.
    named = ", ".join(f"store.peers.{p}" for p in tcp)
    for peer in tcp:
        if REGISTER_ID.fullmatch(peer) and not TCP_REGISTER_ID.fullmatch(peer):
            problems.append(
                f"store.peers.{peer}: a register on TCP is known by its certificate, which"
                " names its register id as a DNS name: an id of letters, digits and inner"
                f" hyphens (e.g. REG-2), got {peer!r}"
            )
    if REGISTER_ID.fullmatch(cfg.register.id) and not TCP_REGISTER_ID.fullmatch(cfg.register.id):
        problems.append(
            f"register.id: with peers on TCP ({named}) this register is known to them by"
            " its certificate, which names its register id as a DNS name: an id of"
            f" letters, digits and inner hyphens (e.g. REG-1), got {cfg.register.id!r}"
        )
    if not cfg.store.tls_ca:
        problems.append(
            f"store.tls_ca: required with peers on TCP ({named}): the CA file (PEM) the"
            " other registers' certificates are verified against (mutual TLS)"
        )
    if not (cfg.api.tls_cert and cfg.api.tls_key):
        problems.append(
            f"api.tls_cert, api.tls_key: required with peers on TCP ({named}): this"
            " register's certificate and key, presented to the other registers (mutual TLS)"
        )


#: what cash movement kinds datev.movements may name (domain/closing.CashMovementKind)
DATEV_MOVEMENTS = ("DEPOSIT", "WITHDRAWAL", "TRANSIT", "TIP", "DIFFERENCE")
#: a DATEV account number (Sachkonto): digits, as long as the shop's chart makes them
DATEV_ACCOUNT = re.compile(r"[0-9]{1,9}")


def _check_datev(d: DatevConfig, problems: list[str]) -> None:
    length = d.account_length
    if not 4 <= length <= 8:
        # DATEV-Format header field Sachkontenlänge: 4 to 8 (developer.datev.de, DATEV-
        # Format, Buchungsstapel); with 8, personal accounts take the 9 digits of Konto
        problems.append(f"datev.account_length: the client's Sachkontenlänge, 4 to 8, got {length}")
        length = 8

    def account(key: str, value: str, longest: int = length) -> None:
        if not DATEV_ACCOUNT.fullmatch(value):
            problems.append(f"datev.{key}: an account number of 1 to 9 digits, got {value!r}")
        elif len(value) > longest:
            # Gegenkonto: at most the Sachkontennummernlänge + 1 digits, the one more being
            # a personal account (DATEV Hilfe-Dokument 1002367, datev.de/hilfe/1002367): a
            # longer number is no account of the chart, and one digit longer is a debtor or
            # creditor, not the ledger account meant. Fewer digits are the account without
            # its leading zeros (SKR03 0027 as 27)
            problems.append(
                f"datev.{key}: at most {longest} digits (datev.account_length {length}), got"
                f" {value!r}"
            )

    for name, value in d.revenue.items():
        if name not in VatCategory.__members__:
            known = ", ".join(VatCategory.__members__)
            problems.append(f"datev.revenue.{name}: not a VAT category ({known})")
        account(f"revenue.{name}", value)
    for name, value in d.movements.items():
        if name not in DATEV_MOVEMENTS:
            known = ", ".join(DATEV_MOVEMENTS)
            problems.append(f"datev.movements.{name}: not a cash movement kind ({known})")
        account(f"movements.{name}", value)
    for key in ("difference_surplus", "non_cash_transit", "rounding", "vouchers"):
        value = getattr(d, key)
        if value:
            account(key, value)
    if d.receivables:
        # an open invoice paid may be credited to the customer's debtor account
        # (Personenkonto), one digit longer than the ledger accounts
        account("receivables", d.receivables, length + 1)
    if length != 4:
        # the defaults are SKR03's 4-digit accounts: in a longer chart DATEV reads 8400 as
        # 008400 (fewer digits are leading zeros, see above), another account, and the
        # rows would land there silently; a shop with a longer chart names every one
        defaults = [
            *(f"revenue.{c}" for c in VatCategory.__members__ if c not in d.revenue),
            *(f"movements.{k}" for k in DATEV_MOVEMENTS if k not in d.movements),
            *(
                k
                for k in ("non_cash_transit", "rounding", "receivables", "vouchers")
                if not getattr(d, k)
            ),
        ]
        if not d.difference_surplus and "DIFFERENCE" not in d.movements:
            defaults.append("difference_surplus")  # (set alone, DIFFERENCE takes both)
        if defaults:
            problems.append(
                f"datev.account_length {length}: the default accounts are SKR03's 4-digit"
                " ones, which DATEV reads as other accounts in this chart; set "
                + ", ".join(f"datev.{k}" for k in defaults)
            )


def _check_digital_receipt(d: DigitalReceiptConfig, problems: list[str]) -> None:
    if d.listen and (problem := listen_problem(d.listen, any_port=True)):
        problems.append(f"digital_receipt.listen: {problem} (or empty: not served here)")
    if not 1 <= d.token_days <= 3650:
        problems.append("digital_receipt.token_days: between 1 and 3650")
    if d.paper not in ("full", "slip"):
        problems.append("digital_receipt.paper: full or slip")
    if d.base_url:
        try:
            url = urlsplit(d.base_url)
            good = (
                url.scheme in ("http", "https")
                and bool(url.hostname)
                and (url.port is None or url.port > 0)
                and not url.query
                and not url.fragment
                and url.path.startswith("/")
                and url.path.endswith("/")
                and d.base_url.isascii()
                and d.base_url.isprintable()
                and not any(c.isspace() for c in d.base_url)
            )
        except ValueError:  # a bad port or bracketed host
            good = False
        if not good:
            problems.append(
                "digital_receipt.base_url: an http(s) URL ending with '/', without query or"
                ' fragment, e.g. "https://kasse.example.de/r/"'
            )
    elif d.enabled:
        problems.append(
            "digital_receipt.base_url: required when enabled (the URL the QR code carries,"
            ' e.g. "https://kasse.example.de/r/")'
        )


#: sun_path of AF_UNIX holds 108 bytes including the terminating NUL
MAX_UNIX_PATH = 107

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def listen_problem(text: str, *, any_port: bool) -> str:
    """What is wrong with a ``host:port`` to listen on ("" when nothing). IP literals are
    checked strictly; a name only for its syntax: checking the config must not depend on
    DNS (at boot the resolver may not be up yet)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        return "must be host:port"
    low = 0 if any_port else 1
    if not (port.isascii() and port.isdigit()) or not low <= int(port) <= 65535:
        return f"port must be a number between {low} and 65535" + (
            " (0: any free port)" if any_port else ""
        )
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{host} is not an IPv6 address"
        return ""
    if ":" in host:
        return f"write the IPv6 address {host} in brackets: [{host}]:{port}"
    if all(part.isdigit() for part in host.split(".")):  # meant as an IPv4 literal
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host} is not an IPv4 address"
        return ""
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return f"{host!r} is neither an IP address nor a host name"
    return ""


def exposure_warnings(cfg: Config) -> list[tuple[str, dict[str, str]]]:
    """Valid settings that open the register to more than the daemon's group and the
    shop's reverse proxy: served as configured, but said at start (event, fields), each
    naming the setting to change."""
    found: list[tuple[str, dict[str, str]]] = []
    api, d = cfg.api, cfg.digital_receipt
    if api.tcp and not api.tls_client_ca:
        found.append(
            (
                "api_tcp_without_client_auth",
                {
                    "address": api.tcp,
                    "hint": "TLS without client certificates: whoever reaches the port can"
                    " try operator PINs; set api.tls_client_ca (mutual TLS)",
                },
            )
        )
    if int(api.socket_mode, 8) & 0o007:
        found.append(
            (
                "api_socket_open_to_all",
                {
                    "mode": api.socket_mode,
                    "hint": "every local user may call the API; api.socket_mode 0660 keeps"
                    " it to the daemon's group",
                },
            )
        )
    if d.enabled and d.listen and not _is_loopback(d.listen.rpartition(":")[0]):
        found.append(
            (
                "receipt_server_not_loopback",
                {
                    "listen": d.listen,
                    "hint": "plain HTTP: keep digital_receipt.listen on 127.0.0.1 behind"
                    " the HTTPS reverse proxy",
                },
            )
        )
    if (
        d.enabled
        and d.base_url.startswith("http:")
        and not _is_loopback(urlsplit(d.base_url).hostname or "")
    ):
        found.append(
            (
                "receipt_links_not_https",
                {
                    "base_url": d.base_url,
                    "hint": "the links carry the receipts' tokens in clear text; use an"
                    " https:// digital_receipt.base_url",
                },
            )
        )
    return found


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower().removesuffix(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_devices(cfg: Config, problems: list[str]) -> None:
    """Device URLs, profiles, template and labels (see ``devices/``)."""
    from posd_daemon.devices.setup import config_problems  # noqa: PLC0415 (import cycle)

    problems.extend(config_problems(cfg))


def file_problems(cfg: Config) -> list[str]:
    """The files the config names that this process cannot read (the TLS certificate,
    key and client CA, the store's CA) and the paths it could not create or write (the
    software TSE's directory, the simulated devices' files; see :func:`_places`):
    checked by ``--check-config`` (systemd's ExecStartPre, as the unit's user) and before
    the start, so a missing key is a configuration error (exit 78, no restart loop),
    named by its key."""
    problems = []
    files = [(f"api.{k}", getattr(cfg.api, k)) for k in ("tls_cert", "tls_key", "tls_client_ca")]
    for key, name in [*files, ("store.tls_ca", cfg.store.tls_ca)]:
        if not name:
            continue
        try:
            with open(name, "rb") as f:
                f.read(1)
        except OSError as exc:
            problems.append(f"{key}: cannot read {name}: {exc.strerror or exc}")
    for key, where, directory in _places(cfg):
        if problem := _place_problem(where, directory=directory, state_dir=cfg.state_dir):
            problems.append(f"{key}: {problem}")
    if problem := _socket_problem(cfg.socket_path):
        problems.append(f"api.socket: {problem}")
    return problems


def _socket_problem(path: Path) -> str:
    """Why posd must not take ``path`` for its socket ("" when it may). The start
    replaces what it finds there when nothing answers on it, a socket left by a daemon
    that was killed; anything but a socket (a file, a database) was deleted with it."""
    try:
        st = path.stat()
    except OSError:  # nothing there; or the start names why (e.g. a state dir under a file)
        return ""
    if stat.S_ISSOCK(st.st_mode):
        return ""
    what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a socket"
    return (
        f"{path} exists and is {what}; posd replaces only a socket a stopped daemon left"
        " there (name another path)"
    )


def _places(cfg: Config) -> list[tuple[str, Path, bool]]:
    """The paths posd creates or writes at its start (key, path, whether a directory),
    for the settings in use. A file in the way of their directories crashed the start
    with a traceback (mkdir's FileExistsError), a directory where a simulated device's
    file belongs left that device broken. The state dir is not here: the start reports
    its problems itself (bootstrap._lock_state_dir, exit 1), for --state-dir too."""
    places = []
    if cfg.tse.backend == "software":
        places.append(("tse.software_dir", cfg.path(cfg.tse.software_dir), True))
    sim = [
        ("printer.output", cfg.printer.url, cfg.printer.output),
        ("display.mirror", cfg.display.url, cfg.display.mirror),
        ("scanner.fifo", cfg.scanner.url, cfg.scanner.fifo),
    ]
    for key, url, name in sim:
        if url.lower().startswith("sim:") and name:
            places.append((key, cfg.path(name), False))
    return places


def _place_problem(path: Path, *, directory: bool, state_dir: Path) -> str:
    """Why posd could not create or use ``path`` ("" when it can, as far as can be told
    without creating it: the nearest existing ancestor is a directory this process may
    write). Left to the start: a path in the state dir that fails only because the state
    dir cannot be created or written, which the start names as the state dir's problem."""
    try:
        if path.exists():
            if directory and not path.is_dir():
                return f"{path} is not a directory"
            if not directory and path.is_dir():
                return f"{path} is a directory; name a file"
            if directory and not os.access(path, os.W_OK | os.X_OK):
                return f"cannot write in {path}"
            return ""
        for parent in path.parents:
            if parent.exists():
                break
        if path.is_relative_to(state_dir) and state_dir.is_relative_to(parent):
            return ""
        if not parent.is_dir():
            return f"{parent} is not a directory (needed for {path})"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cannot create {path}: cannot write in {parent}"
    except OSError as exc:  # e.g. a parent this user may not search
        return f"{path}: {exc.strerror or exc}"
    return ""


def _check_instore_codes(layouts: list[InstoreCodeConfig], problems: list[str]) -> None:
    """Each layout readable as configured, and no prefix in two layouts: a label must
    mean one thing (which digits are the item, which the price or the weight)."""
    kinds = {k.value for k in LabelKind}
    owner: dict[str, str] = {}
    for i, c in enumerate(layouts):
        where = f"instore_codes[{i}]"
        if c.kind not in kinds:
            problems.append(f"{where}.kind: price or weight, got {c.kind!r}")
            continue
        layout = LabelLayout(
            tuple(c.prefixes),
            c.item_digits,
            LabelKind(c.kind),
            price_check_digit=c.price_check_digit,
            weight_decimals=c.weight_decimals,
        )
        problems.extend(layout.problems(where))
        for p in dict.fromkeys(c.prefixes):
            if p in owner:
                problems.append(f"{where}.prefixes: {p!r} is also in {owner[p]}")
            else:
                owner[p] = where
