"""An AVTransfer Vorgang (a parked sale handed over to another register) whose sale has
a document discount, or is in a foreign currency: its Bonkopf_USt rows
(transactions_vat.csv) must add up to its UMS_BRUTTO and say per VAT key what its TSE
transaction signed (``AVTransfer^<normal>_<reduced>_…^``: the sale's amounts after its
discounts, in the register currency, split from its converted total), and its lines
(lines_vat.csv) must add up to them key by key, as for every Vorgang.

Before, the Bonkopf_USt rows were the lines' amounts before the discount (and each line
converted on its own): 3 % off 82.80 gave rows of 82.80 beside an UMS_BRUTTO and a
signed processData of 80.32."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import common_pb2, shop_pb2

from tests.conftest import Running
from tests.integration.day.test_dsfinvk_historic_keys import Tables, assert_reconciles, cents
from tests.integration.day.test_full_day import read_export
from tests.integration.day.test_transfer_export import call, store  # noqa: F401
from tests.support.fullsale import import_items, item, update_shop


def signed_slots(t: Tables, bon: str) -> dict[str, int]:
    """The AVTransfer processData's VAT slots as UST_SCHLUESSEL -> amount (slot 1 is the
    normal rate, key 1; slot 2 the reduced one, key 2; ...), the zero slots left out."""
    (tse,) = [r for r in t["transactions_tse.csv"] if r["BON_ID"] == bon]
    typ, slots, payments = tse["TSE_VORGANGSDATEN"].split("^")
    assert (typ, payments) == ("AVTransfer", "")
    out = {}
    for key, amount in enumerate(slots.split("_"), 1):
        if amount != "0.00":
            out[str(key)] = int(amount.replace(".", ""))
    return out


def hand_over(store: dict[str, Running], setup: str) -> Tables:  # noqa: F811
    """K1 posts one Beleg (BON_ID 1), then a sale of two lamps and three breads (each its
    own line) with ``setup`` ("discount": 3 % off the sale; "chf": in francs) is parked
    and resumed at K3 (K1's BON_ID 2, an AVTransfer); K1's Z exported."""
    bread = item("BROT", "Brot", 333, vat=common_pb2.VAT_CATEGORY_REDUCED)
    for running in store.values():
        with running.client(open_shift=False) as pos:
            import_items(pos, bread)
            update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
    with store["K1"].client() as k1:
        posted = k1.create_sale()
        k1.add_line(posted.sale_id, item_id="LAMP")
        k1.add_payment(posted.sale_id, common_pb2.PAYMENT_METHOD_CASH, 3990)
        k1.post_sale(posted.sale_id)
        sid = k1.create_sale().sale_id
        if setup == "chf":
            call(k1, "SetCurrency", sale_id=sid, currency_code="CHF")
        k1.add_line(sid, item_id="LAMP", quantity="2")
        for _ in range(3):
            k1.add_line(sid, item_id="BROT")
        if setup == "discount":
            call(k1, "SetSaleDiscount", sale_id=sid, discount_percent="3")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
    with store["K1"].client(open_shift=False) as k1:
        k1.close_shift(PosdClient.cash_counts(total=3990))
        z = k1.z_closing()
        t, _ = read_export(k1.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    return t


def assert_transfer_amounts(t: Tables) -> None:
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    assert heads["2"]["BON_TYP"] == "AVTransfer"
    vat = {
        r["UST_SCHLUESSEL"]: cents(r["BON_BRUTTO"])
        for r in t["transactions_vat.csv"]
        if r["BON_ID"] == "2"
    }
    # Bonkopf_USt is what the TSE signed per key, and adds up to UMS_BRUTTO
    assert vat == signed_slots(t, "2")
    assert sum(vat.values()) == cents(heads["2"]["UMS_BRUTTO"])
    # no turnover of the Z: the one Beleg's
    assert sum(cents(r["Z_UMS_BRUTTO"]) for r in t["businesscases.csv"]) == 3990
    assert_reconciles(t)


def test_an_avtransfer_with_a_document_discount_has_its_amounts_after_it(
    store: dict[str, Running],  # noqa: F811
) -> None:
    t = hand_over(store, "discount")
    assert_transfer_amounts(t)
    # 82.80 + 9.99 less 3 %: the amounts the customer would have paid
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    assert heads["2"]["UMS_BRUTTO"] == "87,10"


def test_an_avtransfer_in_francs_has_its_converted_amounts_per_key(
    store: dict[str, Running],  # noqa: F811
) -> None:
    t = hand_over(store, "chf")
    assert_transfer_amounts(t)
