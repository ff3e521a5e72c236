"""`posctl tse verify-export` on a large export: memory grows by a few hundred bytes per
log message, not by the files and parsed messages held all at once (some 2.9 KB per
message, so a year of a busy register, 600,000 messages, needed gigabytes, more than a
register has). Measured with tracemalloc on a real software-TSE export of 500 sales."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

from posd_daemon.fiscal.software_tse import SoftwareTse
from posd_daemon.fiscal.verify_export import verify_export

RECEIPT = b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar"


def test_a_large_export_is_verified_in_little_memory(tmp_path: Path) -> None:
    tse = SoftwareTse(tmp_path / "tse")
    try:
        tse.register_client("K1")
        for _ in range(500):
            r = tse.start_transaction("K1", "Kassenbeleg-V1", b"")
            tse.finish_transaction("K1", r.transaction_number, "Kassenbeleg-V1", RECEIPT)
        out = io.BytesIO()
        tse.export(out)
    finally:
        tse.close()
    tar = out.getvalue()
    tracemalloc.start()
    try:
        report = verify_export(io.BytesIO(tar))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.summary()
    assert report.log_messages >= 1000 and report.complete_transactions == 500
    # the archive itself (~1 MB) is the caller's; what verifying it adds stays small
    assert peak < 800 * report.log_messages, (peak, report.log_messages)
