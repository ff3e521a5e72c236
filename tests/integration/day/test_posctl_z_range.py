"""``posctl export dsfinvk --z 0`` (or ``0-0``) sent the Z range 0-0, which the API reads
as "no Z range given": it exported every closing of the register instead of refusing a
Z number that cannot exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from posd.v1 import common_pb2

from posd_daemon.cli import posctl_day
from tests.integration.day.conftest import Day
from tests.integration.day.test_posctl_day import day_args
from tests.support.cash import close_as_expected


@pytest.mark.parametrize("z", ["0", "0-0"])
def test_z_number_zero_is_refused_not_read_as_every_closing(
    day: Day, tmp_path: Path, z: str
) -> None:
    day.pos.upsert_item("A", "Kaffee", 899)
    for _ in range(2):
        day.day.open_shift([])
        s = day.pos.create_sale()
        day.pos.add_line(s.sale_id, item_id="A")
        day.pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CARD, 899)
        day.pos.post_sale(s.sale_id)
        close_as_expected(day.day)
        day.day.z_closing()
    out = tmp_path / "z.zip"
    args = day_args(day, "export", "dsfinvk", "--z", z, str(out))
    with pytest.raises(posctl_day._base().CliError, match="--z"):
        posctl_day.cmd_export_dsfinvk(args)
    assert not out.exists()
