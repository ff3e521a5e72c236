"""Cash in CHF (0.05 steps) through the gRPC API: an amount no coins make is refused, and
a total that rounds to nothing in cash is still paid in cash and posted."""

from __future__ import annotations

import json

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import shop_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import Running
from tests.integration.api.test_devices_api import printed, wait_for
from tests.integration.api.test_sale_part2 import CARD, CASH, call, pay, post, rows, seed
from tests.support.fullsale import import_items, item, update_shop


def chf_sale(pos: PosdClient, item_id: str) -> str:
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id=item_id)
    call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    return sid


def chf_shop(pos: PosdClient) -> None:
    seed(pos)
    import_items(pos, item("PIN", "Stecknadel", 2))  # 0.02 EUR = 0.019 CHF -> 0.02
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9513")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="CHF", increment_minor=5)],
    )


def test_a_chf_cash_amount_off_the_five_rappen_step_is_refused(
    running: Running, pos: PosdClient
) -> None:
    chf_shop(pos)
    sid = chf_sale(pos, "COFFEE")  # 8.55 CHF
    with pytest.raises(PosdError) as err:
        pay(pos, sid, CASH, 1003, currency="CHF")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "AMOUNT_NOT_IN_STEP",
    )
    assert "steps of 0.05 CHF" in err.value.message
    assert list(pos.get_sale(sid).payments) == []
    # a valid amount: 10.00 for 8.55 gives 1.45 back
    s = pay(pos, sid, CASH, 1000, currency="CHF").sale
    pid = s.payments[0].payment_id
    with pytest.raises(PosdError) as err:
        call(pos, "UpdatePayment", sale_id=sid, payment_id=pid,
             amount={"amount_minor": 999, "currency_code": "CHF"})  # fmt: skip
    assert err.value.reason == "AMOUNT_NOT_IN_STEP"
    s = pos.get_sale(sid)
    assert [p.amount.amount_minor for p in s.payments] == [1000]
    assert (s.change.amount_minor, s.rounding.amount_minor) == (145, 0)
    done = post(pos, sid)
    assert done.change.amount_minor == 145
    # EUR cash has no step here: any amount
    eur = pos.create_sale().sale_id
    pos.add_line(eur, item_id="COFFEE")
    pay(pos, eur, CASH, 1003)
    assert post(pos, eur).change.amount_minor == 104


def test_a_chf_total_of_two_rappen_is_paid_in_cash(running: Running, pos: PosdClient) -> None:
    """0.02 CHF rounds to 0.00 in cash: AddPayment CASH was refused ("nothing left to
    pay") and PostSale without it too ("still has 2 to pay"): only a card could pay."""
    chf_shop(pos)
    sid = chf_sale(pos, "PIN")
    s = pos.get_sale(sid)
    assert (s.total.amount_minor, s.open_amount_cash.amount_minor) == (2, 0)
    s = pay(pos, sid, CASH).sale
    assert [p.amount.amount_minor for p in s.payments] == [0]
    assert (s.rounding.amount_minor, s.amount_due.amount_minor) == (-2, 0)
    assert s.open_amount.amount_minor == 0
    done = post(pos, sid)
    assert (done.total.amount_minor, done.change.amount_minor) == (2, 0)
    assert rows(running, "SELECT rounding FROM sales WHERE sale_id = ?", sid) == [(-2,)]
    # the rounding is a not taxable amount of the fiscal data (fifth slot), in EUR:
    # 0.02 CHF is 0.02 EUR, paid as 0.00
    assert done.tse.process_data == "Beleg^0.02_0.00_0.00_0.00_-0.02^"
    [(payload,)] = rows(
        running, "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' AND ref = ?",
        f"receipt:{done.receipt_number}",
    )  # fmt: skip
    journal = json.loads(payload)
    assert (journal["total"], journal["payments"][0]["amount"]) == (2, 0)
    wait_for(lambda: "Rundung" in printed(running) and pos.status().pending_jobs == 0, 10)
    receipt = printed(running)
    assert "Zu zahlen" in receipt and "-0.02" in receipt.replace(",", ".")


def test_the_last_rappen_after_a_card_is_settled_in_cash(running: Running, pos: PosdClient) -> None:
    chf_shop(pos)
    sid = chf_sale(pos, "COFFEE")  # 8.55 CHF
    pay(pos, sid, CARD, 854, currency="CHF", authorization_code="A1")
    s = pay(pos, sid, CASH).sale
    assert (s.rounding.amount_minor, s.amount_due.amount_minor) == (-1, 854)
    assert post(pos, sid).state


