"""posctl commands for the register's day (hooked into ``cli/posctl.py``):

    posctl closing x [--print] | z [--business-date D] | show N | list [--limit N]
    posctl shift open|close [--count [CUR:]DENOM=PIECES ...] [--total [CUR:]AMOUNT ...]
                            [--currency CUR] | show [N]
    posctl cash in|out|transit|tip AMOUNT --reason TEXT [--in|--out] [--currency CHF]
    posctl export dsfinvk (--z A-B | --from DATE --to DATE) OUT      (OUT.zip or a directory)
    posctl export datev --from DATE --to DATE OUT                    (file or directory)
    posctl export cashbook --from DATE --to DATE OUT
    posctl receipts list [filters] | show N | url N | revoke N --reason TEXT

``add_commands(subparsers)`` adds the parsers; ``HANDLERS`` maps ``(command, sub)`` to a
handler; ``DESTS`` names the sub-command attributes (``args.closing_command`` …).
Amounts are decimal text (``12.50``), never floats; dates are ``YYYY-MM-DD`` (days on the
register's calendar, register.timezone) or full ISO-8601 times.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as dtime
from decimal import Decimal, DecimalException
from pathlib import Path
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.json_format import MessageToDict
from posd.v1 import closing_pb2, common_pb2

from posd_daemon.cli import posctl_digital
from posd_daemon.domain.money import CURRENCY_EXPONENTS, format_minor
from posd_daemon.domain.text import is_digits

DESTS = (
    "closing_command",
    "shift_command",
    "cash_command",
    "export_command",
    "receipts_command",
)


def _base() -> Any:
    from posd_daemon.cli import posctl  # noqa: PLC0415 - posctl imports this module

    return posctl


def _fail(message: str) -> Exception:
    err: Exception = _base().CliError(message)
    return err


#: the largest amount the API carries (int64 minor units)
MAX_MINOR = 2**63 - 1


#: an amount as a technician types it: ASCII digits, one decimal point or comma, perhaps
#: an exponent (read exactly). Not what Decimal() takes besides ("1_000", "NaN", "inf",
#: other scripts' digits): on a cash command those are typos, and a signed cash movement
#: cannot be taken back
AMOUNT_TEXT = re.compile(r"([+-]?)([0-9]*)(?:[.,]([0-9]*))?(?:[eE]([+-]?[0-9]+))?")


def amount(text: str, decimals: int = 2, *, said: str = "") -> int:
    """``12.50`` -> 1250 (minor units; ``decimals``: the currency's, ISO 4217).

    Decimal arithmetic, never a float. Without an exponent, more decimals than the
    currency has are refused, even zeros: "1.000" and "1,000" are one in one country and
    a thousand in another. ``said``: how an error names the argument (default: the
    text)."""
    said = said or repr(text)
    m = AMOUNT_TEXT.fullmatch(text.strip())
    if m is None or not (m.group(2) or m.group(3)):
        raise _fail(f"{said} is not an amount like 12.50")
    sign, whole, fraction, exponent = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    if exponent is None and len(fraction) > decimals:
        raise _fail(f"{said}: at most {decimals} decimals (no thousands separators)")
    try:
        value = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}E{exponent or '0'}")
        minor = value.scaleb(decimals)
    except DecimalException:  # beyond Decimal's exponent range (1e999999)
        raise _fail(f"{said} is too large for an amount") from None
    if not minor.is_finite() or abs(minor) > MAX_MINOR:
        raise _fail(f"{said} is too large for an amount")
    # scaleb() rounds a value below Decimal's smallest exponent to zero without a trap
    # (1e-999999999999999999): the way back must give the value typed
    if minor != minor.to_integral_value() or minor.scaleb(-decimals) != value:
        raise _fail(f"{said}: at most {decimals} decimals")
    return int(minor)


def whole_number(text: str) -> int:
    """argparse type: a whole number the API carries (int64)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if abs(value) > MAX_MINOR:
        raise argparse.ArgumentTypeError(f"{text!r} is too large")
    return value


def limit(text: str) -> int:
    """argparse type of ``--limit``: at least 1."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return value


def when(text: str, *, end: bool = False, zone: tzinfo = UTC) -> datetime:
    """A date (a whole day on the register's calendar, ``zone``: from its midnight;
    ``end``: to the next day's) or an ISO-8601 time (without an offset: the register's
    wall clock)."""
    try:
        try:
            # any date form (2024-01-01, 20240101, 2024-W01-1) is the whole day: read as
            # a time, "--to 20240101" would end where that day begins
            day: date | None = date.fromisoformat(text)
        except ValueError:
            day = None
        if day is not None:
            day += timedelta(days=1 if end else 0)
            t = datetime.combine(day, dtime(0), tzinfo=zone)
        else:
            t = datetime.fromisoformat(text)
            t = t if t.tzinfo else t.replace(tzinfo=zone)
        t.astimezone(UTC)  # the API's times are UTC: it must be one
    except ValueError:
        raise _fail(f"{text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    except OverflowError:  # 9999-12-31 as an end (to the next day), year 1 east of UTC
        raise _fail(f"{text!r} is out of range (years 1 to 9999)") from None
    return t


def _zone(args: argparse.Namespace) -> tzinfo:
    """The register's time zone, from the daemon's config (register.timezone); the
    config is read once per command however many dates it has."""
    zone: tzinfo | None = getattr(args, "register_zone", None)
    if zone is None:
        zone = _base().register_zone(args)
        args.register_zone = zone
    return zone


def _currency(args: argparse.Namespace, given: str = "") -> tuple[str, int]:
    """The currency of an amount on the command line (``given``, else the register's)
    and its decimals. Sent as such, so the daemon books what posctl read."""
    currency = given.strip().upper()
    if not currency:
        currency = getattr(args, "register_currency", "") or _base().register_currency(args)
        args.register_currency = currency
    return currency, CURRENCY_EXPONENTS.get(currency, 2)


def _local(args: argparse.Namespace, ts: timestamp_pb2.Timestamp) -> str:
    """A time of the API (UTC) on the register's wall clock (register.timezone), as
    receipts and slips print it and as posctl reads dates; a config posctl cannot read,
    or a register reached with --target whose zone is not known here (no --zone), leaves
    UTC, said as such."""
    when = ts.ToDatetime(tzinfo=UTC)
    zone: tzinfo | None = getattr(args, "register_zone", None)
    if zone is None and not getattr(args, "register_zone_unknown", False):
        try:
            zone = _zone(args)
        except _base().CliError:
            args.register_zone_unknown = True  # once per command, not once per row
    if zone is None:
        return f"{when:%Y-%m-%d %H:%M:%S} UTC"
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M:%S}"


def _m(msg: common_pb2.Money) -> str:
    return f"{format_minor(msg.amount_minor, msg.currency_code)} {msg.currency_code}"


def _dict(msg: Any) -> dict[str, Any]:
    out: dict[str, Any] = MessageToDict(msg, preserving_proto_field_name=True)
    return out


def add_commands(sub: Any) -> None:
    cl = sub.add_parser("closing", help="X report, Z closing (Kassenabschluss)")
    cls = cl.add_subparsers(dest="closing_command", required=True)
    x = cls.add_parser("x", help="interim report of the open period (changes nothing)")
    x.add_argument(
        "--print", action="store_true", help="also print it (as of now) on the receipt printer"
    )
    z = cls.add_parser("z", help="Z closing: closes the period, prints and stores it")
    z.add_argument("--business-date", default="", help="YYYY-MM-DD when not today")
    sh = cls.add_parser("show", help="one Z closing")
    sh.add_argument("z_nr", type=whole_number)
    ls = cls.add_parser("list", help="Z closings, newest first")
    ls.add_argument("--limit", type=limit, default=30)

    sf = sub.add_parser("shift", help="shifts and cash counts")
    sfs = sf.add_subparsers(dest="shift_command", required=True)
    for name, text in (("open", "open a shift with the counted float"), ("close", "close it")):
        p = sfs.add_parser(name, help=text)
        p.add_argument(
            "--count",
            action="append",
            default=[],
            metavar="[CUR:]DENOM=PIECES",
            help="coins/notes, e.g. 5000=2 (2 x 50.00) or 0.50=12, CHF:1000=3 for another"
            " currency; repeat",
        )
        p.add_argument(
            "--total",
            action="append",
            default=[],
            metavar="[CUR:]AMOUNT",
            help="a counted total without denominations, e.g. 150.00 or CHF:20.00; one"
            " per currency, repeat for each (added to that currency's --count lines)",
        )
        p.add_argument(
            "--currency",
            default="",
            help="the currency of every --count/--total (then without CUR: prefixes);"
            " default: a value's CUR: prefix, else the register currency",
        )
        if name == "close":
            p.add_argument(
                "--shift",
                type=whole_number,
                default=0,
                metavar="N",
                help="close shift N (as `shift show` showed it) or nothing, should"
                " another shift be open by now; default: whichever is open",
            )
    ss = sfs.add_parser("show", help="the open (or last) shift, or shift N")
    ss.add_argument("shift_id", type=whole_number, nargs="?", default=0)

    ca = sub.add_parser("cash", help="cash movements (signed, printed, drawer opens)")
    cas = ca.add_subparsers(dest="cash_command", required=True)
    for name, text in (
        ("in", "Einlage: cash into the drawer"),
        ("out", "Entnahme: cash out of the drawer"),
        ("transit", "Geldtransit: --out to the safe/bank, --in back from it"),
        ("tip", "Trinkgeld: --in received, --out paid out to the employee"),
    ):
        p = cas.add_parser(name, help=text)
        p.add_argument("amount", help="e.g. 50.00")
        p.add_argument("--reason", required=True)
        p.add_argument(
            "--currency",
            default="",
            help="foreign cash the shop takes, e.g. CHF (default: the register currency)",
        )
        if name in ("transit", "tip"):
            g = p.add_mutually_exclusive_group(required=True)
            g.add_argument("--in", dest="direction_in", action="store_true")
            g.add_argument("--out", dest="direction_out", action="store_true")

    ex = sub.add_parser("export", help="DSFinV-K, DATEV Kassenbuch, extended cash book")
    exs = ex.add_subparsers(dest="export_command", required=True)
    d = exs.add_parser("dsfinvk", help="DSFinV-K export of Z closings")
    d.add_argument("--z", default="", help="Z range, e.g. 1-31 (or one number)")
    d.add_argument("--from", dest="start", default="")
    d.add_argument("--to", dest="end", default="")
    d.add_argument("out", type=Path, help="OUT.zip, or a directory to unpack into")
    for name, text in (
        ("datev", "DATEV Kassenbuch online: cash movements"),
        ("cashbook", "extended cash book: all receipts per payment method"),
    ):
        p = exs.add_parser(name, help=text)
        p.add_argument("--from", dest="start", required=True)
        p.add_argument("--to", dest="end", required=True)
        p.add_argument("out", type=Path, help="file, or a directory for several parts")

    rc = sub.add_parser("receipts", help="the receipt archive")
    rcs = rc.add_subparsers(dest="receipts_command", required=True)
    rl = rcs.add_parser("list", help="posted receipts, newest first")
    rl.add_argument("--number-from", type=whole_number, default=0)
    rl.add_argument("--number-to", type=whole_number, default=0)
    rl.add_argument("--from", dest="start", default="")
    rl.add_argument("--to", dest="end", default="")
    rl.add_argument("--min", dest="gross_min", default="")
    rl.add_argument("--max", dest="gross_max", default="")
    rl.add_argument("--method", choices=("cash", "card"), default=None)
    rl.add_argument("--operator", dest="by_operator", default="")
    rl.add_argument("--limit", type=limit, default=50)
    rs = rcs.add_parser("show", help="one receipt in full")
    rs.add_argument("receipt_number", type=whole_number)
    posctl_digital.add_url_parser(rcs)
    posctl_digital.add_revoke_parser(rcs)


# -- closing ----------------------------------------------------------------------------


def _payment_rows(payments: Any) -> list[str]:
    rows: list[str] = []
    for p in payments:
        rows.append(f"  {p.name:<14} {_m(p.amount)}  ({p.count})")
        if p.refund_count:
            rows.append(f"    refunds {p.refund_count:<6} {_m(p.refunds)}")
    return rows


def report_text(r: closing_pb2.ClosingReport) -> str:
    title = f"Z closing {r.z_nr}" if r.z_nr else "X report (interim, nothing closed)"
    rows = [
        title,
        f"register {r.register_id}, Vorgänge {r.first_bon_id}-{r.last_bon_id}",
        f"receipts {r.receipts}, aborted {r.aborted}, cash movements {r.cash_movements},"
        f" late {r.late}, outside a shift {r.outside_shift}",
        f"gross            {_m(r.gross)}",
        "payment methods:",
        *_payment_rows(r.payments),
    ]
    if r.payment_gateways:
        rows.append("payment gateways:")
        rows += _payment_rows(r.payment_gateways)
    rows.append("VAT:")
    rows += [
        f"  {v.vat_rate:>5}%  gross {_m(v.gross)}  net {_m(v.net)}  tax {_m(v.tax)}"
        for v in r.vat_totals
    ]
    rows.append("business cases:")
    rows += [
        f"  {c.business_case.lower():<18} {c.count:>5}  {_m(c.gross)}" for c in r.business_cases
    ]
    rows.append("operators:")
    rows += [
        f"  {o.operator_id:<10} {o.receipts:>5} receipts  {_m(o.gross)}  cash {_m(o.cash)}"
        for o in r.operators
    ]
    if r.cash_balances:
        rows.append("cash expected / counted / difference:")
        rows += [
            f"  {b.currency_code}: {_m(b.expected)} / {_m(b.counted)} / {_m(b.difference)}"
            for b in r.cash_balances
        ]
    if r.open_shift_expected_cash:
        rows.append(
            "open shift, expected cash: " + ", ".join(_m(x) for x in r.open_shift_expected_cash)
        )
    return "\n".join(rows)


def cmd_closing_x(args: argparse.Namespace) -> int:
    printing = bool(getattr(args, "print", False))
    with _base()._client(args, login=True) as c:
        r = c.print_x_report() if printing else c.x_report()
    text = report_text(r) + ("\nqueued for the printer" if printing else "")
    _base()._out(args, _dict(r), text)
    return 0


def cmd_closing_z(args: argparse.Namespace) -> int:
    with _base()._client(args, login=True) as c:
        z = c.z_closing(args.business_date)
    text = f"Z closing {z.z_nr} created ({z.business_date})\n" + report_text(z.report)
    _base()._out(args, _dict(z), text)
    return 0


def cmd_closing_show(args: argparse.Namespace) -> int:
    with _base()._client(args, login=True) as c:
        z = c.get_closing(args.z_nr)
    _base()._out(args, _dict(z), f"business date {z.business_date}\n" + report_text(z.report))
    return 0


def cmd_closing_list(args: argparse.Namespace) -> int:
    rows = [f"{'Z':>5}  {'business day':<12} {'receipts':>8}  {'gross':>14}  created"]
    found = []
    with _base()._client(args, login=True) as c:
        for z in c.list_closings(page_size=min(args.limit, 500)):
            found.append(z)
            rows.append(
                f"{z.z_nr:>5}  {z.business_date:<12} {z.report.receipts:>8}  "
                f"{_m(z.report.gross):>14}  {_local(args, z.create_time)}"
            )
            if len(found) >= args.limit:
                break
    if not found:
        rows.append("(no closings)")
    _base()._out(args, [_dict(z) for z in found], "\n".join(rows))
    return 0


# -- shifts -------------------------------------------------------------------------------


#: ``CUR:`` before a count or total: the currency it is in (ISO 4217's three letters)
CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


def _known_currency(code: str, said: str) -> str:
    """``code`` (any case) as a currency posd keeps, or one clear error: the daemon
    would refuse it, and its decimals (those of ISO 4217) are needed to read an amount
    in it."""
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise _fail(f"{said}: unknown currency {upper!r} (known: {known})")
    return upper


def _count_values(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    """``(option, as typed, currency, value)`` of every --count and --total: the
    currency of a ``CUR:`` prefix, else of --currency, else the register's. A prefix
    beside --currency is refused: whether --currency was meant for every value or the
    prefix for its own is a guess, and a count booked in the wrong currency is a signed
    difference of its whole amount."""
    typed = [("--count", item) for item in args.count]
    typed += [("--total", item) for item in args.total]
    given = args.currency.strip()
    values = []
    for option, item in typed:
        head, sep, rest = item.partition(":")
        currency = ""
        if sep:
            if not CURRENCY_CODE.fullmatch(head.strip()):
                raise _fail(
                    f"{option} {item!r}: a currency goes first as its three letters,"
                    " e.g. CHF:20.00 or CHF:1000=3"
                )
            currency = _known_currency(head, f"{option} {item!r}")
            if given:
                raise _fail(
                    f"{option} {item!r}: a currency prefix and --currency {given} together;"
                    " name the currency of each value by its prefix, or all by --currency"
                )
        values.append((option, item, currency, rest if sep else item))
    if any(not currency for _, _, currency, _ in values):
        if given:
            _known_currency(given, f"--currency {given!r}")
        default, _ = _currency(args, given)
        values = [(o, i, c or default, v) for o, i, c, v in values]
    return values


def _counts(args: argparse.Namespace) -> list[closing_pb2.CashCount]:
    """The count lines of ``shift open|close``, any number of currencies in one call: a
    shared drawer opens and closes only with a line for every currency it holds
    (COUNT_MISSING_CURRENCY). Checked whole before anything is sent."""
    out = []
    totals: dict[str, str] = {}
    for option, item, currency, text in _count_values(args):
        decimals = CURRENCY_EXPONENTS.get(currency, 2)
        if option == "--total":
            if currency in totals:
                # two totals of one currency would be added up by the daemon: a line
                # typed twice, or meant for another currency, would count cash that is
                # not there
                raise _fail(
                    f"--total {item!r}: a second total for {currency} (after"
                    f" {totals[currency]!r}); give one total per currency"
                )
            totals[currency] = item
            minor = amount(text, decimals, said=f"--total {item!r}")
            out.append(closing_pb2.CashCount(currency_code=currency, total_minor=minor))
            continue
        denom, sep, pieces = text.partition("=")
        decimal = "." in denom or "," in denom
        if not sep or not is_digits(pieces) or not (decimal or is_digits(denom)):
            raise _fail(
                f"--count {item!r}: use [CUR:]DENOMINATION=PIECES, e.g. 5000=2, 0.50=12"
                " or CHF:1000=3"
            )
        value = amount(denom, decimals, said=f"--count {item!r}") if decimal else int(denom)
        if max(value, int(pieces)) > MAX_MINOR:
            raise _fail(f"--count {item!r}: too large")
        out.append(
            closing_pb2.CashCount(
                currency_code=currency, denomination_minor=value, pieces=int(pieces)
            )
        )
    return out


def shift_text(args: argparse.Namespace, s: closing_pb2.Shift) -> str:
    state = "open" if s.state == closing_pb2.SHIFT_STATE_OPEN else "closed"
    rows = [
        f"shift {s.shift_id} ({state}), register {s.register_id}",
        f"opened {_local(args, s.open_time)} by {s.opened_by}",
    ]
    if s.HasField("close_time"):
        rows.append(f"closed {_local(args, s.close_time)} by {s.closed_by}")
    for b in s.balances:
        rows.append(
            f"{b.currency_code}: opening {_m(b.opening)}, expected {_m(b.expected)},"
            f" counted {_m(b.counted)}, difference {_m(b.difference)}"
        )
    if s.expected_cash:
        rows.append("expected cash now: " + ", ".join(_m(x) for x in s.expected_cash))
    return "\n".join(rows)


def cmd_shift_open(args: argparse.Namespace) -> int:
    counts = _counts(args)  # a typo is said before logging in
    with _base()._client(args, login=True) as c:
        s = c.open_shift(counts)
    _base()._out(args, _dict(s), shift_text(args, s))
    return 0


def cmd_shift_close(args: argparse.Namespace) -> int:
    counts = _counts(args)  # a typo is said before logging in
    with _base()._client(args, login=True) as c:
        s = c.close_shift(counts, shift_id=args.shift)
    _base()._out(args, _dict(s), shift_text(args, s))
    return 0


def cmd_shift_show(args: argparse.Namespace) -> int:
    with _base()._client(args, login=True) as c:
        s = c.get_shift(args.shift_id)
    _base()._out(args, _dict(s), shift_text(args, s))
    return 0


# -- cash movements ------------------------------------------------------------------------

_KINDS = {
    "in": closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT,
    "out": closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL,
    "transit": closing_pb2.CASH_MOVEMENT_KIND_TRANSIT,
    "tip": closing_pb2.CASH_MOVEMENT_KIND_TIP,
}


def cmd_cash(args: argparse.Namespace) -> int:
    direction = 0
    if getattr(args, "direction_in", False):
        direction = closing_pb2.CASH_DIRECTION_IN
    elif getattr(args, "direction_out", False):
        direction = closing_pb2.CASH_DIRECTION_OUT
    currency, decimals = _currency(args, args.currency)
    minor = amount(args.amount, decimals)  # a typo is said before logging in
    with _base()._client(args, login=True) as c:
        m = c.add_cash_movement(
            _KINDS[args.cash_command], minor, args.reason, direction=direction, currency=currency
        )
    text = (
        f"cash movement K{m.number} (BON_ID {m.bon_id}, {m.gv_typ}): {_m(m.amount)}"
        f" - TSE {m.tse.state or 'none'}"
    )
    _base()._out(args, _dict(m), text)
    return 0


# -- exports --------------------------------------------------------------------------------


def cmd_export_dsfinvk(args: argparse.Namespace) -> int:
    z_from = z_to = 0
    if args.z:
        a, _, b = args.z.partition("-")
        if not is_digits(a) or (b and not is_digits(b)):
            raise _fail("--z: a Z number or range like 1-31")
        z_from, z_to = int(a), int(b or a)
        if z_to > MAX_MINOR or z_from > MAX_MINOR:
            raise _fail(f"--z {args.z}: too large")
        if z_from < 1:
            # Z numbers start at 1; the API reads a range 0-0 as "no Z range given"
            # (every closing), so it must not be sent
            raise _fail(f"--z {args.z}: Z numbers start at 1")
    elif not (args.start and args.end):
        raise _fail("give --z A-B or --from DATE --to DATE")
    start = when(args.start, zone=_zone(args)) if args.start else None
    end = when(args.end, end=True, zone=_zone(args)) if args.end else None
    out: Path = args.out
    as_zip = out.suffix.lower() == ".zip"
    # the output is checked before the export is fetched (a long one on a big day)
    if as_zip:
        _base().not_a_directory(out)
    elif out.exists() and not out.is_dir():
        raise _fail(f"{out}: not a directory: give a directory to unpack into, or OUT.zip")
    with _base()._client(args, login=True) as c:
        data = c.export_dsfinvk(z_from=z_from, z_to=z_to, start=start, end=end)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            files = len(zf.namelist())
            if as_zip:
                _base().write_file(out, data)
            else:
                _unpack(zf, out)
    except zipfile.BadZipFile:
        raise _fail("the daemon's DSFinV-K export is no ZIP archive: nothing written") from None
    _base()._out(
        args,
        {"out": str(out), "bytes": len(data), "files": files},
        f"wrote the DSFinV-K export ({files} files, {len(data)} bytes) to {out}",
    )
    return 0


def _unpack(zf: zipfile.ZipFile, out: Path) -> None:
    """The export's files into the directory ``out``, all or none: unpacked into a
    temporary directory first, then moved in by rename. Unpacked in place, a full disk
    left a directory of some of the files, which looks like a whole export to whoever
    archives it."""
    # in or beside ``out``: the same file system, so that the renames below cannot fail
    # half-way for want of space (in it when it exists: ``.`` has no name to put beside);
    # mkdir (not mkdtemp) gives the directory the umask's mode
    unique = uuid.uuid4().hex[:12]
    if out.is_dir():
        tmp = out / f".dsfinvk.{unique}.part"
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.{unique}.part"
    tmp.mkdir()
    try:
        zf.extractall(tmp)
        if not out.exists():
            tmp.rename(out)  # the whole export appears at once
            return
        # into an existing directory (a previous export's files are replaced): what is
        # in the way is said before any file is moved
        names = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if not p.is_dir())
        for name in names:
            if (out / name).is_dir():
                raise _fail(f"{out / name}: is a directory: nothing written")
        for name in names:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).replace(out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after the rename


def _write_files(args: argparse.Namespace, files: list[closing_pb2.ExportFile]) -> int:
    """The export's files to ``args.out`` (one file: that file, else a directory of
    them), all or none: each written to ``<name>.part`` first and renamed only once all
    are written, so that a full disk or a file in the way leaves neither a truncated
    export under its name nor a previous export half-overwritten."""
    out: Path = args.out
    if len(files) == 1 and not out.is_dir():
        targets = [out]
    else:
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / f.name for f in files]
    for target in targets:
        if target.is_dir():
            raise _fail(f"{target}: is a directory: nothing written")
    parts = [t.with_name(t.name + ".part") for t in targets]
    try:
        for f, part in zip(files, parts, strict=True):
            part.write_bytes(f.content)
        for part, target in zip(parts, targets, strict=True):
            part.replace(target)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    written = [str(t) for t in targets]
    _base()._out(args, {"files": written}, "wrote " + ", ".join(written))
    return 0


def _check_out(out: Path) -> None:
    """The output of a DATEV or cash book export checked before it is fetched (a year of
    a busy register takes minutes): a directory takes the parts; otherwise a file in a
    directory that exists, and not a socket or device the rename would replace."""
    if not out.is_dir():
        _base().not_a_directory(out)


def cmd_export_datev(args: argparse.Namespace) -> int:
    _check_out(args.out)
    with _base()._client(args, login=True) as c:
        files = c.export_datev(
            when(args.start, zone=_zone(args)), when(args.end, end=True, zone=_zone(args))
        )
    return _write_files(args, files)


def cmd_export_cashbook(args: argparse.Namespace) -> int:
    _check_out(args.out)
    with _base()._client(args, login=True) as c:
        files = c.export_cash_book(
            when(args.start, zone=_zone(args)), when(args.end, end=True, zone=_zone(args))
        )
    return _write_files(args, files)


# -- receipts -----------------------------------------------------------------------------


def cmd_receipts_list(args: argparse.Namespace) -> int:
    req = closing_pb2.ListReceiptsRequest(
        page_size=min(args.limit, 500),
        receipt_number_from=args.number_from,
        receipt_number_to=args.number_to,
        operator_id=args.by_operator,
    )
    if args.start:
        req.start_time.FromDatetime(when(args.start, zone=_zone(args)))
    if args.end:
        req.end_time.FromDatetime(when(args.end, end=True, zone=_zone(args)))
    if args.gross_min or args.gross_max:
        # receipt totals are in the register currency: its decimals
        currency, decimals = _currency(args)
        for text, field in ((args.gross_min, req.gross_min), (args.gross_max, req.gross_max)):
            if text:
                field.CopyFrom(
                    common_pb2.Money(amount_minor=amount(text, decimals), currency_code=currency)
                )
    if args.method:
        req.payment_method = (
            common_pb2.PAYMENT_METHOD_CASH
            if args.method == "cash"
            else common_pb2.PAYMENT_METHOD_CARD
        )
    found: list[closing_pb2.ReceiptSummary] = []
    with _base()._client(args, login=True) as c:
        while len(found) < args.limit:
            resp = c.list_receipts(req)
            found += resp.receipts
            if not resp.next_page_token:
                break
            req.page_token = resp.next_page_token
    found = found[: args.limit]
    rows = [f"{'receipt':>8}  {'posted':<19} {'total':>14}  {'operator':<8} {'Z':>4}  methods"]
    for r in found:
        methods = ",".join(
            common_pb2.PaymentMethod.Name(m).removeprefix("PAYMENT_METHOD_").lower()
            for m in r.payment_methods
        )
        rows.append(
            f"{r.receipt_number:>8}  {_local(args, r.post_time)} "
            f"{_m(r.total):>14}  {r.operator_id:<8} {r.z_nr or '-':>4}  {methods}"
        )
    if not found:
        rows.append("(no receipts)")
    _base()._out(args, [_dict(r) for r in found], "\n".join(rows))
    return 0


def cmd_receipts_show(args: argparse.Namespace) -> int:
    with _base()._client(args, login=True) as c:
        r = c.get_receipt(receipt_number=args.receipt_number)
    s = r.sale
    rows = [
        f"receipt {s.receipt_number} (BON_ID {r.bon_id}, Z {r.z_nr or '-'}, shift"
        f" {r.shift_id or '-'}{', late' if r.late else ''})",
        f"posted {_local(args, s.post_time)} by {s.operator_id}",
        *[f"  {ln.quantity} x {ln.name:<24} {_m(ln.total)}" for ln in s.lines],
        f"total {_m(s.total)}",
        *[
            f"  {common_pb2.PaymentMethod.Name(p.method).removeprefix('PAYMENT_METHOD_').lower()}"
            f" {_m(p.amount)}"
            for p in s.payments
        ],
        f"TSE: {s.tse.state or 'none'} tx {s.tse.transaction_number} sig-counter"
        f" {s.tse.signature_counter}",
        "prints: "
        + ", ".join(f"#{j.job_id} {j.kind}{' (copy)' if j.copy else ''}" for j in r.print_history),
    ]
    _base()._out(args, _dict(r), "\n".join(rows))
    return 0


HANDLERS: dict[tuple[str, str | None], Callable[[argparse.Namespace], int]] = {
    ("closing", "x"): cmd_closing_x,
    ("closing", "z"): cmd_closing_z,
    ("closing", "show"): cmd_closing_show,
    ("closing", "list"): cmd_closing_list,
    ("shift", "open"): cmd_shift_open,
    ("shift", "close"): cmd_shift_close,
    ("shift", "show"): cmd_shift_show,
    ("cash", "in"): cmd_cash,
    ("cash", "out"): cmd_cash,
    ("cash", "transit"): cmd_cash,
    ("cash", "tip"): cmd_cash,
    ("export", "dsfinvk"): cmd_export_dsfinvk,
    ("export", "datev"): cmd_export_datev,
    ("export", "cashbook"): cmd_export_cashbook,
    ("receipts", "list"): cmd_receipts_list,
    ("receipts", "show"): cmd_receipts_show,
    ("receipts", "url"): posctl_digital.cmd_receipts_url,
    ("receipts", "revoke"): posctl_digital.cmd_receipts_revoke,
}


def subcommand(args: argparse.Namespace) -> str | None:
    """The sub-command of one of these commands (None for others)."""
    for dest in DESTS:
        value = getattr(args, dest, None)
        if value:
            return str(value)
    return None
