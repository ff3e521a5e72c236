"""Work run ahead on the database thread (DbExecutor.speculate): parked inside its open
transaction, it commits only when claimed; anything else that needs the database thread
rolls it back first, and nothing of it is ever seen before its commit."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from posd_daemon.services.executor import (
    BACKGROUND_WAIT_S,
    Abandoned,
    DbExecutor,
    Speculation,
    Tx,
)
from posd_daemon.store.database import connect, open_database


def put(key: str, value: str) -> Callable[[Tx], None]:
    def write(tx: Tx) -> None:
        tx.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    return write


def value(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def ahead(key: str) -> Callable[[Tx, Speculation[str]], str]:
    """Writes ``key`` = 'ahead', parks offering 'offer', then writes what it was claimed
    with under ``key``-claim."""

    def work(tx: Tx, spec: Speculation[str]) -> str:
        put(key, "ahead")(tx)
        claimed = spec.park("offer")
        put(f"{key}-claim", claimed)(tx)
        return claimed

    return work


def run(tmp_path: Path, body: Callable[[DbExecutor, Path], Awaitable[None]]) -> None:
    async def main() -> None:
        path = tmp_path / "posd.sqlite3"
        db = DbExecutor(
            open_database(path), connect(path, readonly=True), connect(path, readonly=True)
        )
        try:
            await body(db, path)
        finally:
            db.close()

    asyncio.run(main())


async def parked(spec: Speculation[str]) -> None:
    for _ in range(500):
        if spec.parked:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the speculation never parked")


def test_claimed_work_goes_on_with_the_claim_and_commits(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        spec = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(spec)
        # parked: its write is not visible to anyone yet
        assert db.read_now(lambda c: value(c, "k")) is None
        offers: list[object] = []

        def make(offer: object) -> str:
            offers.append(offer)
            return "claimed"

        assert db.claim_speculation("k", make) is spec
        assert spec.result is not None
        assert await spec.result == "claimed"
        assert offers == ["offer"]  # the claimer saw what the parked work offered
        assert db.read_now(lambda c: value(c, "k")) == "ahead"
        assert db.read_now(lambda c: value(c, "k-claim")) == "claimed"

    run(tmp_path, body)


def test_a_claim_for_another_key_takes_nothing(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        spec = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(spec)
        assert db.claim_speculation("other", lambda offer: "x") is None
        assert db.claim_speculation("k", lambda offer: "mine") is spec
        assert spec.result is not None
        assert await spec.result == "mine"

    run(tmp_path, body)


def test_a_write_abandons_it_first_and_nothing_of_it_remains(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        spec = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(spec)
        await asyncio.wait_for(db.write(put("other", "1")), 5)  # must not wait for a claim
        assert spec.result is not None
        with pytest.raises(Abandoned):
            await spec.result
        assert db.claim_speculation("k", lambda offer: "late") is None
        assert db.read_now(lambda c: value(c, "k")) is None  # rolled back
        assert db.read_now(lambda c: value(c, "other")) == "1"
        # a relaxed edit (inline on the loop when the thread is free) abandons it too
        db.relaxed_edits = True
        again = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(again)
        await asyncio.wait_for(db.write(put("edit", "2"), durable=False), 5)
        assert again.result is not None
        with pytest.raises(Abandoned):
            await again.result
        assert db.read_now(lambda c: value(c, "edit")) == "2"

    run(tmp_path, body)


def test_unclaimed_it_rolls_back_after_its_time(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        spec = db.speculate("k", ahead("k"), ttl_s=0.05)
        assert spec.result is not None
        with pytest.raises(Abandoned):
            await asyncio.wait_for(spec.result, 5)
        assert db.claim_speculation("k", lambda offer: "late") is None
        # the writer lock is free again: another connection can write
        with sqlite3.connect(path, timeout=0) as other:
            other.execute("INSERT INTO meta (key, value) VALUES ('outside', '1')")
        assert db.read_now(lambda c: value(c, "k")) is None

    run(tmp_path, body)


def test_a_read_on_the_database_thread_abandons_it_too(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        await db.write(put("before", "0"))
        spec = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(spec)
        # reads there keep the order of the thread: they never wait for a claim
        assert await asyncio.wait_for(db.read(lambda c: value(c, "before")), 5) == "0"
        assert spec.result is not None
        with pytest.raises(Abandoned):
            await spec.result

    run(tmp_path, body)


def test_background_work_gives_it_a_little_time_to_be_claimed(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        spec = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(spec)
        # printing's bookkeeping waits for the claim instead of abandoning it ...
        background = asyncio.ensure_future(db.write(put("done-mark", "1"), background=True))
        await asyncio.sleep(0.05)
        assert not background.done()
        assert db.claim_speculation("k", lambda offer: "claimed") is spec
        assert spec.result is not None
        assert await spec.result == "claimed"
        await asyncio.wait_for(background, 5)
        assert db.read_now(lambda c: value(c, "done-mark")) == "1"
        assert db.read_now(lambda c: value(c, "k-claim")) == "claimed"
        # ... but not for long: unclaimed, it is abandoned after BACKGROUND_WAIT_S
        again = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(again)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        text = await asyncio.wait_for(db.read(lambda c: value(c, "done-mark"), background=True), 5)
        waited = loop.time() - t0
        assert text == "1"
        assert BACKGROUND_WAIT_S <= waited < 2.0  # far below the 5 s it could stay parked
        assert again.result is not None
        with pytest.raises(Abandoned):
            await again.result

    run(tmp_path, body)


def test_a_claim_before_it_parked_is_taken_when_it_gets_there(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        gate = asyncio.get_running_loop().create_future()
        started = asyncio.Event()
        loop = asyncio.get_running_loop()

        def slow(tx: Tx, spec: Speculation[str]) -> str:
            loop.call_soon_threadsafe(started.set)
            asyncio.run_coroutine_threadsafe(
                asyncio.wait_for(asyncio.shield(gate), 5), loop
            ).result()
            return ahead("k")(tx, spec)

        spec = db.speculate("k", slow, ttl_s=5)
        await started.wait()
        offers: list[object] = []
        assert db.claim_speculation("k", lambda offer: offers.append(offer) or "early") is spec
        gate.set_result(None)
        assert spec.result is not None
        assert await spec.result == "early"
        assert offers == [None]  # claimed before it offered anything

    run(tmp_path, body)


def test_closing_abandons_a_parked_speculation(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "posd.sqlite3"
        db = DbExecutor(
            open_database(path), connect(path, readonly=True), connect(path, readonly=True)
        )
        spec = db.speculate("k", ahead("k"), ttl_s=60)
        await parked(spec)
        await asyncio.wait_for(asyncio.to_thread(db.close), 5)  # does not hang
        assert spec.result is not None
        with pytest.raises(Abandoned):
            await spec.result
        with sqlite3.connect(path) as check:
            assert value(check, "k") is None

    asyncio.run(main())


def test_a_claim_that_fails_leaves_nothing_parked(tmp_path: Path) -> None:
    async def body(db: DbExecutor, path: Path) -> None:
        spec = db.speculate("k", ahead("k"), ttl_s=60)
        await parked(spec)

        def broken(offer: object) -> str:
            raise RuntimeError("the claimer failed")

        with pytest.raises(RuntimeError):
            db.claim_speculation("k", broken)
        assert spec.result is not None
        with pytest.raises(Abandoned):  # rolled back at once, not after the 60 s
            await asyncio.wait_for(spec.result, 5)
        await asyncio.wait_for(db.write(put("after", "1")), 5)
        assert db.read_now(lambda c: value(c, "k")) is None

    run(tmp_path, body)


def test_its_offer_is_seen_only_while_it_is_parked_and_claimable(tmp_path: Path) -> None:
    """What a PostSale peeks at before claiming (DbExecutor.parked_offer): the offer of
    the speculation under that key while it waits parked, nothing before, nothing for
    another key, nothing once claimed or abandoned."""

    async def body(db: DbExecutor, path: Path) -> None:
        gate = asyncio.Event()
        loop = asyncio.get_running_loop()

        def late(tx: Tx, spec: Speculation[str]) -> str:
            put("k", "ahead")(tx)
            asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(5)
            return spec.park("offer")

        spec = db.speculate("k", late, ttl_s=5)
        await asyncio.sleep(0.05)
        assert not spec.parked
        assert db.parked_offer("k") is None  # running, not parked yet
        gate.set()
        await parked(spec)
        assert db.parked_offer("k") == "offer"
        assert db.parked_offer("other") is None
        assert db.claim_speculation("k", lambda offer: f"claimed with {offer}") is spec
        assert db.parked_offer("k") is None
        assert spec.result is not None
        assert await spec.result == "claimed with offer"

        again = db.speculate("k", ahead("k"), ttl_s=5)
        await parked(again)
        assert db.parked_offer("k") == "offer"
        again.abandon()
        assert db.parked_offer("k") is None
        assert again.offered() is None
        assert again.result is not None
        with pytest.raises(Abandoned):
            await again.result

    run(tmp_path, body)