def test_the_journal_record_of_a_rounded_cash_sale_balances(
    running: Running, pos: PosdClient
) -> None:
    """The SALE_POSTED record names the rounding and what each payment keeps: the kept
    amounts are the total plus the rounding (before, 10.00 cash and 1.45 change for a
    total of 8.53 left 0.02 nobody could account for)."""
    chf_shop(pos)
    sid = chf_sale(pos, "COFFEE")
    card = pay(pos, sid, CARD, 3, currency="CHF").sale.payments[0]  # 8.52 rest in cash
    pay(pos, sid, CASH, 1000, currency="CHF")
    done = post(pos, sid)
    [(payload,)] = rows(
        running,
        "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' AND ref = ?",
        f"receipt:{done.receipt_number}",
    )
    record = json.loads(payload)
    kept = [p["kept"] for p in record["payments"]]
    assert record["rounding"] == done.rounding.amount_minor != 0
    assert sum(kept) == record["total"] + record["rounding"]
    assert kept[0] == 3 and card.amount.amount_minor == 3
    assert kept[1] == 1000 - record["change"]


def test_a_rest_that_rounds_to_nothing_in_cash_posts_without_a_cash_payment(
    running: Running, pos: PosdClient
) -> None:
    """The last rappen after a card: GetSale says 0.00 is left in cash, and PostSale
    settles it so, as a cashier adding a cash payment of 0.00 would (before, PostSale
    said SALE_NOT_PAID until that payment was added by hand)."""
    chf_shop(pos)
    by_hand = chf_sale(pos, "COFFEE")  # 8.55 CHF
    pay(pos, by_hand, CARD, 854, currency="CHF", authorization_code="A1")
    pay(pos, by_hand, CASH)
    manual = post(pos, by_hand)

    sid = chf_sale(pos, "COFFEE")
    s = pay(pos, sid, CARD, 854, currency="CHF", authorization_code="A2").sale
    assert (s.open_amount.amount_minor, s.open_amount_cash.amount_minor) == (1, 0)
    done = post(pos, sid)
    assert done.state == manual.state
    assert [(p.method, p.amount.amount_minor) for p in done.payments] == [
        (p.method, p.amount.amount_minor) for p in manual.payments
    ]
    assert (done.rounding.amount_minor, done.amount_due.amount_minor) == (-1, 854)
    assert done.tse.process_data == manual.tse.process_data
    assert rows(running, "SELECT rounding FROM sales WHERE sale_id = ?", sid) == [(-1,)]
    assert rows(
        running, "SELECT method, amount FROM sale_payments WHERE sale_id = ? ORDER BY position",
        sid,
    ) == rows(
        running, "SELECT method, amount FROM sale_payments WHERE sale_id = ? ORDER BY position",
        by_hand,
    )  # fmt: skip


def test_a_rest_that_a_cash_payment_would_not_round_away_still_has_to_be_paid(
    running: Running, pos: PosdClient
) -> None:
    """0.03 rounds up to 0.05 in cash: that is money to take, not a rounding; and a
    refund's rest is left to the cashier's choice of method."""
    chf_shop(pos)
    sid = chf_sale(pos, "COFFEE")  # 8.55 CHF
    s = pay(pos, sid, CARD, 852, currency="CHF", authorization_code="A1").sale
    assert s.open_amount_cash.amount_minor == 5
    with pytest.raises(PosdError) as err:
        post(pos, sid)
    assert err.value.reason == "SALE_NOT_PAID"
    assert [p.amount.amount_minor for p in pos.get_sale(sid).payments] == [852]


def test_a_rest_settled_in_cash_posts_again_as_signed_after_a_failed_commit(
    running: Running, pos: PosdClient
) -> None:
    """The post that settled the last rappen signed its rounding, then failed before its
    commit (injected): the cash payment of 0.00 rolled back with it, and the post again
    settles it once more, so that the sale is the one the TSE signed."""
    chf_shop(pos)
    sid = chf_sale(pos, "COFFEE")  # 8.55 CHF
    pay(pos, sid, CARD, 854, currency="CHF", authorization_code="A1")
    pos.retries = 0
    crashpoints.arm_from_env("post.in_transaction:1:raise")
    try:
        with pytest.raises(PosdError) as failed:
            post(pos, sid)
    finally:
        crashpoints.arm_from_env("")
    assert failed.value.reason == "POST_NOT_SAVED"
    assert [p.amount.amount_minor for p in pos.get_sale(sid).payments] == [854]
    done = post(pos, sid)
    assert (done.tse.state, done.rounding.amount_minor) == ("SIGNED", -1)
    assert [p.amount.amount_minor for p in done.payments] == [854, 0]
