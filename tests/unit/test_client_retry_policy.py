"""The client repeats a call after a transient failure only when that is safe."""

from __future__ import annotations

from posd.client import safe_to_repeat
from posd.v1 import device_pb2, sale_pb2, system_pb2


def test_reads_and_mutations_with_a_request_id_are_repeated() -> None:
    assert safe_to_repeat(sale_pb2.GetSaleRequest(sale_id="s"))
    assert safe_to_repeat(sale_pb2.ListSalesRequest())
    assert safe_to_repeat(system_pb2.GetStatusRequest())
    assert safe_to_repeat(sale_pb2.AddLineRequest(request_id="r1", sale_id="s"))


def test_calls_with_effects_and_no_request_id_are_not() -> None:
    # an EXTERNAL check prints a test page; repeating it prints another
    assert not safe_to_repeat(device_pb2.CheckHealthRequest(device_id="printer", level=2))
    assert not safe_to_repeat(sale_pb2.AddLineRequest(sale_id="s"))  # no request_id
