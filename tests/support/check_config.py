"""``posd --check-config`` run as systemd's ExecStartPre would: a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def check_config(config: Path) -> subprocess.CompletedProcess[str]:
    """Runs ``posd --check-config --config CONFIG``; the caller reads its exit code and
    stderr (78 and a message naming the key for a bad configuration)."""
    return subprocess.run(
        [sys.executable, "-m", "posd_daemon.main", "--check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
