"""Random and hostile requests never crash the daemon and never change anything wrongly.

Hypothesis throws random messages (huge strings, control characters, unknown enums,
negative and huge numbers, missing fields, bad tokens) at every RPC of the running
server. Every answer must be OK or a status carrying ErrorInfo; the server must keep
answering; the journal must verify and posted sales must stay as they were.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st
from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2, operator_pb2, sale_pb2, system_pb2

from posd_daemon.store import journal
from tests.conftest import Running

TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=60, max_size=5000),
    st.sampled_from(
        [
            "",
            " ",
            "1",
            "1001",
            "\x00",
            "../../etc/passwd",
            "NaN",
            "-1",
            "1e9",
            "0.0001",
            "99999999999999999999",
            "ä€",
        ]
    ),
)
INT = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 2, 7, 99]))
MONEY = st.builds(
    common_pb2.Money, amount_minor=st.integers(-(2**63), 2**63 - 1), currency_code=TEXT
)


def requests(sale_ids: list[str]) -> st.SearchStrategy[tuple[str, Any]]:
    sid = st.one_of(st.sampled_from(sale_ids), TEXT)
    rid = st.one_of(TEXT, st.uuids().map(str))
    return st.one_of(
        st.builds(lambda r: ("CreateSale", sale_pb2.CreateSaleRequest(request_id=r)), rid),
        st.builds(lambda s: ("GetSale", sale_pb2.GetSaleRequest(sale_id=s)), sid),
        st.builds(
            lambda st_, n, t: (
                "ListSales",
                sale_pb2.ListSalesRequest(state=st_, page_size=n, page_token=t),
            ),
            INT,
            INT,
            TEXT,
        ),
        st.builds(
            lambda r, s, i, c, q: (
                "AddLine",
                sale_pb2.AddLineRequest(
                    request_id=r,
                    sale_id=s,
                    quantity=q,
                    **({"item_id": i} if c is None else {"code": c}),
                ),
            ),
            rid,
            sid,
            TEXT,
            st.one_of(st.none(), TEXT),
            TEXT,
        ),
        st.builds(
            lambda r, s, line, q: (
                "UpdateLine",
                sale_pb2.UpdateLineRequest(request_id=r, sale_id=s, line_id=line, quantity=q),
            ),
            rid,
            sid,
            TEXT,
            TEXT,
        ),
        st.builds(
            lambda r, s, line: (
                "RemoveLine",
                sale_pb2.RemoveLineRequest(request_id=r, sale_id=s, line_id=line),
            ),
            rid,
            sid,
            TEXT,
        ),
        st.builds(
            lambda r, s, m, a: (
                "AddPayment",
                sale_pb2.AddPaymentRequest(request_id=r, sale_id=s, method=m, amount=a),
            ),
            rid,
            sid,
            INT,
            MONEY,
        ),
        st.builds(
            lambda r, s, p: (
                "RemovePayment",
                sale_pb2.RemovePaymentRequest(request_id=r, sale_id=s, payment_id=p),
            ),
            rid,
            sid,
            TEXT,
        ),
        st.builds(
            lambda r, s: ("PostSale", sale_pb2.PostSaleRequest(request_id=r, sale_id=s)), rid, sid
        ),
        st.builds(
            lambda r, s, why: (
                "CancelSale",
                sale_pb2.CancelSaleRequest(request_id=r, sale_id=s, reason=why),
            ),
            rid,
            sid,
            TEXT,
        ),
        st.builds(
            lambda r, i, n, p, v, b: (
                "UpsertItem",
                catalog_pb2.UpsertItemRequest(
                    request_id=r,
                    item=catalog_pb2.Item(
                        item_id=i, name=n, gross_price=p, vat_category=v, barcodes=b
                    ),
                ),
            ),
            rid,
            TEXT,
            TEXT,
            MONEY,
            INT,
            st.lists(TEXT, max_size=40),
        ),
        st.builds(
            lambda o, p: ("Login", operator_pb2.LoginRequest(operator_id=o, pin=p)), TEXT, TEXT
        ),
        st.builds(
            lambda t: (
                "ListPrintJobs",
                system_pb2.ListPrintJobsRequest(page_token=t, page_size=-1),
            ),
            TEXT,
        ),
    )


def stub_method(pos: PosdClient, name: str) -> Callable[..., Any]:
    for stub in (pos.sales, pos.catalog, pos.operators, pos.system):
        if hasattr(stub, name):
            return getattr(stub, name)  # type: ignore[no-any-return]
    raise AssertionError(name)


def posted_snapshot(running: Running) -> list[tuple[Any, ...]]:
    with sqlite3.connect(running.config.database_path) as c:
        return c.execute(
            "SELECT s.sale_id, s.receipt_number, s.total, s.revision,"
            " (SELECT COUNT(*) FROM sale_lines l WHERE l.sale_id = s.sale_id)"
            " FROM sales s WHERE state = 'POSTED' ORDER BY sale_id"
        ).fetchall()


def test_random_requests_never_crash_or_corrupt(running: Running, pos: PosdClient) -> None:
    pos.upsert_item("1001", "Brot", 349, barcodes=("4006381333931",))
    open_sale = pos.create_sale()
    pos.add_line(open_sale.sale_id, item_id="1001")
    posted = pos.create_sale()
    pos.add_line(posted.sale_id, item_id="1001")
    pos.add_payment(posted.sale_id, common_pb2.PAYMENT_METHOD_CASH, 500)
    pos.post_sale(posted.sale_id)
    before = posted_snapshot(running)
    tokens = [pos.token, "", "garbage", "x" * 200]
    seen: dict[str, int] = {}

    @settings(max_examples=400, deadline=None)
    @given(requests([open_sale.sale_id, posted.sale_id]), st.sampled_from(tokens))
    def fire(req: tuple[str, Any], token: str) -> None:
        name, message = req
        method = stub_method(pos, name)
        md = [("authorization", f"Bearer {token}")] if token else []
        try:
            method(message, timeout=10, metadata=md)
            seen["OK"] = seen.get("OK", 0) + 1
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            assert code not in (
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.UNAVAILABLE,
            ), (name, message, exc)
            seen[code.name] = seen.get(code.name, 0) + 1
            if code != grpc.StatusCode.RESOURCE_EXHAUSTED or "LOGIN" in str(exc.details()):
                status = rpc_status.from_call(exc)  # type: ignore[arg-type]
                assert status is not None, (name, exc)
                info = error_details_pb2.ErrorInfo()
                assert status.details[0].Unpack(info)
                assert info.domain == "posd" and info.reason

    fire()
    # the daemon still answers, nothing posted changed, the journal verifies
    assert pos.status().version
    assert posted_snapshot(running) == before
    with sqlite3.connect(running.config.database_path) as c:
        assert journal.verify(c).ok
    assert seen.get("INVALID_ARGUMENT", 0) > 0 and seen.get("UNAUTHENTICATED", 0) > 0


def test_oversized_message_is_refused_cleanly(running: Running, pos: PosdClient) -> None:
    huge = catalog_pb2.UpsertItemRequest(
        request_id="big", item=catalog_pb2.Item(item_id="1", name="x" * 2_000_000)
    )
    try:
        pos.catalog.UpsertItem(
            huge, timeout=10, metadata=[("authorization", f"Bearer {pos.token}")]
        )
        raise AssertionError("accepted a 2 MB message")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert pos.status().version
