"""Input the daemon used to take or describe wrongly: amounts above the maximum (said
to be out of range), enum values no version of the API defines, control characters on
the customer display, and a cash withdrawal larger than the drawer's expected cash."""

from __future__ import annotations

import sqlite3

import grpc
import pytest
from posd.client import PosdClient, PosdError, error_from_rpc, money, new_request_id
from posd.v1 import closing_pb2, common_pb2, device_pb2, sale_pb2

from tests.conftest import Running

TOO_MUCH = [10**13 + 1, 2**63 - 1]


def refused(call: object, *args: object, **kwargs: object) -> PosdError:
    with pytest.raises(PosdError) as err:
        call(*args, **kwargs)  # type: ignore[operator]
    return err.value


def movements(running: Running) -> int:
    with sqlite3.connect(running.config.database_path) as c:
        return int(c.execute("SELECT COUNT(*) FROM cash_movements").fetchone()[0])


def test_amounts_above_the_maximum_are_out_of_range(running: Running, pos: PosdClient) -> None:
    pos.upsert_item("W", "Wasser", 99)
    sale = pos.create_sale()
    line_id = pos.add_line(sale.sale_id, item_id="W").sale.lines[0].line_id
    for amount in TOO_MUCH:
        e = refused(
            pos.call,
            pos.sales.SetLinePrice,
            sale_pb2.SetLinePriceRequest(
                request_id=new_request_id(),
                sale_id=sale.sale_id,
                line_id=line_id,
                unit_price=money(amount),
            ),
        )
        assert (e.code, e.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "AMOUNT_OUT_OF_RANGE")
        assert e.field_violations[0][0] == "unit_price.amount_minor"
        assert "out of range" in e.field_violations[0][1]

        e = refused(pos.upsert_item, "X", "Teuer", amount)
        assert e.reason == "AMOUNT_OUT_OF_RANGE" and "out of range" in e.message

        e = refused(
            pos.add_cash_movement, closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, amount, "Einlage"
        )
        assert e.reason == "AMOUNT_OUT_OF_RANGE" and "out of range" in e.message
        assert e.field_violations[0][0] == "amount.amount_minor"
    # below the range the texts stay as they were
    e = refused(pos.upsert_item, "X", "Negativ", -1)
    assert "must be 0 or more" in e.message
    e = refused(pos.add_cash_movement, closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 0, "nichts")
    assert (e.reason, e.field_violations[0][1]) == ("INVALID_AMOUNT", "must be greater than zero")
    assert pos.get_sale(sale.sale_id).lines[0].unit_price.amount_minor == 99
    assert movements(running) == 0


def test_unknown_enum_values_are_refused(running: Running, pos: PosdClient) -> None:
    e = refused(
        pos.add_cash_movement,
        closing_pb2.CASH_MOVEMENT_KIND_TRANSIT,
        100,
        "Tresor",
        direction=9,
    )
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in e.field_violations] == ["direction"]
    assert movements(running) == 0

    e = refused(pos.check_health, "printer", 99)
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in e.field_violations] == ["level"]

    stream = pos.subscribe_events(types=(device_pb2.EVENT_TYPE_SCAN, 99), timeout=5)
    with pytest.raises(grpc.RpcError) as rpc:
        next(stream)
    e = error_from_rpc(rpc.value)
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in e.field_violations] == ["types"]
    assert "99" in e.field_violations[0][1]
    # the defined values still work
    assert pos.check_health("printer", device_pb2.HEALTH_LEVEL_INTERNAL).check_time.seconds


def test_display_text_with_control_characters_is_refused(pos: PosdClient) -> None:
    for text in ("a\x00\x1b@b", "\x1b[2J", "x\u202ey"):
        e = refused(pos.show_on_display, "Hallo", text)
        assert e.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in e.field_violations] == ["lines[1]"]
    assert pos.show_on_display("Hallo", "", "Grüße") == ["Hallo", "", "Grüße"]


@pytest.mark.parametrize("kind", ["CASH_MOVEMENT_KIND_TRANSIT", "CASH_MOVEMENT_KIND_TIP"])
def test_a_transit_or_tip_must_name_its_direction(
    running: Running, pos: PosdClient, kind: str
) -> None:
    k = closing_pb2
    e = refused(pos.add_cash_movement, getattr(k, kind), 500, "Tresor")
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in e.field_violations] == ["direction"]
    assert movements(running) == 0
    back = pos.add_cash_movement(getattr(k, kind), 500, "zurück", direction=k.CASH_DIRECTION_IN)
    out = pos.add_cash_movement(getattr(k, kind), 200, "Tresor", direction=k.CASH_DIRECTION_OUT)
    assert (back.amount.amount_minor, out.amount.amount_minor) == (500, -200)


def test_cash_out_beyond_the_expected_cash_is_refused(running: Running, pos: PosdClient) -> None:
    k = closing_pb2
    pos.add_cash_movement(k.CASH_MOVEMENT_KIND_DEPOSIT, 1000, "Wechselgeld")
    for kind, direction in (
        (k.CASH_MOVEMENT_KIND_WITHDRAWAL, 0),
        (k.CASH_MOVEMENT_KIND_TRANSIT, k.CASH_DIRECTION_OUT),
        (k.CASH_MOVEMENT_KIND_TIP, k.CASH_DIRECTION_OUT),
    ):
        e = refused(pos.add_cash_movement, kind, 1001, "zu viel", direction=direction)
        assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CASH_INSUFFICIENT")
        assert e.metadata == {"expected_minor": "1000", "currency": "EUR"}
        assert "10.01 EUR" in e.message and "10.00 EUR" in e.message
    assert movements(running) == 1
    # what is there may go; cash in is never limited
    pos.add_cash_movement(
        k.CASH_MOVEMENT_KIND_TRANSIT, 500, "Tresor", direction=k.CASH_DIRECTION_OUT
    )
    pos.add_cash_movement(k.CASH_MOVEMENT_KIND_WITHDRAWAL, 500, "Privat")
    e = refused(pos.add_cash_movement, k.CASH_MOVEMENT_KIND_WITHDRAWAL, 1, "leer")
    assert e.metadata["expected_minor"] == "0"
    pos.add_cash_movement(
        k.CASH_MOVEMENT_KIND_TRANSIT, 10**12, "Bank", direction=k.CASH_DIRECTION_IN
    )
    # a cash sale fills the drawer
    pos.upsert_item("W", "Wasser", 99)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="W")
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 99)
    pos.post_sale(sale.sale_id)
    pos.add_cash_movement(k.CASH_MOVEMENT_KIND_WITHDRAWAL, 10**12 + 99, "alles")
    assert movements(running) == 5
    assert pos.x_report().z_nr == 0
