"""Timestamps a client sends: a value outside google.protobuf.Timestamp's range is a
clear INVALID_ARGUMENT naming the field (it used to end in INTERNAL), and the range's
own ends are accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from posd.client import PosdClient, PosdError, error_from_rpc
from posd.v1 import closing_pb2

BAD = [
    timestamp_pb2.Timestamp(seconds=253_402_300_800),  # 10000-01-01
    timestamp_pb2.Timestamp(seconds=-(10**12)),
    timestamp_pb2.Timestamp(seconds=2**62),
    timestamp_pb2.Timestamp(seconds=0, nanos=-1),
    timestamp_pb2.Timestamp(seconds=0, nanos=1_000_000_005),
]
LOW = timestamp_pb2.Timestamp(seconds=-62_135_596_800)  # 0001-01-01T00:00:00Z
HIGH = timestamp_pb2.Timestamp(seconds=253_402_300_799, nanos=999_999_999)
NORMAL = timestamp_pb2.Timestamp(seconds=1_700_000_000)


def _export_dsfinvk(pos: PosdClient, req: closing_pb2.ExportDsfinvkRequest) -> Any:
    try:
        stream = pos.closing.ExportDsfinvk(
            req, timeout=30, metadata=(("authorization", f"Bearer {pos.token}"),)
        )
        return b"".join(c.chunk for c in stream)
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from None


def _calls(pos: PosdClient) -> dict[str, Callable[[Any, Any], Any]]:
    """RPC name -> call(start, end) with the given Timestamps (None: unset)."""

    def build(cls: type[Any], start: Any, end: Any) -> Any:
        req = cls()
        if start is not None:
            req.start_time.CopyFrom(start)
        if end is not None:
            req.end_time.CopyFrom(end)
        return req

    return {
        "ListReceipts": lambda s, e: pos.call(
            pos.closing.ListReceipts, build(closing_pb2.ListReceiptsRequest, s, e)
        ),
        "ExportDatev": lambda s, e: pos.call(
            pos.closing.ExportDatev, build(closing_pb2.ExportDatevRequest, s, e)
        ),
        "ExportCashBook": lambda s, e: pos.call(
            pos.closing.ExportCashBook, build(closing_pb2.ExportCashBookRequest, s, e)
        ),
        "ExportDsfinvk": lambda s, e: _export_dsfinvk(
            pos, build(closing_pb2.ExportDsfinvkRequest, s, e)
        ),
    }


@pytest.mark.parametrize("rpc", ["ListReceipts", "ExportDatev", "ExportCashBook", "ExportDsfinvk"])
def test_out_of_range_timestamps_are_invalid_arguments(pos: PosdClient, rpc: str) -> None:
    call = _calls(pos)[rpc]
    for bad in BAD:
        for field in ("start_time", "end_time"):
            start, end = (bad, NORMAL) if field == "start_time" else (NORMAL, bad)
            with pytest.raises(PosdError) as err:
                call(start, end)
            e = err.value
            assert e.code == grpc.StatusCode.INVALID_ARGUMENT, (rpc, field, bad, e)
            assert e.reason == "INVALID_ARGUMENT"
            assert [f for f, _ in e.field_violations] == [field], (rpc, field, bad, e)
            assert "not a valid timestamp" in e.field_violations[0][1]
    # the range's ends are valid values: answered (no closing to export is no error of
    # the range), neither refused nor INTERNAL
    try:
        call(LOW, HIGH)
    except PosdError as exc:
        assert (rpc, exc.reason) == ("ExportDsfinvk", "NO_CLOSINGS_IN_RANGE"), exc
    assert pos.status().version  # the daemon keeps answering
