"""A change refused while a sale is being finished names the kind of finish: a post
under way keeps SALE_BEING_POSTED. (A hand-over's own reason, SALE_BEING_HANDED_OVER
naming the register, is asserted by test_parking_handover_races_local_resume.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running


def test_a_change_during_a_post_keeps_its_reason(running: Running) -> None:
    """Only the hand-over has a reason of its own: a post under way still refuses a
    change as SALE_BEING_POSTED."""
    sales: Any = running.daemon.gateway.sale_loader.__self__
    sales.start_finish("S-1", "post")
    try:
        with pytest.raises(Exception) as refused:
            sales.check_editable("S-1")
        assert getattr(refused.value, "reason", None) == "SALE_BEING_POSTED"
    finally:
        sales.end_finish("S-1")
    sales.check_editable("S-1")  # ended: nothing left behind
