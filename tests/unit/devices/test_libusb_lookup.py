"""libusb is looked up by its soname, without pyusb's ldconfig/gcc subprocesses, once."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from posd_daemon.devices import transport
from posd_daemon.devices.errors import TransportError


def test_a_loadable_soname_is_the_answer_and_a_missing_one_is_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(transport.LIBUSB_SONAMES, "usb-1.0", "libc.so.6")
    assert transport._find_libusb("usb-1.0") == "libc.so.6"
    monkeypatch.setitem(transport.LIBUSB_SONAMES, "usb-1.0", "libposd-not-installed.so.9")
    assert transport._find_libusb("usb-1.0") is None
    # pyusb's other candidates (FreeBSD's "usb", Windows' "libusb0") are not Linux names
    assert transport._find_libusb("usb") is None
    assert transport._find_libusb("libusb0") is None


def test_the_lookup_starts_no_process_and_is_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    transport.libusb_backend.cache_clear()
    try:
        first = transport.libusb_backend()
        assert transport.libusb_backend() is first
        assert transport.libusb_backend.cache_info().misses == 1
    finally:
        transport.libusb_backend.cache_clear()


def test_a_usb_printer_without_libusb_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "libusb_backend", lambda: None)
    printer = transport.open_transport("usb://04b8:0e15")
    with pytest.raises(TransportError, match=r"no libusb backend \(install libusb-1.0"):
        printer.open()
