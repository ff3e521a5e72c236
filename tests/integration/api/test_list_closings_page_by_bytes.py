"""ListClosings pages stop at a budget of encoded bytes (at least one closing a page): each
closing carries its full report, and a busy day's (many operators, shifts, payment methods
and currencies) encodes to some 17 kB, so a page of up to 500 was past the 4 MiB a gRPC
message may have by default, and the call failed (RESOURCE_EXHAUSTED) instead of
answering a shorter page. The budget is lowered here so a few small closings show it."""

from __future__ import annotations

import pytest
from posd.client import PosdClient
from posd.v1 import closing_pb2

from posd_daemon.api import closing_servicer
from tests.conftest import Running
from tests.support.cash import close_as_expected


def _closings(pos: PosdClient, n: int) -> list[int]:
    # empty days (a Z closes a day without sales too): their closings are alike in size
    made = []
    for _ in range(n):
        pos.ensure_shift()
        close_as_expected(pos)
        made.append(int(pos.z_closing().z_nr))
    return made


def _pages(pos: PosdClient, page_size: int) -> list[list[int]]:
    pages: list[list[int]] = []
    token = ""
    while True:
        resp = pos.call(
            pos.closing.ListClosings,
            closing_pb2.ListClosingsRequest(page_size=page_size, page_token=token),
        )
        pages.append([c.z_nr for c in resp.closings])
        token = resp.next_page_token
        if not token:
            return pages


def test_a_page_of_closings_stops_at_its_byte_budget(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _closings(pos, 5)
    sizes = [pos.get_closing(z).ByteSize() for z in made]
    # room for two closings, not for three (with the bytes each adds as a list element)
    monkeypatch.setattr(closing_servicer, "MAX_PAGE_BYTES", 2 * max(sizes) + 8, raising=False)
    assert 3 * min(sizes) > 2 * max(sizes) + 8
    pages = _pages(pos, 100)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [z for p in pages for z in p] == sorted(made, reverse=True)  # none lost, none twice


def test_one_closing_beyond_the_budget_still_makes_a_page(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _closings(pos, 2)
    monkeypatch.setattr(closing_servicer, "MAX_PAGE_BYTES", 1, raising=False)
    pages = _pages(pos, 100)
    assert pages == [[made[1]], [made[0]]]
