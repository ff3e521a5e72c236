"""Every fiscal view of a business day agrees, to the cent (property test).

Hypothesis plays whole small days against the real daemon (gRPC over its unix socket, a
real SQLite file, the software TSE): goods at 19 %, 7 % and 0 %, line and sale
discounts, multi-purpose vouchers sold and redeemed, cash with change, card and other
methods, Swiss francs with change in euros or in francs, returns, stornos, training
sales, a cancelled sale and cash movements; then the shift and the day are closed and
the DSFinV-K export and the TSE's TAR export are read back. Checked, each view against
the others and never through the daemon's own summing code:

(a) per receipt, the processData the TSE signed (read from the TAR's finish log
    message) has the receipt's gross per VAT slot (transactions_vat.csv, and the lines
    of lines_vat.csv) and its payments per kind and currency (datapayment.csv); the
    receipt's own TSE fields (the answer of PostSale) carry the same processData;
(b) the Z's totals per VAT key, per payment type and currency, and its cash per
    currency are the sums over the exported receipts and over the drawer entries and
    cash movements in the database;
(c) each posted sale has one SALE_POSTED journal record, with its receipt number, the
    processData the TSE signed and its total, and the hash chain verifies;
(d) every TSE transaction in the TAR belongs to exactly one exported Vorgang
    (transactions_tse.csv) or to a journaled orphan cancellation.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from posd.client import PosdClient
from posd.v1 import catalog_pb2, closing_pb2, common_pb2, sale_pb2, shop_pb2

from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal.verify_export import VerifyReport, verify_export
from tests.conftest import start_in_thread
from tests.integration.api.test_sale_part2 import call, pay, post
from tests.integration.day.test_full_day import cents, read_export
from tests.support.fullsale import import_items, item, update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
BANK = common_pb2.PAYMENT_METHOD_BANK_TRANSFER
BENEFIT = common_pb2.PAYMENT_METHOD_BENEFIT
FLOAT = 20000
Tables = dict[str, list[dict[str, str]]]

GOODS = {"N19": ("Kaffee", 899, common_pb2.VAT_CATEGORY_NORMAL),
         "R7": ("Brot", 349, common_pb2.VAT_CATEGORY_REDUCED),
         "Z0": ("Zeitung", 250, common_pb2.VAT_CATEGORY_ZERO)}  # fmt: skip
#: the processData slot of each DSFinV-K UST_SCHLUESSEL (fiscal-de.md): 1 normal,
#: 2 reduced, 3 and 4 the §24 rates, 5 zero and 6 not taxable share the fifth
SLOT_OF_KEY = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 4, "7": 4}
#: the UST_SCHLUESSEL of each VAT category (posd's ZERO is "Umsatzsteuerfrei", 6, and
#: NOT_TAXABLE "Nicht Steuerbar", 5: domain.closing.ust_key)
KEY_OF_CATEGORY = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 5}


@dataclass(frozen=True)
class SaleSpec:
    lines: tuple[tuple[str, int], ...]
    line_discount: int  # percent on the first line
    sale_discount: int  # percent on the whole sale
    sell_voucher: int  # value of a voucher sold (0: none)
    redeem: bool  # redeem the oldest voucher that has a balance left
    pay: str
    training: bool = False


@dataclass(frozen=True)
class DaySpec:
    euro_step: int
    sales: tuple[SaleSpec, ...]
    returns: int  # how many of the posted receipts get a return of one piece
    stornos: int  # how many get a storno
    deposit: int
    withdrawal: int
    #: the count at the close less the expected cash, in euro and in francs: each a
    #: signed DifferenzSollIst Vorgang (the francs' valued in euro)
    miscount: tuple[int, int] = (0, 0)


PAYS = ("cash_exact", "cash_change", "card", "split", "bank", "benefit", "chf_eur", "chf_chf")

sale_specs = st.builds(
    SaleSpec,
    lines=st.lists(
        st.tuples(st.sampled_from(sorted(GOODS)), st.integers(1, 3)), min_size=1, max_size=3
    ).map(tuple),
    line_discount=st.sampled_from([0, 0, 5, 15]),
    sale_discount=st.sampled_from([0, 0, 3, 10]),
    sell_voucher=st.sampled_from([0, 0, 0, 1000, 2500]),
    redeem=st.booleans(),
    pay=st.sampled_from(PAYS),
    training=st.sampled_from([False, False, False, False, True]),
)
day_specs = st.builds(
    DaySpec,
    euro_step=st.sampled_from([1, 5]),
    sales=st.lists(sale_specs, min_size=3, max_size=7).map(tuple),
    returns=st.integers(0, 2),
    stornos=st.integers(0, 2),
    deposit=st.sampled_from([0, 1000, 5050]),
    withdrawal=st.sampled_from([0, 500, 1235]),  # in the 0.05 step: cash moves in coins
    miscount=st.tuples(st.sampled_from([0, 0, 100, -300]), st.sampled_from([0, 0, 150, -50])),
)


@dataclass
class Played:
    posted: list[sale_pb2.Sale] = field(default_factory=list)
    vouchers: list[str] = field(default_factory=list)
    cancelled: str = ""


@contextmanager
def register() -> Iterator[tuple[PosdClient, Path]]:
    with TemporaryDirectory(prefix="posd-xcheck-") as tmp:
        running = start_in_thread(Path(tmp) / "state")
        try:
            with running.client(open_shift=False) as pos:
                yield pos, running.config.database_path
        finally:
            running.stop()


def setup(pos: PosdClient, euro_step: int) -> None:
    import_items(
        pos,
        *(item(i, name, price, vat=vat) for i, (name, price, vat) in GOODS.items()),
        item(
            "GIFT",
            "Geschenkgutschein",
            2500,
            vat=common_pb2.VAT_CATEGORY_NOT_TAXABLE,
            item_type=catalog_pb2.ITEM_TYPE_VOUCHER,
        ),
    )
    rounding = [shop_pb2.CashRounding(currency_code="EUR", increment_minor=euro_step)]
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")],
        cash_rounding=rounding if euro_step > 1 else [],
    )
    pos.open_shift(PosdClient.cash_counts(total=FLOAT))


def play_sale(pos: PosdClient, spec: SaleSpec, played: Played, n: int) -> None:
    req = sale_pb2.CreateSaleRequest(request_id=f"xc-{n}", training=spec.training)
    sid = pos.call(pos.sales.CreateSale, req).sale.sale_id
    foreign = spec.pay.startswith("chf")
    if foreign:  # in francs from the start (lines of a fixed amount lock the currency)
        call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    for item_id, qty in spec.lines:
        pos.add_line(sid, item_id=item_id, quantity=str(qty))
    if spec.line_discount:
        call(pos, "SetLineDiscount", sale_id=sid, line_id="1",
             discount_percent=str(spec.line_discount))  # fmt: skip
    if spec.sale_discount:
        call(pos, "SetSaleDiscount", sale_id=sid, discount_percent=str(spec.sale_discount))
    sold = ""
    if spec.sell_voucher:
        sold = f"GV-{n}"
        currency = "CHF" if foreign else "EUR"
        value = common_pb2.Money(amount_minor=spec.sell_voucher, currency_code=currency)
        call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
             action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code=sold, amount=value)  # fmt: skip
    redeemed = ""
    if spec.redeem and played.vouchers and not foreign and not spec.training:
        redeemed = played.vouchers[0]
        call(pos, "AddVoucherLine", sale_id=sid, code=redeemed)
    sale = pos.get_sale(sid)
    open_ = sale.open_amount.amount_minor
    change_currency = ""
    if open_ > 0:
        if spec.pay == "cash_exact":
            pay(pos, sid, CASH)
        elif spec.pay == "cash_change":
            pay(pos, sid, CASH, (open_ // 1000 + 1) * 1000)
        elif spec.pay == "card":
            pay(pos, sid, CARD, card_institute="VISA")
        elif spec.pay == "split":
            pay(pos, sid, CARD, max(1, open_ // 2), card_institute="VISA")
            # cash is tendered in the cash step (0.05 here): the rest as cash rounds it
            left = pos.get_sale(sid).open_amount_cash.amount_minor
            pay(pos, sid, CASH, left + 35)
        elif spec.pay == "bank":
            pay(pos, sid, BANK, reference="RE-1")
        elif spec.pay == "benefit":
            pay(pos, sid, BENEFIT, reference="BG-1")
        else:  # francs, with a few centimes over and change in euros or in francs
            pay(pos, sid, CASH, open_ + 2 + 500 * (n % 2), currency="CHF")
            change_currency = "EUR" if spec.pay == "chf_eur" else ""
    done = post(pos, sid, change_currency_code=change_currency)
    played.posted.append(done)
    if redeemed and pos.get_voucher(redeemed).balance.amount_minor == 0:
        played.vouchers.remove(redeemed)
    if sold and not spec.training and not foreign:  # redeemed in euro sales
        played.vouchers.append(sold)


def play_day(pos: PosdClient, day: DaySpec) -> Played:
    setup(pos, day.euro_step)
    played = Played()
    for n, spec in enumerate(day.sales):
        play_sale(pos, spec, played, n)
    # a sale the customer walks away from
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="N19")
    pos.cancel_sale(sid, "Kunde ohne Geld")
    played.cancelled = sid
    real = [s for s in played.posted if not s.training and s.currency_code == "EUR"]
    # (a receipt that sold a voucher is not reversed: the voucher may be used already)
    goods = [
        s
        for s in real
        if any(ln.item_id in GOODS for ln in s.lines) and all(not ln.voucher_code for ln in s.lines)
    ]
    for original in goods[: day.returns]:
        line = next(ln for ln in original.lines if ln.item_id in GOODS)
        sid = pos.create_sale().sale_id
        r = call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
                 original_line_id=line.line_id, quantity="1")  # fmt: skip
        assert r.sale.open_amount.amount_minor < 0
        pay(pos, sid, CASH)  # the refund, rounded to the cash step
        played.posted.append(post(pos, sid))
    for original in goods[day.returns : day.returns + day.stornos]:
        rev = call(pos, "ReverseReceipt", sale_id=original.sale_id, reason="Fehlbon")
        played.posted.append(rev.reversal)
    if day.deposit:
        pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, day.deposit, "Wechselgeld")
    if day.withdrawal:
        pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL, day.withdrawal, "Bank")
    return played


def close_day(
    pos: PosdClient, miscount: tuple[int, int] = (0, 0)
) -> tuple[closing_pb2.Closing, Tables, dict[str, bytes], VerifyReport]:
    expected = {m.currency_code: m.amount_minor for m in pos.get_shift().expected_cash}
    counted = dict(expected)
    for cur, off in zip(("EUR", "CHF"), miscount, strict=True):
        if counted.get(cur, 0) + off >= 0:  # nobody counts a negative amount
            counted[cur] = counted.get(cur, 0) + off
    counts = [
        c for cur, a in counted.items() for c in PosdClient.cash_counts(total=a, currency=cur)
    ]
    pos.close_shift(counts)
    z = pos.z_closing()
    tables = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]
    tse_tar = pos.export_tse()
    with tarfile.open(fileobj=io.BytesIO(tse_tar)) as tar:
        members = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
    # every log message's signature, counters and file names (the TAR on its own)
    return z, tables, members, verify_export(io.BytesIO(tse_tar))


# -- independent readings of the signed data -------------------------------------------------


def parse_kassenbeleg(data: str) -> tuple[str, list[int], dict[tuple[str, str], int]]:
    """``<type>^<5 amounts>^<payments>`` (fiscal-de.md) as (type, slots in cents,
    {(Bar|Unbar, currency): cents}); written out here, not with the daemon's builder."""
    typ, amounts, payments = data.split("^")
    slots = [cents(a.replace(".", ",")) for a in amounts.split("_")]
    pays: dict[tuple[str, str], int] = {}
    for p in payments.split("_") if payments else []:
        amount, kind, *cur = p.split(":")
        pays[(kind, cur[0] if cur else "EUR")] = cents(amount.replace(".", ","))
    return typ, slots, pays


