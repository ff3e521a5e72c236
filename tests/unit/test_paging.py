"""Page tokens: only what a List RPC handed out is accepted; anything else is a clear
INVALID_ARGUMENT (never an INTERNAL from int() or SQLite)."""

from __future__ import annotations

import base64

import pytest

from posd_daemon.domain.errors import DomainError
from posd_daemon.services import paging


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_a_token_round_trips() -> None:
    assert paging.decode_int(paging.encode("z", 42), "z", empty=0) == 42
    assert paging.decode_int("", "z", empty=7) == 7


@pytest.mark.parametrize(
    "token",
    [
        forged("z:\u00b2"),  # "²": str.isdigit() says yes, int() says no
        forged("z:\u0663"),  # Arabic-Indic 3: int() reads it, no token of ours has it
        forged("z:99999999999999999999999"),  # beyond SQLite's 64-bit integers
        forged("z:-1"),
        forged("z:"),
        forged("x:1"),
        "not base64!",
    ],
)
def test_forged_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(DomainError) as err:
        paging.decode_int(token, "z", empty=0)
    assert [(v.field, v.description) for v in err.value.violations] == [
        ("page_token", "not a token from a previous response")
    ]
