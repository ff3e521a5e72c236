"""posctl's command line against a test's daemon: its socket, state dir and the default
manager's credentials before the command's own arguments."""

from __future__ import annotations

from tests.conftest import Running


def posctl_args(running: Running, *args: str, socket: bool = True) -> list[str]:
    """``[--socket S] --state-dir D --operator 1 --pin 1234 *args``."""
    where = ["--socket", str(running.config.socket_path)] if socket else []
    return [
        *where,
        "--state-dir",
        str(running.config.state_dir),
        "--operator",
        "1",
        "--pin",
        "1234",
        *args,
    ]
