"""DSFinV-K values are cut to the length index.xml declares, counted in characters of the
value (not of its escaped form), and a customer is written as the Bonkopf wants it."""

from __future__ import annotations

import csv
import io

from posd_daemon.domain.customer import CustomerSnapshot
from posd_daemon.exports import dsfinvk, dsfinvk_spec


def _read(field: str) -> str:
    return next(csv.reader(io.StringIO(field), delimiter=";"))[0]


def test_every_alphanumeric_column_has_one_declared_length() -> None:
    for table in dsfinvk_spec.TABLES:
        for c in table.columns:
            if not c.numeric:
                assert dsfinvk_spec.MAX_LENGTH[c.name] == c.max_length > 0


def test_a_value_is_cut_by_its_characters_before_quotes_are_doubled() -> None:
    # 49 letters, a quote, more: the value keeps 50 characters, the quote included
    value = "ä" * 49 + '"' + "zzz"
    written = dsfinvk._q(value, "ART_NR")
    assert written == '"' + "ä" * 49 + '"""'
    assert _read(written) == value[:50]
    # short values and line breaks as before
    assert _read(dsfinvk._q('Bio "Kaffee"\r\nfein', "ARTIKELTEXT")) == 'Bio "Kaffee"  fein'


def test_customer_columns() -> None:
    walk_in = CustomerSnapshot(number="0", name="Laufkunde", anonymous=True)
    assert [_read(f) for f in dsfinvk._customer_columns(walk_in).split(";")] == [""] * 8
    kosovo = CustomerSnapshot(
        number="K-9", name="Arben", country="XK", vat_id="DE 123.456-789", anonymous=False
    )
    cols = [_read(f) for f in dsfinvk._customer_columns(kosovo).split(";")]
    # XK is user-assigned (no alpha-3 in ISO 3166-1): kept as given
    assert cols == ["Arben", "K-9", "Unternehmen", "", "", "", "XK", "DE123456789"]


def test_process_data_too_long_for_its_column_is_left_out_not_cut() -> None:
    # a cut processData would not verify against the signature; the column is optional
    short = "Beleg^8.99_0.00_0.00_0.00_0.00^8.99:Bar"
    assert dsfinvk._process_data(short) == short
    assert dsfinvk._process_data("x" * 1000) == "x" * 1000
    assert dsfinvk._process_data("x" * 1001) == ""
    assert dsfinvk._process_data(None) == ""
