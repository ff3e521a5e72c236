"""Reconciliation finds every ACTIVE fiskaly transaction, however many pages the list has."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from tests.support.fake_fiskaly import FakeFiskaly

CLIENT = "KASSE-01"
KB = "Kassenbeleg-V1"


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    # fiskaly's pages: at most 100 transactions each
    with FakeFiskaly() as server:
        yield server
    assert server.errors == []


def _tse(fake: FakeFiskaly, state_dir: Path) -> FiskalyTse:
    return FiskalyTse(
        fake.base_url,
        fake.api_key,
        fake.api_secret,
        fake.tss_id,
        state_dir=state_dir,
        timeout_s=2.0,
        clock=fake.now,
    )


def test_a_lost_state_file_still_finds_every_active_transaction(
    fake: FakeFiskaly, tmp_path: Path
) -> None:
    first = _tse(fake, tmp_path / "state")
    first.register_client(CLIENT)
    numbers = [first.start_transaction(CLIENT, KB, b"").transaction_number for _ in range(211)]
    # some closed ones in between: the ACTIVE list skips them
    for i in (2, 150, 207):
        first.cancel_transaction(CLIENT, numbers[i])
    first.close()
    shutil.rmtree(tmp_path / "state")  # a crash that lost the local mapping
    second = _tse(fake, tmp_path / "state")
    try:
        open_now = [n for i, n in enumerate(numbers) if i not in (2, 150, 207)]
        assert second.open_transactions(CLIENT) == open_now
        lists = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/tx")]
        assert len(lists) == 3  # 208 active in pages of 100: 100 + 100 + 8
        # every one adopted can be closed
        for n in open_now:
            second.cancel_transaction(CLIENT, n)
        assert second.open_transactions(CLIENT) == []
    finally:
        second.close()


def test_exactly_full_pages_end_with_an_empty_one(fake: FakeFiskaly, tmp_path: Path) -> None:
    first = _tse(fake, tmp_path / "state")
    first.register_client(CLIENT)
    numbers = [first.start_transaction(CLIENT, KB, b"").transaction_number for _ in range(200)]
    first.close()
    shutil.rmtree(tmp_path / "state")
    second = _tse(fake, tmp_path / "state")
    try:
        assert second.open_transactions(CLIENT) == numbers
    finally:
        second.close()
