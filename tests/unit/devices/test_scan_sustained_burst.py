"""A scanner stuck in a loop (or line noise that happens to form codes) sends codes
faster than anyone can scan for as long as it lasts. The burst filter let
``max_per_second`` of them through in every second of it (each one a line in the open
sale); it must reject the burst until the input calms down."""

from __future__ import annotations

from posd_daemon.devices.scanning import Code, Rejected, ScanDecoder, ScanRules


def test_a_sustained_burst_is_rejected_until_the_scanner_calms_down() -> None:
    d = ScanDecoder(ScanRules(max_per_second=20))
    out: list[Code | Rejected] = []
    # 100 codes a second for 5 seconds, read in chunks every 0.1 s
    for tick in range(50):
        out += d.feed(b"4006381333931\r" * 10, tick / 10)
    accepted = [r for r in out if isinstance(r, Code)]
    assert len(accepted) == 20  # the first second's, before it was known as a burst
    assert all(r.reason == "BURST" for r in out if isinstance(r, Rejected))
    # quiet for more than a second: a person scanning is heard again
    assert d.feed(b"4006381333931\r", 6.1) == [Code("4006381333931", "EAN13")]
    assert d.feed(b"96385074\r", 6.5) == [Code("96385074", "EAN8")]


def test_scans_at_a_human_pace_are_never_a_burst() -> None:
    d = ScanDecoder(ScanRules(max_per_second=3))
    out: list[Code | Rejected] = []
    for i in range(30):
        out += d.feed(b"4006381333931\r", i * 0.4)  # 2.5 a second, for 12 seconds
    assert len(out) == 30 and all(isinstance(r, Code) for r in out)
