"""Devices from the configuration: validation (``posd --check-config``) and construction.

The ``[printer]``, ``[drawer]``, ``[display]``, ``[scanner]``, ``[devices]`` and
``[receipt]`` tables are documented in ``ops/default_config.toml``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from posd_daemon.devices.charset import CODE_TABLES
from posd_daemon.devices.display import (
    BUILTIN_DISPLAY_PROFILES,
    DisplayProfile,
    display_profile_from_mapping,
)
from posd_daemon.devices.errors import DeviceUrlError, ProfileError
from posd_daemon.devices.escpos.profile import PrinterProfile, profile_from_mapping
from posd_daemon.devices.manager import (
    DeviceManager,
    Discovery,
    DisplayDevice,
    PrinterDevice,
    ScannerDevice,
    build_display,
    build_drawer,
    build_printer,
    build_scanner,
    locate,
)
from posd_daemon.devices.scanning import LAYOUTS, KeyEventSource, ScanRules
from posd_daemon.devices.templates import (
    ReceiptTemplate,
    TemplateError,
    load_template,
    template_from_mapping,
)

if TYPE_CHECKING:
    from posd_daemon.ops.config import Config

_CODE_PAGES = ", ".join(sorted(CODE_TABLES))

_SCHEMES = {
    "printer": ("sim", "usb", "serial", "tcp", "file"),
    "display": ("sim", "serial", "tcp", "file"),
    "scanner": ("sim", "serial", "evdev"),
    "drawer": ("serial", "file"),
}


def _url_problem(section: str, url: str) -> str | None:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    allowed = _SCHEMES[section]
    if scheme not in allowed:
        return f"{section}.url: {url!r}: use one of {', '.join(s + '://' for s in allowed)}"
    try:
        locate(url)
    except DeviceUrlError as exc:
        return f"{section}.url: {exc.message}"
    return None


def _device_path(path: str) -> str:
    """The port a device URL names, normalised as text: ``/dev//ttyUSB0``,
    ``/dev/./ttyUSB0``, ``/dev/ttyUSB0/`` and ``//dev/ttyUSB0`` are all ``/dev/ttyUSB0``.
    Not ``os.path.realpath``: the configuration is checked before the port need exist
    (``--check-config`` as systemd's ExecStartPre, a scanner plugged in later), and what
    a symlink such as ``/dev/serial/by-id/...`` points to changes with every replug."""
    return "/" + posixpath.normpath(path).lstrip("/")


def _port_clashes(cfg: Config) -> list[str]:
    """Two devices on one serial port cannot work: both drivers open the same tty, set
    its baud rate and parity over each other and each reads bytes meant for the other.
    The query (``?baud=...``) does not matter: the port does. A ``file://`` device on a
    path another device opens as ``serial://`` is the same tty; two ``file://`` devices
    on one path are left alone (``file:///dev/null`` for both is the benchmarks' sink)."""
    urls = [("printer.url", "printer", cfg.printer.url)]
    if cfg.drawer.driver == "serial":  # else drawer.url is not opened
        urls.append(("drawer.url", "drawer", cfg.drawer.url))
    urls += [
        ("display.url", "display", cfg.display.url),
        ("scanner.url", "scanner", cfg.scanner.url),
    ]
    seen: dict[str, list[tuple[str, str]]] = {}  # port -> (key, scheme) of its devices
    problems: list[str] = []
    for key, section, url in urls:
        if not url or _url_problem(section, url):
            continue  # no device, or a bad URL already reported under its key
        locator = locate(url)
        if locator.scheme not in ("serial", "file"):
            continue
        path = _device_path(locator.path)
        users = seen.setdefault(path, [])
        other = next(
            (k for k, scheme in users if "serial" in (scheme, locator.scheme)),
            None,
        )
        users.append((key, locator.scheme))
        if other is None:
            continue
        msg = f"{key}: {path} is already used by {other}: two devices cannot share one port"
        if {key, other} == {"printer.url", "drawer.url"}:
            # the usual case: the drawer is cabled to the printer's drawer kick-out port
            msg += ' (a drawer cabled to the printer: drawer.driver = "printer")'
        problems.append(msg)
    return problems


def printer_profile(cfg: Config) -> PrinterProfile:
    overrides: dict[str, Any] = {"base": cfg.printer.profile}
    if cfg.printer.columns:
        overrides["columns"] = cfg.printer.columns
    if cfg.printer.drawer_sensor:
        overrides["drawer_sensor"] = cfg.printer.drawer_sensor
    if cfg.printer.code_page in CODE_TABLES:
        # the codec and the ESC t table go together: one without the other garbles text
        overrides["encoding"] = cfg.printer.code_page
        overrides["code_table"] = CODE_TABLES[cfg.printer.code_page]
    overrides["drawer_pin"] = cfg.drawer.pin
    overrides["drawer_on_ms"] = cfg.drawer.on_ms
    overrides["drawer_off_ms"] = cfg.drawer.off_ms
    return profile_from_mapping(overrides)


def display_profile(cfg: Config) -> DisplayProfile:
    data: dict[str, Any] = {"base": cfg.display.profile}
    if cfg.display.euro_byte >= 0:
        data["euro_byte"] = cfg.display.euro_byte
    if cfg.display.code_page in CODE_TABLES:
        data["encoding"] = cfg.display.code_page
        data["code_table"] = CODE_TABLES[cfg.display.code_page]
    if cfg.display.rows:
        data["rows"] = cfg.display.rows
    return display_profile_from_mapping(data)


def receipt_template(cfg: Config) -> ReceiptTemplate:
    r = cfg.receipt
    if r.template:
        return load_template(cfg.path(r.template))
    return template_from_mapping(
        {
            "logo": r.logo,
            "header": r.header,
            "footer": r.footer,
            "start_codes": r.start_codes,
            "end_codes": r.end_codes,
        }
    )


def scan_rules(cfg: Config) -> ScanRules:
    s = cfg.scanner
    return ScanRules(
        min_length=s.min_length,
        max_length=s.max_length,
        fragment_timeout=s.fragment_timeout_ms / 1000,
        max_per_second=s.max_scans_per_second,
        check_digits=s.check_digits,
    )


def config_problems(cfg: Config) -> list[str]:
    problems: list[str] = []
    p, d, disp, sc, dev = cfg.printer, cfg.drawer, cfg.display, cfg.scanner, cfg.devices
    if p.url and (msg := _url_problem("printer", p.url)):
        problems.append(msg)
    if p.url.lower().startswith("sim:") and not p.output:
        problems.append("printer.output: required for a sim:// printer (the file it prints to)")
    if p.columns and p.columns not in (32, 42, 48, 56, 64):
        problems.append("printer.columns: 0 (the profile's) or one of 32, 42, 48, 56, 64")
    if p.drawer_sensor not in ("", "open-high", "open-low", "none"):
        problems.append("printer.drawer_sensor: open-high, open-low, none or empty")
    if p.code_page and p.code_page not in CODE_TABLES:
        problems.append(f"printer.code_page: empty (the profile's) or one of {_CODE_PAGES}")
    if not 0 <= p.status_poll_ms <= 60_000:
        problems.append("printer.status_poll_ms: between 0 (off) and 60000")
    if not 50 <= p.status_timeout_ms <= 10_000:
        problems.append("printer.status_timeout_ms: between 50 and 10000")
    if d.pin not in (2, 5):
        problems.append("drawer.pin: 2 or 5")
    if d.driver not in ("printer", "serial", "none"):
        problems.append("drawer.driver: printer, serial or none")
    if d.driver == "printer" and not p.url:
        problems.append("drawer.driver: 'printer' needs a printer (printer.url)")
    if d.driver == "serial":
        if not d.url:
            problems.append("drawer.url: required for the serial drawer driver")
        elif msg := _url_problem("drawer", d.url):
            problems.append(msg)
        try:
            if not bytes.fromhex(d.open_command):
                raise ValueError
        except ValueError:
            problems.append('drawer.open_command: hex bytes, e.g. "07"')
    if d.block_sale_while_open and d.driver != "printer":
        problems.append("drawer.block_sale_while_open: needs a drawer sensor (driver 'printer')")
    for key, lo, hi in (("on_ms", 2, 510), ("off_ms", 2, 510)):
        if not lo <= getattr(d, key) <= hi:
            problems.append(f"drawer.{key}: between {lo} and {hi}")
    if p.url:
        try:
            printer_profile(cfg)
        except ProfileError as exc:
            problems.append(f"printer.profile: {exc}")
    if disp.url and (msg := _url_problem("display", disp.url)):
        problems.append(msg)
    if disp.profile not in BUILTIN_DISPLAY_PROFILES:
        problems.append(f"display.profile: one of {', '.join(sorted(BUILTIN_DISPLAY_PROFILES))}")
    elif not -1 <= disp.euro_byte <= 255:
        problems.append("display.euro_byte: -1 (the code page's) or 0..255")
    if disp.code_page and disp.code_page not in CODE_TABLES:
        problems.append(f"display.code_page: empty (the profile's) or one of {_CODE_PAGES}")
    if len(disp.idle_lines) > 4:
        problems.append("display.idle_lines: at most 4 lines")
    if not 1 <= disp.idle_after_seconds <= 3600:
        problems.append("display.idle_after_seconds: between 1 and 3600")
    if not 0 <= disp.rows <= 4:
        problems.append("display.rows: 0 (the profile's) or 1 to 4")
    if not 1 <= disp.alternate_seconds <= 60:
        problems.append("display.alternate_seconds: between 1 and 60")
    if sc.url and (msg := _url_problem("scanner", sc.url)):
        problems.append(msg)
    if sc.url.lower().startswith("sim:") and not sc.fifo:
        problems.append("scanner.fifo: required for a sim:// scanner (the FIFO it reads)")
    if sc.layout not in LAYOUTS:
        problems.append(f"scanner.layout: one of {', '.join(sorted(LAYOUTS))}")
    if sc.route not in ("sale", "event"):
        problems.append("scanner.route: sale or event")
    # 128: a scanned code is at most that long (domain/text.py check_scanned_code)
    if not 1 <= sc.min_length <= sc.max_length <= 128:
        problems.append("scanner.min_length/max_length: 1 <= min_length <= max_length <= 128")
    if not 50 <= sc.fragment_timeout_ms <= 10_000:
        problems.append("scanner.fragment_timeout_ms: between 50 and 10000")
    if not 1 <= sc.max_scans_per_second <= 1000:
        problems.append("scanner.max_scans_per_second: between 1 and 1000")
    if not 0 <= dev.rescan_seconds <= 3600:
        problems.append("devices.rescan_seconds: between 0 (off) and 3600")
    if not 16 <= dev.replay_events <= 1_000_000:
        problems.append("devices.replay_events: between 16 and 1000000")
    if not 16 <= dev.subscriber_queue <= 100_000:
        problems.append("devices.subscriber_queue: between 16 and 100000")
    problems.extend(_port_clashes(cfg))
    aliases = [a for a in (p.id, d.id, disp.id, sc.id) if a]
    if len(set(aliases)) != len(aliases):
        problems.append("printer/drawer/display/scanner .id: the aliases must differ")
    try:
        receipt_template(cfg)
    except TemplateError as exc:
        problems.append(str(exc))
    return problems


@dataclass
class Devices:
    manager: DeviceManager
    printer: PrinterDevice | None
    display: DisplayDevice | None
    scanner: ScannerDevice | None
    template: ReceiptTemplate
    columns: int
    printer_name: str


def build_devices(
    cfg: Config,
    emit: Callable[[object, str], object],
    *,
    usb_backend: object | None = None,
    key_source: KeyEventSource | None = None,
) -> Devices:
    """The device manager with the configured devices (not started yet)."""
    discovery = (
        Discovery(usb_backend=usb_backend, usb_enabled=cfg.devices.usb)
        if cfg.devices.discovery
        else None
    )
    manager = DeviceManager(
        emit=emit,
        discovery=discovery,
        rescan_interval=float(cfg.devices.rescan_seconds),
        aliases=cfg.devices.aliases,
    )
    p = cfg.printer
    printer = None
    columns = 42
    printer_name = "none"
    if p.url:
        profile = printer_profile(cfg)
        printer = build_printer(
            p.id,
            p.url,
            profile,
            output=cfg.path(p.output),
            poll_interval=p.status_poll_ms / 1000,
            usb_backend=usb_backend,
            status_timeout=p.status_timeout_ms / 1000,
        )
        manager.add(printer)
        columns = profile.columns
        printer_name = (
            f"simulated:{p.url}" if p.url.startswith("sim:") else f"{profile.name}:{p.url}"
        )
    d = cfg.drawer
    if d.driver == "printer" and printer is not None:
        manager.add(build_drawer(d.id, printer=printer, pin=d.pin, on_ms=d.on_ms, off_ms=d.off_ms))
    elif d.driver == "serial":
        manager.add(build_drawer(d.id, url=d.url, open_command=bytes.fromhex(d.open_command)))
    display = None
    if cfg.display.url:
        mirror = cfg.path(cfg.display.mirror) if cfg.display.mirror else None
        display = build_display(
            cfg.display.id, cfg.display.url, display_profile(cfg), mirror=mirror
        )
        manager.add(display)
    scanner = None
    s = cfg.scanner
    if s.url:
        scanner = build_scanner(
            s.id,
            s.url,
            layout=s.layout,
            grab=s.grab,
            rules=scan_rules(cfg),
            fifo=cfg.path(s.fifo),
            keys=key_source,
        )
        manager.add(scanner)
    return Devices(manager, printer, display, scanner, receipt_template(cfg), columns, printer_name)
