"""The register's zone as the daemon tells it (GetStatusResponse.timezone): an IANA
name, or "" for a zone read from a file without one."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

from posd_daemon.ops.timezone import zone_name


def test_zone_names() -> None:
    assert zone_name(UTC) == "UTC"
    assert zone_name(ZoneInfo("Europe/Berlin")) == "Europe/Berlin"
    berlin = Path("/usr/share/zoneinfo/Europe/Berlin")
    with berlin.open("rb") as f:
        assert zone_name(ZoneInfo.from_file(f, key="localtime")) == ""
    with berlin.open("rb") as f:
        assert zone_name(ZoneInfo.from_file(f, key=str(berlin))) == ""
