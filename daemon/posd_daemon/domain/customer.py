"""Customers: consumers (prices entered gross) and businesses (prices entered net).

Every sale has a customer; a new sale starts with the shop's default customer, an
anonymous walk-in customer ("Laufkunde"). A sale keeps a snapshot of its customer
(:class:`CustomerSnapshot`) so that a receipt or invoice printed later shows the
customer as they were when the sale was made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.money import check_currency
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.domain.vat import PriceBasis

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
#: ISO 3166-1 alpha-2, as the API documents ``country_code``
_COUNTRY = re.compile(r"[A-Z]{2}")
#: a VAT identification number: a two-letter prefix (EU: the country, EL for Greece,
#: XI for Northern Ireland; CHE for Switzerland) and 2..13 letters or digits, written
#: with optional spaces, dots or dashes (``DE 123 456 789``, ``CHE-123.456.789 MWST``)
_VAT_ID = re.compile(r"[A-Z]{2}[A-Z0-9+* .-]+")
_VAT_ID_SEPARATORS = re.compile(r"[ .-]")
#: the German USt-IdNr: DE and nine digits (§ 27a UStG)
_VAT_ID_DE = re.compile(r"DE[0-9]{9}")


def _check_vat_id(vat_id: str) -> None:
    compact = _VAT_ID_SEPARATORS.sub("", vat_id)
    if (
        not _VAT_ID.fullmatch(vat_id)
        or not 4 <= len(compact) <= 16
        or (compact.startswith("DE") and not _VAT_ID_DE.fullmatch(compact))
    ):
        raise invalid(
            "customer.vat_id",
            "not a VAT identification number: a country prefix in capitals and its"
            " number, like DE123456789",
            "INVALID_VAT_ID",
        )


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class Customer:
    number: str
    name: str
    company: str = ""
    email: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    vat_id: str = ""
    #: "" = the shop's currency
    default_currency: str = ""
    #: GROSS: consumer, prices with VAT; NET: business customer, prices without VAT
    price_entry: PriceBasis = PriceBasis.GROSS
    #: customer discount applied to every line (0..100)
    discount_percent: Decimal = Decimal(0)
    anonymous: bool = False

    @property
    def etag(self) -> str:
        """The record's version as the API shows it (Google AIP-154: opaque, sent back
        to make an update conditional): a digest of everything stored, so it changes
        with every change, by whichever call (an import's included), and needs no
        counter in the schema. Equal records have equal etags, which loses nothing: an
        edit based on a record equal to the stored one undoes no other edit. Quoted like
        an HTTP entity tag (RFC 9110, 8.8.3), the form AIP-154 names."""
        fields = (
            self.number,
            self.name,
            self.company,
            self.email,
            self.street,
            self.postal_code,
            self.city,
            self.country,
            self.vat_id,
            self.default_currency,
            self.price_entry.value,
            str(self.discount_percent),
            str(int(self.anonymous)),
        )
        digest = hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:20]
        return f'"{digest}"'

    def validated(self) -> Customer:
        check_code(self.number, "customer.number")
        check_text(self.name, "customer.name", max_len=120)
        check_text(self.company, "customer.company", max_len=120, required=False)
        check_text(self.email, "customer.email", max_len=254, required=False)
        if self.email and not _EMAIL.fullmatch(self.email.strip()):
            raise invalid("customer.email", "not an e-mail address", "INVALID_EMAIL")
        for name, max_len in (
            ("street", 120),
            ("postal_code", 16),
            ("city", 80),
            ("country", 2),
            ("vat_id", 20),
        ):
            check_text(getattr(self, name), f"customer.{name}", max_len=max_len, required=False)
        if self.country and not _COUNTRY.fullmatch(self.country):
            raise invalid(
                "customer.country_code",
                "not an ISO 3166-1 alpha-2 country code in capitals, like DE",
                "INVALID_COUNTRY",
            )
        if self.vat_id:
            _check_vat_id(self.vat_id)
        if self.default_currency:
            check_currency(self.default_currency, "customer.default_currency")
        d = self.discount_percent
        if not d.is_finite() or not 0 <= d <= 100 or d != d.quantize(Decimal("0.01")):
            raise invalid("customer.discount_percent", "0..100 with at most 2 decimals")
        return self

    def snapshot(self) -> CustomerSnapshot:
        return CustomerSnapshot(
            number=self.number,
            name=self.name,
            company=self.company,
            email=self.email,
            street=self.street,
            postal_code=self.postal_code,
            city=self.city,
            country=self.country,
            vat_id=self.vat_id,
            anonymous=self.anonymous,
        )


@dataclass(frozen=True, slots=True)
class CustomerSnapshot:
    """The customer as the sale knows them (what documents print)."""

    number: str
    name: str
    company: str = ""
    email: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    vat_id: str = ""
    anonymous: bool = True

    @property
    def has_address(self) -> bool:
        return bool(self.street.strip() and self.city.strip())

    def address_lines(self) -> tuple[str, ...]:
        lines = [self.company, self.name] if self.company else [self.name]
        if self.street:
            lines.append(self.street)
        place = " ".join(p for p in (self.postal_code, self.city) if p)
        if place:
            lines.append(place)
        if self.country:
            lines.append(self.country)
        return tuple(line for line in lines if line)

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "name": self.name,
            "company": self.company,
            "email": self.email,
            "street": self.street,
            "postal_code": self.postal_code,
            "city": self.city,
            "country": self.country,
            "vat_id": self.vat_id,
            "anonymous": self.anonymous,
        }

    @staticmethod
    def from_dict(data: dict[str, object]) -> CustomerSnapshot:
        return CustomerSnapshot(
            number=str(data.get("number", "")),
            name=str(data.get("name", "")),
            company=str(data.get("company", "")),
            email=str(data.get("email", "")),
            street=str(data.get("street", "")),
            postal_code=str(data.get("postal_code", "")),
            city=str(data.get("city", "")),
            country=str(data.get("country", "")),
            vat_id=str(data.get("vat_id", "")),
            anonymous=bool(data.get("anonymous", True)),
        )


#: What a sale shows before it has a customer record (rows written before schema 4).
NO_CUSTOMER = CustomerSnapshot(number="", name="", anonymous=True)
