"""GetShift with a negative shift id is a client error: it used to answer with the open
(or last) shift, as for 0, so a client that sent a wrong number was shown another
shift's counts and balances as if they were the ones it asked for."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError

from tests.integration.day.conftest import Day


def test_a_negative_shift_id_is_refused_not_answered_with_the_open_shift(day: Day) -> None:
    dc = day.day
    opened = dc.open_shift(PosdClient.cash_counts(total=10000))
    assert dc.get_shift(0).shift_id == opened.shift_id  # 0: the open shift
    assert dc.get_shift(opened.shift_id).shift_id == opened.shift_id
    with pytest.raises(PosdError) as err:
        dc.get_shift(-1)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert [f for f, _ in err.value.field_violations] == ["shift_id"]
    with pytest.raises(PosdError) as err:
        dc.get_shift(-opened.shift_id)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value
