"""The daemon's gRPC server serves its services through generic handlers only: grpcio's
asyncio server would otherwise wait on one task per registered method for every call
(see bootstrap.generic_handlers_only)."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from posd_daemon.bootstrap import generic_handlers_only


def _registered_call_tasks() -> list[str]:
    names = []
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", "") or repr(coro)
        if "registered_call" in name:
            names.append(name)
    return names


async def _serve_and_check(only_generic: bool) -> tuple[list[str], int]:
    server = grpc.aio.server()
    if only_generic:
        generic_handlers_only(server)
    health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await asyncio.sleep(0.05)  # the server's accept tasks are running
        pending = _registered_call_tasks()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        return pending, answer.status
    finally:
        await server.stop(None)


def test_the_daemons_server_waits_on_no_task_per_registered_method() -> None:
    pending, status = asyncio.run(_serve_and_check(only_generic=True))
    assert pending == []
    assert status == health_pb2.HealthCheckResponse.SERVING  # still served, generically


def test_grpcio_registers_methods_without_it() -> None:
    # what generic_handlers_only avoids: should grpcio stop doing this, the helper and
    # its test can go
    pending, status = asyncio.run(_serve_and_check(only_generic=False))
    assert pending, "grpcio no longer keeps a task per registered method"
    assert status == health_pb2.HealthCheckResponse.SERVING