def finished_logs(members: dict[str, bytes]) -> dict[int, lm.LogMessage]:
    """The TAR's finish log messages by transaction number (each once)."""
    out: dict[int, lm.LogMessage] = {}
    for name, raw in members.items():
        if "_Log-Tra_" not in name or "_Finish_" not in name:
            continue
        msg = lm.parse_log_message(raw)
        assert msg.transaction is not None
        number = msg.transaction.transaction_number
        assert number not in out, f"transaction {number} finished twice"
        out[number] = msg
    return out


def all_transaction_numbers(members: dict[str, bytes]) -> set[int]:
    numbers = set()
    for name, raw in members.items():
        if "_Log-Tra_" in name:
            tx = lm.parse_log_message(raw).transaction
            assert tx is not None
            numbers.add(tx.transaction_number)
    return numbers


def by_bon(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        out[r["BON_ID"]].append(r)
    return out


def export_slots(rows: list[dict[str, str]], column: str) -> list[int]:
    slots = [0] * 5
    for r in rows:
        slots[SLOT_OF_KEY[r["UST_SCHLUESSEL"]]] += cents(r[column])
    return slots


def paid(row: dict[str, str]) -> tuple[str, int]:
    """A datapayment.csv row's currency and amount in it (ZAHLWAEH_BETRAG only for a
    currency other than the register's)."""
    if row["ZAHLWAEH_BETRAG"]:
        return row["ZAHLWAEH_CODE"], cents(row["ZAHLWAEH_BETRAG"])
    return row["ZAHLWAEH_CODE"] or "EUR", cents(row["BASISWAEH_BETRAG"])


def export_payments(rows: list[dict[str, str]]) -> dict[tuple[str, str], int]:
    pays: Counter[tuple[str, str]] = Counter()
    for r in rows:
        currency, amount = paid(r)
        pays[("Bar" if r["ZAHLART_TYP"] == "Bar" else "Unbar", currency)] += amount
    return {k: v for k, v in pays.items() if v}


# -- the checks: every disagreement is collected, so that one day reports them all ------------


class Audit:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def same(self, left: object, right: object, what: str) -> None:
        if left != right:
            self.problems.append(f"{what}: {left!r} != {right!r}")


def nonzero(counts: Counter[Any] | dict[Any, int]) -> dict[Any, int]:
    return {k: v for k, v in counts.items() if v}


def check_receipts(audit: Audit, t: Tables, logs: dict[int, lm.LogMessage], tar: set[int]) -> None:
    """(a) per receipt, and (d)."""
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    vat, lines_vat, pays = (
        by_bon(t["transactions_vat.csv"]),
        by_bon(t["lines_vat.csv"]),
        by_bon(t["datapayment.csv"]),
    )
    owners: Counter[int] = Counter()
    for tse in t["transactions_tse.csv"]:
        bon, number = tse["BON_ID"], int(tse["TSE_TANR"])
        owners[number] += 1
        head = heads[bon]
        signed = logs[number].transaction
        assert signed is not None
        data = signed.process_data.decode()
        where = f"BON_ID {bon} ({head['BON_TYP']} {head['BON_NAME']}) signed {data!r}"
        audit.same(tse["TSE_VORGANGSDATEN"], data, f"{where}: TSE_VORGANGSDATEN")
        typ, slots, signed_pays = parse_kassenbeleg(data)
        audit.same(typ, head["BON_TYP"], f"{where}: BON_TYP")
        audit.same(slots, export_slots(vat[bon], "BON_BRUTTO"), f"{where}: transactions_vat")
        if head["BON_TYP"] != "AVBelegabbruch":  # its entered lines are listed for the
            # record (exports/dsfinvk.py); its UMS_BRUTTO and VAT rows are 0, as signed
            audit.same(slots, export_slots(lines_vat[bon], "POS_BRUTTO"), f"{where}: lines_vat")
        audit.same(sum(slots), cents(head["UMS_BRUTTO"]), f"{where}: UMS_BRUTTO")
        audit.same(signed_pays, export_payments(pays[bon]), f"{where}: datapayment")
    # (d): each transaction the TSE logged is one Vorgang's (or a journaled orphan's)
    audit.same(nonzero(Counter({n: c for n, c in owners.items() if c != 1})), {}, "shared TSE tx")
    audit.same(tar - set(owners), set(), "TSE transactions of no Vorgang")
    audit.same(set(owners) - tar, set(), "Vorgänge whose TSE transaction is not in the TAR")


def check_posted(audit: Audit, played: Played, logs: dict[int, lm.LogMessage]) -> None:
    """The receipts' own TSE fields (PostSale's answer) carry what the TSE signed."""
    for s in played.posted:
        signed = logs[s.tse.transaction_number].transaction
        assert signed is not None
        audit.same(s.tse.process_data, signed.process_data.decode(), f"receipt {s.receipt_number}")


def check_z(audit: Audit, z: closing_pb2.Closing, t: Tables, db: Path) -> None:
    """(b): the Z against the sums over the exported Vorgänge and the drawer."""
    r = z.report
    real = {row["BON_ID"] for row in t["transactions.csv"] if row["BON_TYP"] != "AVTraining"}
    sales = {row["BON_ID"] for row in t["transactions.csv"] if not row["BON_NAME"]}
    by_key: Counter[str] = Counter()
    sales_by_key: Counter[str] = Counter()
    for row in t["transactions_vat.csv"]:
        if row["BON_ID"] in real:
            by_key[row["UST_SCHLUESSEL"]] += cents(row["BON_BRUTTO"])
            if row["BON_ID"] in sales:
                sales_by_key[row["UST_SCHLUESSEL"]] += cents(row["BON_BRUTTO"])
    z_key: Counter[str] = Counter()
    for row in t["businesscases.csv"]:
        z_key[row["UST_SCHLUESSEL"]] += cents(row["Z_UMS_BRUTTO"])
    audit.same(nonzero(z_key), nonzero(by_key), "Z per VAT key (businesscases) vs receipts")
    # the Z's VAT totals (goods, discounts and vouchers per rate) and its rounding (key 5)
    z_vat: Counter[str] = Counter()
    for v in r.vat_totals:
        z_vat[str(KEY_OF_CATEGORY[v.vat_category])] += v.gross.amount_minor
    for c in r.business_cases:
        if c.business_case == "ROUNDING":
            z_vat["5"] += c.gross.amount_minor
    audit.same(nonzero(z_vat), nonzero(sales_by_key), "Z VAT totals and rounding vs sales")
    # its business cases: the rounding in one, each receipt's by its sign in the export
    z_cases: Counter[str] = Counter()
    for c in r.business_cases:
        z_cases["Rundung" if c.business_case == "ROUNDING" else c.gv_typ] += c.gross.amount_minor
    e_cases: Counter[str] = Counter()
    for row in t["businesscases.csv"]:
        e_cases[row["GV_NAME"] or row["GV_TYP"]] += cents(row["Z_UMS_BRUTTO"])
    audit.same(nonzero(z_cases), nonzero(e_cases), "Z business cases vs businesscases.csv")
    pays: Counter[tuple[str, str]] = Counter()
    for row in t["datapayment.csv"]:
        if row["BON_ID"] in real:
            currency, amount = paid(row)
            pays[(row["ZAHLART_NAME"], currency)] += amount
    z_pays: Counter[tuple[str, str]] = Counter()
    for p in r.payments:
        z_pays[(p.name, p.amount.currency_code)] += p.amount.amount_minor
    audit.same(nonzero(z_pays), nonzero(pays), "Z payments vs datapayment")
    base = sum(
        cents(row["BASISWAEH_BETRAG"]) for row in t["datapayment.csv"] if row["BON_ID"] in real
    )
    audit.same(r.payments_total.amount_minor, base, "Z payments_total vs datapayment")
    with sqlite3.connect(db) as conn:  # a cash movement makes a drawer entry too
        drawer = dict(conn.execute(
            "SELECT currency, SUM(amount) FROM drawer_entries WHERE method = 'CASH' GROUP BY 1"
        ))  # fmt: skip
    cash = nonzero({m.currency_code: m.amount_minor for m in r.cash_per_currency})
    audit.same(cash, nonzero(drawer), "Z cash per currency vs drawer entries and movements")
    bar: Counter[str] = Counter()
    for (name, cur), amount in pays.items():
        if name == "Bar":
            bar[cur] += amount
    audit.same(cash, nonzero(bar), "Z cash per currency vs datapayment Bar")
    exported = {
        row["ZAHLART_WAEH"]: cents(row["ZAHLART_BETRAG_WAEH"]) for row in t["cash_per_currency.csv"]
    }
    audit.same(nonzero(exported), cash, "cash_per_currency.csv vs Z")


def check_journal(
    audit: Audit, pos: PosdClient, db: Path, logs: dict[int, lm.LogMessage], t: Tables
) -> None:
    """(c)."""
    audit.same(pos.verify_journal().ok, True, "journal chain")
    with sqlite3.connect(db) as conn:
        records = [json.loads(p) for (p,) in conn.execute(
            "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' ORDER BY seq")]  # fmt: skip
        posted = dict(conn.execute(
            "SELECT sale_id, receipt_number FROM sales WHERE state = 'POSTED'"))  # fmt: skip
    audit.same(
        Counter(rec["sale_id"] for rec in records), Counter(posted.keys()), "SALE_POSTED per sale"
    )
    heads = {int(row["BON_NR"]): row for row in t["transactions.csv"] if not row["BON_NAME"]}
    for rec in records:
        number = rec["receipt_number"]
        where = f"SALE_POSTED of receipt {number}"
        audit.same(number, posted[rec["sale_id"]], f"{where}: receipt number")
        tse = rec["tse"]
        signed = logs[tse["transaction_number"]].transaction
        assert signed is not None
        audit.same(tse["process_data"], signed.process_data.decode(), f"{where}: processData")
        audit.same(rec["total"], sum(v["gross"] for v in rec["vat"]), f"{where}: total vs VAT")
        head = heads[number]
        typ = "AVTraining" if rec["training"] else "Beleg"
        audit.same(head["BON_TYP"], typ, f"{where}: BON_TYP")
        if rec["currency"] == rec["local_currency"] and not rec["training"]:
            _, slots, _ = parse_kassenbeleg(tse["process_data"])
            audit.same(
                rec["total"],
                sum(slots)
                - slots[4]
                + sum(v["gross"] for v in rec["vat"] if v["category"] in (5, 6)),
                f"{where}: total vs signed",
            )


def audit_day(
    pos: PosdClient, db: Path, played: Played, miscount: tuple[int, int] = (0, 0)
) -> list[str]:
    z, t, members, verified = close_day(pos, miscount)
    logs = finished_logs(members)
    audit = Audit()
    audit.same(verified.ok, True, f"TSE export: {verified.summary()}")
    check_receipts(audit, t, logs, all_transaction_numbers(members))
    check_posted(audit, played, logs)
    check_z(audit, z, t, db)
    check_journal(audit, pos, db, logs, t)
    return audit.problems


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # each example is a whole day (seconds): report the day that failed, do not shrink it
    phases=(Phase.explicit, Phase.generate),
)
@given(day=day_specs)
def test_every_fiscal_view_of_a_day_agrees(day: DaySpec) -> None:
    with register() as (pos, db):
        played = play_day(pos, day)
        problems = audit_day(pos, db, played, day.miscount)
    assert not problems, "\n".join(problems)
