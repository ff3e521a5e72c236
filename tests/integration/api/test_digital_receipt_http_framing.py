"""The digital receipt server's request framing (RFC 9112) over a real TCP socket against
the real daemon: requests whose framing is ambiguous (two Content-Length values, no or two
Host fields) are refused with 400 as the RFC requires, and the one piece of leniency it
asks for (an empty line before the request line) is given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Running, running_daemon
from tests.integration.api.test_digital_receipts import (
    digital_config,
    port_of,
    printed_url,
    raw,
    sell,
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Running, int, str]]:
    """The running daemon, its receipt server's port and a posted receipt's path."""
    with running_daemon(tmp_path / "state", digital_config()) as r:
        with r.client() as pos:
            posted = sell(pos)
        path = urlsplit(printed_url(r, posted.receipt_number)).path
        yield r, port_of(r), path


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_two_different_content_lengths_are_a_400(served: tuple[Running, int, str]) -> None:
    _, port, path = served
    # RFC 9112 § 6.3 (5): differing Content-Length values are an unrecoverable framing
    # error a server MUST answer with 400; the last one used to win, in either order
    for first, second in (("5", "0"), ("0", "5")):
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {first}\r\n"
        head += f"Content-Length: {second}\r\n\r\nhello"
        answer = raw(port, head.encode())
        assert status_of(answer) == 400, answer[:200]
    # the same value twice is one length (ibid.): served
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
    assert status_of(raw(port, head.encode())) == 200


def test_an_http11_request_without_a_host_or_with_two_is_a_400(
    served: tuple[Running, int, str],
) -> None:
    _, port, path = served
    # RFC 9112 § 3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host
    # field and to one with more than one
    for fields in ("", "Host: a\r\nHost: b\r\n"):
        answer = raw(port, f"GET {path} HTTP/1.1\r\n{fields}\r\n".encode())
        assert status_of(answer) == 400, answer[:200]
        assert b"Beleg-Nr." not in answer
    # HTTP/1.0 has no Host requirement; an HTTP/1.1 request with one is served
    assert status_of(raw(port, f"GET {path} HTTP/1.0\r\n\r\n".encode())) == 200
    assert status_of(raw(port, f"GET {path} HTTP/1.1\r\nhost: a\r\n\r\n".encode())) == 200


def test_an_empty_line_before_the_request_line_is_ignored(
    served: tuple[Running, int, str],
) -> None:
    _, port, path = served
    # RFC 9112 § 2.2: a server SHOULD ignore at least one empty line received before
    # the request line (left over from a client's previous message)
    answer = raw(port, f"\r\nGET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status_of(answer) == 200, answer[:200]
    assert b"Beleg-Nr." in answer
