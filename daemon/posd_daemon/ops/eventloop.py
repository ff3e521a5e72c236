"""The event loop posd runs on: uvloop (libuv), measured faster than asyncio's own loop
on the sale path (README, "Design"). One place, so that the tests that run the daemon in
their own process run it on the same loop as production."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    return uvloop.run(main)
