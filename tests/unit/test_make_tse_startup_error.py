"""The software TSE's directory made impossible after the config was checked (a file
put in its way): the start stops with a StartupError naming tse.software_dir (one line,
exit 1), not an OSError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.bootstrap import StartupError, make_tse
from posd_daemon.ops import config as cfgmod


def test_a_file_in_the_way_of_the_tse_directory_is_a_startup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory", encoding="utf-8")
    cfg = cfgmod.load(None, {"tse": {"backend": "software", "software_dir": str(blocker / "tse")}})
    with pytest.raises(StartupError) as err:
        make_tse(cfg)
    assert "tse.software_dir" in str(err.value)
    assert str(blocker / "tse") in str(err.value)
