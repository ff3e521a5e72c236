"""One GTIN, however many leading zeros it is written with: master data from a GS1 feed
(or a GS1-128/ITF-14 reader) gives GTINs right-justified in 14 digits, an EAN-13 scanner
sends 13, a UPC scanner 12, an EAN-8 scanner 8 (GS1 General Specifications: a GTIN-8,
-12 or -13 in a 14-digit field is padded with leading zeros and stays the same GTIN)."""

from __future__ import annotations

from posd_daemon.domain.barcode import gtin_forms, gtin_key


def test_an_ean13_and_its_14_digit_form_are_one_gtin() -> None:
    assert "04006381333931" in gtin_forms("4006381333931")
    assert "4006381333931" in gtin_forms("04006381333931")
    assert gtin_key("04006381333931") == gtin_key("4006381333931")


def test_a_upca_in_14_digits() -> None:
    for code in ("036000291452", "0036000291452", "00036000291452"):
        forms = gtin_forms(code)
        assert {"036000291452", "0036000291452", "00036000291452"} <= set(forms)
        assert forms[0] == code
    assert gtin_key("00036000291452") == gtin_key("036000291452")


def test_an_ean8_padded_to_13_or_14_digits() -> None:
    for code in ("40123455", "0000040123455", "00000040123455"):
        assert {"40123455", "0000040123455", "00000040123455"} <= set(gtin_forms(code))
    assert gtin_key("00000040123455") == gtin_key("0000040123455") == gtin_key("40123455")


def test_a_gtin14_with_an_indicator_digit_is_another_article() -> None:
    # 1 4006381 33393 8: a case of the EAN-13 article, its own GTIN (and check digit)
    assert gtin_forms("14006381333938") == ("14006381333938",)
    assert gtin_key("14006381333938") != gtin_key("4006381333931")


def test_14_digits_with_a_wrong_check_digit_are_no_gtin() -> None:
    # an internal 14-digit code: only itself
    assert gtin_forms("04006381333932") == ("04006381333932",)
    assert gtin_key("04006381333932") == "04006381333932"
