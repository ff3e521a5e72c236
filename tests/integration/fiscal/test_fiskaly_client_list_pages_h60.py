"""fiskaly: the TSS's clients are read from every page of ``GET /tss/{tss_id}/client``.

fiskaly SIGN DE v2 list endpoints page by ``limit`` (at most 100) and ``offset``; a TSS
may hold up to 199 clients. ``info()`` read the first page only, so ``registered_clients``
missed the clients past it. tests/support/fake_fiskaly.py answers the client list in
one piece, so the server here pages it as fiskaly does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from tests.support.fake_fiskaly import ApiError, FakeFiskaly


class PagedClients(FakeFiskaly):
    """The fake server with the client list paged (``limit`` default and at most
    ``list_limit``, ``offset`` default 0), as its lists of transactions are."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client_pages: list[tuple[int, int]] = []

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, auth: str | None
    ) -> tuple[int, Any]:
        if method == "GET" and path.rstrip("/") == f"/tss/{self.tss_id}/client":
            with self._lock:
                self._check_token(auth)
                limit = int(query.get("limit", [str(self.list_limit)])[0])
                offset = int(query.get("offset", ["0"])[0])
                if not 1 <= limit <= self.list_limit or offset < 0:
                    raise ApiError(400, "E_VALIDATION", f"bad limit {limit} or offset {offset}")
                self.client_pages.append((limit, offset))
                items = self._clients_json()[offset : offset + limit]
                return 200, self._list(items)
        return super().handle(method, path, query, body, auth)


@pytest.fixture
def fake() -> Iterator[PagedClients]:
    with PagedClients() as server:
        yield server
    assert server.errors == []


def test_registered_clients_are_read_from_every_page(fake: PagedClients, tmp_path: Path) -> None:
    tse = FiskalyTse(fake.base_url, fake.api_key, fake.api_secret, fake.tss_id, state_dir=tmp_path)
    try:
        names = [f"KASSE-{n:03d}" for n in range(150)]
        for name in names:
            tse.register_client(name)
        info = tse.info()
    finally:
        tse.close()
    assert sorted(info.registered_clients) == names
    assert len(fake.client_pages) == 2, fake.client_pages
