"""A Vorgang that is no sale (a cash movement) whose TSE finish the TSE refuses (a
permanent error, not an outage of the TSE) keeps its outage marking, and the outage it
opened still ends when the TSE answers, as it does for a refused sale receipt. Real
daemon in-process, real SQLite files, the fiskaly contract server over real HTTP."""

from __future__ import annotations

from pathlib import Path

from posd.v1 import closing_pb2, fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed, sell
from tests.integration.fiscal.test_outage_recovery_races import (
    StagedFiskaly,
    config,
    fake,  # noqa: F401  (the fixture)
)
from tests.support.e2e import db_query
from tests.support.fake_fiskaly import _Fault


def test_a_movement_the_tse_refuses_does_not_keep_the_outage_open_for_good(
    tmp_path: Path,
    fake: StagedFiskaly,  # noqa: F811
) -> None:
    """The TSE refuses (HTTP 400) the finish of a cash movement's transaction, and does
    so again each time it is asked: the movement is recorded in the outage this opens.
    Each recovery asked the TSE to finish it again, took the refusal for a TSE still out
    and kept the outage open: every later receipt marked "ausgefallen" and unsigned,
    with a TSE that signs, until the TSE's data were repaired by hand."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            pos.ensure_shift()
            assert sell(pos).tse.state == "SIGNED"
            refused: dict[str, str] = {}

            def hook(path: str) -> _Fault | None:
                if "/tx/" not in path or "states" in path:
                    return None
                tx_id = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                if not refused and "tx_revision=1" in path:
                    refused["tx"] = tx_id  # the movement's transaction: its start passes
                    return None
                if refused.get("tx") == tx_id:
                    return _Fault("fail", 1, None, status=400)
                return None

            fake.before_request = hook
            moved = pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechsel")
            assert (moved.tse.state, moved.tse.outage_number) == ("OUTAGE", 1)
            answer = pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest())
            assert (answer.recovered, answer.active_outage_number) == (True, 0)
            assert sell(pos, CASH).tse.state == "SIGNED"
            # the movement keeps its marking; its transaction was not signed as another
            assert db_query(
                running.config.database_path,
                "SELECT tse_state, outage_number FROM cash_movements WHERE number = ?",
                (moved.number,),
            ) == [("OUTAGE", 1)]
    finally:
        fake.before_request = None
        running.stop()
