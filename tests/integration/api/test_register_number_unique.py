"""Register numbers are unique per shop: the parking slip's code carries the register
number, so two registers of one shop with one number print the same codes and a scan
resumes the wrong sale (or asks the wrong register)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import structlog
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import shop_pb2

from tests.conftest import Running, running_daemon
from tests.support.fullsale import update_shop


def upsert(pos: PosdClient, reg: str, number: int, shop: str = "SHOP-1") -> shop_pb2.Register:
    r = shop_pb2.Register(register_id=reg, shop_id=shop, register_number=number)
    req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
    return pos.call(pos.shops.UpsertRegister, req).register


def numbers(running: Running) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(running.config.database_path) as db:
        rows = db.execute("SELECT register_id, shop_id, register_number FROM registers")
        return {r[0]: (r[1], r[2]) for r in rows}


def test_a_second_register_with_a_taken_number_is_refused_naming_the_holder(
    running: Running, pos: PosdClient
) -> None:
    own = pos.call(pos.shops.GetRegister, shop_pb2.GetRegisterRequest()).register
    upsert(pos, own.register_id, 3)
    upsert(pos, "K7", 7)
    before = numbers(running)
    with pytest.raises(PosdError) as err:
        upsert(pos, "K8", 7)
    assert err.value.reason == "REGISTER_NUMBER_TAKEN"
    assert "K7" in str(err.value)
    with pytest.raises(PosdError) as err:
        upsert(pos, "K7", 3)  # an existing register moved onto a taken number
    assert err.value.reason == "REGISTER_NUMBER_TAKEN"
    assert own.register_id in str(err.value)
    assert numbers(running) == before  # nothing changed
    # its own number again, another free number, and the same number in another shop
    upsert(pos, "K7", 7)
    upsert(pos, "K7", 9)
    upsert(pos, "K8", 7)
    s = update_shop(pos)
    s.shop_id = "SHOP-2"
    pos.call(pos.shops.UpsertShop, shop_pb2.UpsertShopRequest(request_id=new_request_id(), shop=s))
    upsert(pos, "A1", 3, shop="SHOP-2")
    assert numbers(running)["A1"] == ("SHOP-2", 3)


def test_an_import_refuses_the_row_that_repeats_a_number(running: Running, pos: PosdClient) -> None:
    rows = [
        shop_pb2.Register(register_id="K2", shop_id="SHOP-1", register_number=2),
        shop_pb2.Register(register_id="K3", shop_id="SHOP-1", register_number=2),
    ]
    req = shop_pb2.ImportRegistersRequest(request_id=new_request_id(), registers=rows)
    summary = pos.call(pos.shops.ImportRegisters, req).summary
    assert not summary.committed
    assert [(r.row, r.key, r.reason) for r in summary.rejections] == [
        (2, "K3", "REGISTER_NUMBER_TAKEN")
    ]
    assert "K2" not in numbers(running)


def test_the_number_a_register_got_at_first_start_does_not_block_the_store_list(
    running: Running, pos: PosdClient
) -> None:
    """A new register creates itself with number 1 at its first start, before anyone told
    it its number; the back office then sends the store's registers (K1 = 1, ...,
    this one = 2). That number was never given: it does not block register 1, and the
    register takes the lowest free number until it is given one."""
    own = pos.call(pos.shops.GetRegister, shop_pb2.GetRegisterRequest()).register
    assert own.register_number == 1
    upsert(pos, "K1", 1)
    own_now = pos.call(pos.shops.GetRegister, shop_pb2.GetRegisterRequest()).register
    assert own_now.register_number == 2  # not K1's slips
    upsert(pos, own.register_id, 5)
    assert numbers(running)[own.register_id] == ("SHOP-1", 5)
    with pytest.raises(PosdError) as err:
        upsert(pos, "K9", 5)  # given now: it counts
    assert err.value.reason == "REGISTER_NUMBER_TAKEN"


def test_a_duplicate_already_in_the_database_is_reported_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_daemon(state) as running, running.client() as pos:
        own = pos.call(pos.shops.GetRegister, shop_pb2.GetRegisterRequest()).register
        upsert(pos, own.register_id, 4)
        upsert(pos, "K4", 6)
    with sqlite3.connect(running.config.database_path) as db:  # written before the check
        db.execute("UPDATE registers SET register_number = 4 WHERE register_id = 'K4'")
    with (
        structlog.testing.capture_logs() as logs,
        running_daemon(state) as again,
        again.client() as pos,
    ):
        # it starts and sells; the warning says what to mend
        own = pos.call(pos.shops.GetRegister, shop_pb2.GetRegisterRequest()).register
        assert own.register_number == 4
    warned = [e for e in logs if e.get("event") == "register_number_shared"]
    assert warned and warned[0]["log_level"] == "warning"
    assert warned[0]["register_number"] == 4 and warned[0]["shared_with"] == "K4"
