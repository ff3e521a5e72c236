"""posctl commands for field technicians: devices, watch, test, device status, monitor.

``posctl test print|drawer|display|scan`` run the interactive health check through the
daemon and ask the technician to confirm what happened. When the daemon is not running,
``--direct URL`` talks to the device itself (the daemon would otherwise hold it
exclusively).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from google.protobuf.json_format import MessageToDict
from posd.client import PosdClient, PosdError
from posd.v1 import device_pb2

from posd_daemon.cli.posctl_day import whole_number
from posd_daemon.domain.money import format_minor

CLASSES = {
    "print": device_pb2.DEVICE_CLASS_PRINTER,
    "drawer": device_pb2.DEVICE_CLASS_DRAWER,
    "display": device_pb2.DEVICE_CLASS_DISPLAY,
    "scan": device_pb2.DEVICE_CLASS_SCANNER,
}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("devices", help="table of devices: id, class, transport, state, health")
    w = sub.add_parser("watch", help="live device and sale events (Ctrl-C to stop)")
    w.add_argument("--device", default="", help="only this device (id or alias)")
    w.add_argument("--after", type=whole_number, help="resume after this sequence number")
    w.add_argument("--count", type=_count, default=0, help="stop after N events (0: never)")
    t = sub.add_parser("test", help="interactive device test: the technician confirms")
    t.add_argument("what", choices=sorted(CLASSES))
    t.add_argument("--device", default="", help="device id or alias (default: the first)")
    t.add_argument(
        "--timeout", type=_scan_timeout, default=30, help="scan: seconds to wait for a code"
    )
    t.add_argument(
        "--direct",
        metavar="URL",
        help="test the device directly, without the daemon (it must not be running)",
    )
    t.add_argument("--profile", default="", help="--direct: printer or display profile")
    dev = sub.add_parser("device", help="one device").add_subparsers(
        dest="device_command", required=True
    )
    ds = dev.add_parser("status", help="state, decoded status bits, statistics, health")
    ds.add_argument("device_id")
    mon = sub.add_parser("monitor", help="hex dump of a device's traffic (read-only)")
    mon.add_argument("device_id")
    mon.add_argument("--count", type=_count, default=0, help="stop after N chunks (0: never)")
    dr = sub.add_parser("drawer", help="cash drawer").add_subparsers(
        dest="drawer_command", required=True
    )
    do = dr.add_parser("open", help="no-sale open (DRAWER_OPEN_NO_SALE, journaled)")
    do.add_argument("--reason", default="")


def _count(text: str) -> int:
    """argparse type of ``--count``: 0 (run until Ctrl-C) or more; a negative count
    stopped after the first event (``seen >= -1``) instead of being refused."""
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: 0 (until Ctrl-C) or more")
    return value


def _scan_timeout(text: str) -> int:
    """argparse type of ``test --timeout``: the API waits 1 to 300 seconds for a scan."""
    value = whole_number(text)
    if not 1 <= value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r}: 1 to 300 seconds")
    return value


def _note(args: argparse.Namespace, text: str) -> None:
    """A remark for the person watching (a header, lost events, a resumed stream): on
    stdout beside the text output, on stderr with ``--json`` so that stdout stays one
    JSON document per line for whatever reads it."""
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


def _enum(enum: object, value: int, prefix: str) -> str:
    name: str = enum.Name(value)  # type: ignore[attr-defined]
    return name.removeprefix(prefix).lower()


def _health(d: device_pb2.Device) -> str:
    if not d.health_checks:
        return "-"
    h = max(d.health_checks, key=lambda c: c.check_time.ToDatetime())
    return _enum(device_pb2.HealthStatus, h.status, "HEALTH_STATUS_")


def cmd_devices(
    args: argparse.Namespace,
    client: Callable[..., PosdClient],
    out: Callable[[argparse.Namespace, object, str], None],
) -> int:
    with client(args, login=True) as c:
        devices = c.list_devices()
    rows = [
        f"{'id':<28} {'alias':<9} {'class':<8} {'state':<7} {'online':<6} {'health':<8} transport"
    ]
    for d in devices:
        rows.append(
            f"{d.device_id[:28]:<28} {d.alias[:9]:<9} "
            f"{_enum(device_pb2.DeviceClass, d.device_class, 'DEVICE_CLASS_'):<8} "
            f"{_enum(device_pb2.DeviceState, d.state, 'DEVICE_STATE_'):<7} "
            f"{'yes' if d.online else 'no':<6} {_health(d):<8} {d.description}"
            + ("" if d.configured else "  (not configured)")
        )
    out(
        args, [MessageToDict(d, preserving_proto_field_name=True) for d in devices], "\n".join(rows)
    )
    return 0


def describe_event(e: device_pb2.Event) -> str:
    kind = e.WhichOneof("payload") or "?"
    p = getattr(e, kind) if kind != "?" else None
    if kind == "state_change" and p is not None:
        text = (
            f"{_enum(device_pb2.DeviceState, p.previous_state, 'DEVICE_STATE_')} -> "
            f"{_enum(device_pb2.DeviceState, p.state, 'DEVICE_STATE_')}"
            + (f" ({p.message})" if p.message else "")
        )
    elif kind == "status_update" and p is not None:
        text = _enum(device_pb2.DeviceStatusCode, p.status, "DEVICE_STATUS_CODE_")
        text += f" {p.message}" if p.message else ""
    elif kind == "error" and p is not None:
        text = f"{p.operation} failed: {p.code}: {p.message}"
    elif kind == "output_complete" and p is not None:
        text = f"{p.operation} done {p.detail}".rstrip()
    elif kind == "scan" and p is not None:
        route = _enum(device_pb2.ScanRoute, p.route, "SCAN_ROUTE_")
        text = f"{p.code} ({p.symbology}) -> {route}"
        text += f" {p.error_reason}: {p.error_message}" if p.error_reason else ""
    elif kind == "scan_rejected" and p is not None:
        text = f"rejected {p.reason}: {p.detail}"
    elif kind == "display_content" and p is not None:
        text = f"[{p.mode}] " + " | ".join(p.lines)
    elif kind == "sale" and p is not None:
        total = format_minor(p.total.amount_minor, p.total.currency_code)
        text = f"{p.kind} sale {p.sale_id[:8]} total {total} {p.total.currency_code}"
        if p.line_name:
            text += f" line {p.line_name!r}"
        if p.receipt_number:
            text += f" receipt {p.receipt_number}"
    else:
        text = ""
    when = e.event_time.ToDatetime(tzinfo=UTC).astimezone().strftime("%H:%M:%S.%f")[:-3]
    return f"{e.sequence:>6} {when} {kind:<15} {e.device_id or '-':<20} {text}"


def cmd_watch(
    args: argparse.Namespace,
    client: Callable[..., PosdClient],
    out: Callable[[argparse.Namespace, object, str], None],
) -> int:
    after: int | None = args.after
    boot = ""
    seen = 0
    with client(args, login=True) as c:
        while True:
            stream = c.subscribe_events(after_sequence=after, boot_id=boot, device_id=args.device)
            try:
                for resp in stream:
                    e = resp.event
                    if resp.lost_events:
                        _note(args, f"# {resp.lost_events} event(s) lost (left the replay window)")
                    if args.json:
                        print(json.dumps(MessageToDict(e, preserving_proto_field_name=True)))
                    else:
                        print(describe_event(e))
                    sys.stdout.flush()
                    after, boot = e.sequence, e.boot_id
                    seen += 1
                    if args.count and seen >= args.count:
                        _cancel(stream)
                        return 0
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code == grpc.StatusCode.CANCELLED:
                    return 0
                if code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                    _note(args, f"# stream interrupted ({code.name}); resuming after {after}")
                    time.sleep(0.5)
                    continue
                raise
            except KeyboardInterrupt:
                _cancel(stream)
                return 0


def _cancel(call: grpc.Call) -> None:
    call.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leave Call.cancel untyped


def _ask(args: argparse.Namespace, prompt: str) -> bool:
    """The technician's y/n, read from stdin. With ``--json`` the question goes to stderr
    (as ``_note`` does): input() writes it to stdout, before the JSON document."""
    question = f"{prompt} [y/n] "
    if args.json:
        print(question, end="", file=sys.stderr, flush=True)
        question = ""
    answer = input(question).strip().lower()
    return answer in ("y", "yes", "j", "ja")


def _pick(c: PosdClient, what: str, ref: str) -> device_pb2.Device:
    if ref:
        return c.get_device(ref)
    for d in c.list_devices():
        if d.device_class == CLASSES[what] and d.configured:
            return d
    raise PosdError(grpc.StatusCode.NOT_FOUND, "DEVICE_NOT_FOUND", f"no {what} device configured")


def cmd_test(
    args: argparse.Namespace,
    client: Callable[..., PosdClient],
    out: Callable[[argparse.Namespace, object, str], None],
) -> int:
    if args.direct:
        return direct_test(args, out)
    with client(args, login=True) as c:
        device = _pick(c, args.what, args.device)
        ref = device.device_id
        _note(args, f"testing {ref} ({device.description}) ...")
        check = c.check_health(
            ref, device_pb2.HEALTH_LEVEL_INTERACTIVE, timeout_seconds=args.timeout
        )
        if check.status != device_pb2.HEALTH_STATUS_PENDING_CONFIRMATION:
            _note(args, f"FAILED: {check.message}")
            return 1
        _note(args, check.message)
        ok = _ask(args, check.prompt)
        final = c.confirm_health_check(check.check_id, ok, "" if ok else "not as expected")
    passed = final.status == device_pb2.HEALTH_STATUS_OK
    out(
        args,
        MessageToDict(final, preserving_proto_field_name=True),
        f"{args.what} test {'passed' if passed else 'FAILED'}: {final.message}",
    )
    return 0 if passed else 1


def direct_test(
    args: argparse.Namespace, out: Callable[[argparse.Namespace, object, str], None]
) -> int:
    """Without the daemon: open the device's transport ourselves. Remarks go through
    ``_note`` and the verdict through ``out``: with ``--json`` stdout is one JSON
    document, as for the test through the daemon."""
    from posd_daemon.devices import manager as mgr  # noqa: PLC0415 (daemon side, optional)
    from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES  # noqa: PLC0415
    from posd_daemon.devices.errors import DeviceError  # noqa: PLC0415
    from posd_daemon.devices.escpos.profile import get_profile  # noqa: PLC0415
    from posd_daemon.devices.model import HealthLevel, HealthStatus  # noqa: PLC0415

    try:
        if args.what in ("print", "drawer"):
            printer = mgr.build_printer(
                "direct", args.direct, get_profile(args.profile or "generic-80mm"), poll_interval=0
            )
            device: mgr.ManagedDevice = printer
            if args.what == "drawer":
                device = mgr.build_drawer("direct", printer=printer)
                printer.worker.start()
        elif args.what == "display":
            name = args.profile or "epson-dm-d"
            if name not in BUILTIN_DISPLAY_PROFILES:
                known = ", ".join(sorted(BUILTIN_DISPLAY_PROFILES))
                raise ValueError(f"unknown display profile {name!r} (known: {known})")
            profile = BUILTIN_DISPLAY_PROFILES[name]
            device = mgr.build_display("direct", args.direct, profile)
        else:
            return _direct_scan(args, out)
        device.start()
        report = device.check_health(HealthLevel.INTERACTIVE).result(60)
    except (DeviceError, ValueError, KeyError) as exc:
        print(f"posctl: {exc}", file=sys.stderr)
        return 1
    try:
        if report.status is not HealthStatus.PENDING_CONFIRMATION:
            return _direct_verdict(args, out, False, report.message)
        ok = _ask(args, report.prompt)
        return _direct_verdict(args, out, ok, "" if ok else "not as expected")
    finally:
        device.stop()
        if args.what == "drawer":
            printer.stop()


def _direct_verdict(
    args: argparse.Namespace,
    out: Callable[[argparse.Namespace, object, str], None],
    passed: bool,
    message: str,
) -> int:
    """The result of ``test --direct``: text, or with ``--json`` one object on stdout."""
    text = f"{args.what} test {'passed' if passed else 'FAILED'} (direct, {args.direct})"
    data = {"what": args.what, "direct": args.direct, "passed": passed, "message": message}
    out(args, data, text + (f": {message}" if message else ""))
    return 0 if passed else 1


def _direct_scan(
    args: argparse.Namespace, out: Callable[[argparse.Namespace, object, str], None]
) -> int:
    from posd_daemon.devices import manager as mgr  # noqa: PLC0415
    from posd_daemon.devices.scanning import Code  # noqa: PLC0415

    got: list[Code] = []
    scanner = mgr.build_scanner("direct", args.direct)
    scanner.on_code = lambda _device, code: got.append(code)
    scanner.start()
    try:
        _note(args, f"scan a code within {args.timeout} s ...")
        deadline = time.monotonic() + args.timeout
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scanner.stop()
    if not got:
        why = f"no scan within {args.timeout} s ({scanner.last_error or 'no data'})"
        return _direct_verdict(args, out, False, why)
    ok = _ask(
        args, f"The scanner read {got[0].code!r} ({got[0].symbology}): is this the label's code?"
    )
    return _direct_verdict(args, out, ok, f"read {got[0].code!r} ({got[0].symbology})")


def cmd_device_status(
    args: argparse.Namespace,
    client: Callable[..., PosdClient],
    out: Callable[[argparse.Namespace, object, str], None],
) -> int:
    with client(args, login=True) as c:
        d = c.get_device(args.device_id)
    st = d.statistics
    rows = [
        f"device:      {d.device_id}" + (f" (alias {d.alias})" if d.alias else ""),
        f"class:       {_enum(device_pb2.DeviceClass, d.device_class, 'DEVICE_CLASS_')}",
        f"where:       {d.description}",
        f"url:         {d.url}",
        f"state:       {_enum(device_pb2.DeviceState, d.state, 'DEVICE_STATE_')}"
        f" ({'online' if d.online else 'OFFLINE'})",
        f"status:      {d.status_summary}",
    ]
    if d.last_error:
        rows.append(f"last error:  {d.last_error}")
    for flag in d.status_flags:
        rows.append(f"  {flag.name:<24} {'YES' if flag.value else 'no'}")
    if d.display_lines:
        rows.append("display shows:")
        rows += [f"  |{line}|" for line in d.display_lines]
    rows.append(
        f"statistics:  jobs {st.jobs}, lines {st.lines}, cuts {st.cuts}, drawer openings "
        f"{st.drawer_openings}, errors {st.errors}, scans {st.scans} "
        f"(+{st.scans_rejected} rejected), display updates {st.display_updates}, "
        f"online {st.online_seconds / 3600:.2f} h"
    )
    for h in d.health_checks:
        rows.append(
            f"health {_enum(device_pb2.HealthLevel, h.level, 'HEALTH_LEVEL_'):<12}"
            f"{_enum(device_pb2.HealthStatus, h.status, 'HEALTH_STATUS_'):<10} {h.message}"
        )
    out(args, MessageToDict(d, preserving_proto_field_name=True), "\n".join(rows))
    return 0


def hexdump_line(direction: str, when: datetime, data: bytes, offset: int = 0) -> list[str]:
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i : i + 16]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        stamp = when.astimezone().strftime("%H:%M:%S.%f")[:-3] if i == 0 else " " * 12
        lines.append(f"{stamp} {direction} {offset + i:06x}  {chunk.hex(' '):<47}  {text}")
    return lines


def cmd_monitor(
    args: argparse.Namespace,
    client: Callable[..., PosdClient],
    out: Callable[[argparse.Namespace, object, str], None],
) -> int:
    seen = 0
    with client(args, login=True) as c:
        device = c.get_device(args.device_id)
        _note(
            args, f"# monitoring {device.device_id} ({device.description}), read-only; Ctrl-C stops"
        )
        stream = c.monitor_device(args.device_id)
        try:
            for chunk in stream:
                direction = "->" if chunk.direction == device_pb2.TRAFFIC_DIRECTION_TX else "<-"
                if chunk.dropped:
                    _note(args, f"# {chunk.dropped} chunk(s) dropped")
                when = chunk.capture_time.ToDatetime(tzinfo=UTC)
                if args.json:
                    print(
                        json.dumps(
                            {"dir": direction, "time": when.isoformat(), "hex": chunk.data.hex()}
                        )
                    )
                else:
                    print("\n".join(hexdump_line(direction, when, chunk.data)))
                sys.stdout.flush()
                seen += 1
                if args.count and seen >= args.count:
                    _cancel(stream)
                    break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise
        except KeyboardInterrupt:
            _cancel(stream)
    return 0


def cmd_drawer_open(
    args: argparse.Namespace,
    client: Callable[..., PosdClient],
    out: Callable[[argparse.Namespace, object, str], None],
) -> int:
    with client(args, login=True) as c:
        r = c.open_drawer(args.reason)
    text = (
        f"drawer opened (job {r.job_id}, journal record {r.journal_sequence})"
        if r.kicked
        else f"drawer open queued as job {r.job_id}: {r.last_error or 'waiting for the printer'}"
    )
    out(args, MessageToDict(r, preserving_proto_field_name=True), text)
    return 0 if r.kicked else 1


DIRECT_HINT = (
    "\nWithout the daemon, test a device directly:\n"
    "  posctl test print --direct serial:///dev/ttyUSB0?baud=19200\n"
    "  posctl test display --direct serial:///dev/ttyUSB1 --profile cd5220\n"
    "  posctl test scan --direct evdev:///dev/input/by-id/usb-...-event-kbd"
)
