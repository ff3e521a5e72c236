"""``posctl receipts url N``: the digital receipt link of a posted receipt (to test it);
``posctl receipts revoke SALE_ID --reason TEXT``: revokes it (RevokeDigitalReceipt, through
the daemon like the other mutations).

Read from the database directly (read-only, like ``journal verify --db``; SQLite's WAL
lets it read beside the running daemon): the token is not part of the gRPC API, and
whoever may read the database file may read the receipts anyway. The base URL comes
from the same config file the daemon runs with (``--config``/``$POSD_CONFIG``).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posd_daemon.domain.digital_receipt import receipt_url
from posd_daemon.ops.config import ConfigError, load
from posd_daemon.store import digital_receipts
from posd_daemon.store.database import connect


def _base() -> Any:
    from posd_daemon.cli import posctl  # noqa: PLC0415 - posctl imports this module

    return posctl


def add_url_parser(receipts: Any) -> None:
    from posd_daemon.cli.posctl_day import whole_number  # noqa: PLC0415 - it imports this module

    p = receipts.add_parser("url", help="the receipt's digital receipt link (QR code URL)")
    p.add_argument("receipt_number", type=whole_number)
    p.add_argument("--db", type=Path, help="the database file (default: from the config)")
    p.add_argument("--register", default="", help="register id (default: from the config)")


def add_revoke_parser(receipts: Any) -> None:
    from posd_daemon.cli.posctl_day import whole_number  # noqa: PLC0415 - it imports this module

    p = receipts.add_parser("revoke", help="revoke a receipt's digital receipt link")
    # the number printed on the receipt, as ``receipts show`` and ``receipts url`` take it
    p.add_argument("receipt_number", type=whole_number)
    p.add_argument("--reason", required=True, help="why (in the journal), up to 200 characters")


def cmd_receipts_revoke(args: argparse.Namespace) -> int:
    base = _base()
    with base._client(args, login=True) as c:
        sale_id = c.get_receipt(receipt_number=args.receipt_number).sale.sale_id
        d = c.revoke_digital_receipt(sale_id, args.reason)
    data = {
        "receipt_number": d.receipt_number,
        "sale_id": d.sale_id,
        "revoked_at": d.revoke_time.ToDatetime(UTC).isoformat(),
        "reason": d.revoke_reason,
    }
    base._out(args, data, f"receipt {d.receipt_number}: digital receipt link revoked")
    return 0


def cmd_receipts_url(args: argparse.Namespace) -> int:
    base = _base()
    overrides = {"state": {"dir": args.state_dir}} if args.state_dir else None
    try:
        cfg = load(args.config, overrides)
    except ConfigError as exc:
        raise base.CliError(str(exc)) from None
    d = cfg.digital_receipt
    if not d.enabled:
        raise base.CliError(
            "digital receipts are off ([digital_receipt] enabled = false in the config;"
            " give the daemon's config with --config)"
        )
    path = args.db or cfg.database_path
    if not path.exists():
        raise base.CliError(f"{path}: no such database")
    register = args.register or cfg.register.id
    conn = connect(path, readonly=True)
    try:
        row = conn.execute(
            "SELECT sale_id FROM sales WHERE register_id = ? AND receipt_number = ?",
            (register, args.receipt_number),
        ).fetchone()
        if row is None:
            raise base.CliError(f"no receipt {args.receipt_number} on register {register}")
        found = digital_receipts.token_of(conn, str(row[0]), datetime.now(UTC))
    finally:
        conn.close()
    if found is None:
        raise base.CliError(
            f"receipt {args.receipt_number} has no valid link (posted before digital"
            " receipts were on, or its link expired or was revoked)"
        )
    token, expires = found
    url = receipt_url(d.base_url, token)
    data = {
        "receipt_number": args.receipt_number,
        "sale_id": str(row[0]),
        "url": url,
        "expires_at": expires.isoformat(),
    }
    base._out(args, data, url)
    return 0
