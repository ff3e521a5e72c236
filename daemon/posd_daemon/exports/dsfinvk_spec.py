"""The DSFinV-K 2.x file list, columns (names, order, types) and the GDPdU DTD.

Sources (facts, not code):

* DSFinV-K (Digitale Schnittstelle der Finanzverwaltung für Kassensysteme), BZSt, version
  2.x, chapters 3.1 (Einzelaufzeichnungsmodul), 3.2 (Stammdatenmodul), 3.3
  (Kassenabschlussmodul) and Anhang E; the published ``index.xml``. The column lists
  below were checked against two independent transcriptions of that index.xml (the
  generated table of github.com/TWEECORE/dsfinvk ``schema/tables_gen.go``, "generated
  from index.xml", DSFinV-K 2.4; and github.com/pretix/python-dsfinvk
  ``dsfinvk/models/spec.py``, taxonomy 2.1). They agree on every file, column and order;
  where they differ in a name (``TSE_VORGANGSDATEN`` vs ``TSE_TA_VORGANGSDATEN``) the
  spelling of the index.xml transcription is used, which github.com/opencore/dsfinvk-java
  (``TseTransaktionen.java``) confirms.
* CSV dialect (index.xml of every DSFinV-K export and fiscal-de.md): UTF-8, ``;`` column
  delimiter, CRLF record delimiter, ``"`` text encapsulator, ``,`` decimal symbol, a
  header row (data from row 2).
* ``gdpdu-01-09-2004.dtd``: the GDPdU "Beschreibungsstandard" DTD, version 1.5 of
  September 1st, 2004 (hence the file name), which every DSFinV-K index.xml references.
  Below, its element declarations are reproduced verbatim from the published DTD (an
  export must ship it beside index.xml); the standard's long explanatory comments are
  shortened.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

#: DFKA taxonomy version written to cashpointclosing.csv TAXONOMIE_VERSION.
TAXONOMY_VERSION = "2.3"

DTD_NAME = "gdpdu-01-09-2004.dtd"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    description: str
    numeric: bool
    accuracy: int = 0
    max_length: int = 0


@dataclass(frozen=True, slots=True)
class Table:
    file: str
    name: str
    columns: tuple[Column, ...]
    #: how many of the leading columns form the primary key (``VariablePrimaryKey``)
    key_columns: int = 3
    #: ``ForeignKey`` elements: (its column names, the ``Name`` of the table referenced)
    foreign_keys: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def header(self) -> str:
        return ";".join(c.name for c in self.columns) + "\r\n"


def _col(name: str, description: str, kind: str) -> Column:
    """``kind``: ``A<n>`` alphanumeric of max length n, ``N`` or ``N<accuracy>`` numeric."""
    if kind.startswith("A"):
        return Column(name, description, False, max_length=int(kind[1:]))
    return Column(name, description, True, accuracy=int(kind[1:] or 0))


_Z_KEY = (
    ("Z_KASSE_ID", "ID der (Abschluss-) Kasse", "A50"),
    ("Z_ERSTELLUNG", "Zeitpunkt des Kassenabschlusses", "A30"),
    ("Z_NR", "Nr. des Kassenabschlusses", "N"),
)
_BON_ID = ("BON_ID", "Vorgangs-ID", "A40")
_POS_ZEILE = ("POS_ZEILE", "Zeilennummer", "A50")

_SPEC: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    # -- Stammdatenmodul (3.2) -----------------------------------------------------------
    (
        "cashpointclosing.csv",
        "Stamm_Abschluss",
        (
            ("Z_BUCHUNGSTAG", "Vom Erstellungsdatum abweichender Verbuchungstag", "A25"),
            ("TAXONOMIE_VERSION", "Version der DFKA-Taxonomie-Kasse", "A10"),
            ("Z_START_ID", "Erste BON_ID im Abschluss", "A40"),
            ("Z_ENDE_ID", "Letzte BON_ID im Abschluss", "A40"),
            ("NAME", "Name des Unternehmens", "A60"),
            ("STRASSE", "Straße", "A60"),
            ("PLZ", "Postleitzahl", "A10"),
            ("ORT", "Ort", "A62"),
            ("LAND", "Land", "A3"),
            ("STNR", "Steuernummer des Unternehmens", "A20"),
            ("USTID", "USTID", "A15"),
            ("Z_SE_ZAHLUNGEN", "Summe aller Zahlungen", "N2"),
            ("Z_SE_BARZAHLUNGEN", "Summe aller Barzahlungen", "N2"),
        ),
    ),
    (
        "location.csv",
        "Stamm_Orte",
        (
            ("LOC_NAME", "Name des Standortes", "A60"),
            ("LOC_STRASSE", "Straße", "A60"),
            ("LOC_PLZ", "Postleitzahl", "A10"),
            ("LOC_ORT", "Ort", "A62"),
            ("LOC_LAND", "Land", "A3"),
            ("LOC_USTID", "USTID", "A15"),
        ),
    ),
    (
        "cashregister.csv",
        "Stamm_Kassen",
        (
            ("KASSE_BRAND", "Marke der Kasse", "A50"),
            ("KASSE_MODELL", "Modellbezeichnung", "A50"),
            ("KASSE_SERIENNR", "Seriennummer der Kasse", "A70"),
            ("KASSE_SW_BRAND", "Markenbezeichnung der Software", "A50"),
            ("KASSE_SW_VERSION", "Version der Software", "A50"),
            ("KASSE_BASISWAEH_CODE", "Basiswährung der Kasse", "A3"),
            (
                "KEINE_UST_ZUORDNUNG",
                "UmsatzsteuerNichtErmittelbar (bei späterem Zahlungseingang)",
                "A1",
            ),
        ),
    ),
    (
        "slaves.csv",
        "Stamm_Terminals",
        (
            ("TERMINAL_ID", "ID des Terminals", "A50"),
            ("TERMINAL_BRAND", "Marke der Terminals", "A50"),
            ("TERMINAL_MODELL", "Modellbezeichnung des Terminals", "A50"),
            ("TERMINAL_SERIENNR", "Seriennummer des Terminals", "A70"),
            ("TERMINAL_SW_BRAND", "Markenbezeichnung der Software", "A50"),
            ("TERMINAL_SW_VERSION", "Version der Software", "A50"),
        ),
    ),
    (
        "pa.csv",
        "Stamm_Agenturen",
        (
            ("AGENTUR_ID", "ID der Agentur", "N"),
            ("AGENTUR_NAME", "Name des Auftraggebers", "A60"),
            ("AGENTUR_STRASSE", "Straße", "A60"),
            ("AGENTUR_PLZ", "Postleitzahl", "A10"),
            ("AGENTUR_ORT", "Ort", "A62"),
            ("AGENTUR_LAND", "Land", "A3"),
            ("AGENTUR_STNR", "Steuernummer des Auftraggebers", "A20"),
            ("AGENTUR_USTID", "USTID des Auftraggebers", "A15"),
        ),
    ),
    (
        "tse.csv",
        "Stamm_TSE",
        (
            ("TSE_ID", "ID der TSE", "N"),
            ("TSE_SERIAL", "Seriennummer der TSE", "A68"),
            ("TSE_SIG_ALGO", "Der von der TSE verwendete Signaturalgorithmus", "A21"),
            ("TSE_ZEITFORMAT", "Das von der TSE verwendete Format für die Log-Time", "A31"),
            ("TSE_PD_ENCODING", "Das Text-Encoding der ProcessData (UTF-8 oder ASCII)", "A5"),
            ("TSE_PUBLIC_KEY", "Öffentlicher Schlüssel der TSE in base64-Codierung", "A512"),
            ("TSE_ZERTIFIKAT_I", "Erste 1000 Zeichen des Zertifikats der TSE (base64)", "A1000"),
            ("TSE_ZERTIFIKAT_II", "Ggf. Rest des Zertifikats der TSE (base64)", "A1000"),
        ),
    ),
    (
        "vat.csv",
        "Stamm_USt",
        (
            ("UST_SCHLUESSEL", "ID des Umsatzsteuersatzes", "N"),
            ("UST_SATZ", "Prozentsatz", "N2"),
            ("UST_BESCHR", "Beschreibung", "A55"),
        ),
    ),
    # -- Kassenabschlussmodul (3.3) ------------------------------------------------------
    (
        "businesscases.csv",
        "Z_GV_Typ",
        (
            ("GV_TYP", "Geschäftsvorfall-Art", "A30"),
            ("GV_NAME", "Name des Geschäftsvorfalls", "A40"),
            ("AGENTUR_ID", "ID der Agentur", "N"),
            ("UST_SCHLUESSEL", "ID des USt-Satzes", "N"),
            ("Z_UMS_BRUTTO", "Bruttoumsatz", "N5"),
            ("Z_UMS_NETTO", "Nettoumsatz", "N5"),
            ("Z_UST", "Umsatzsteuer", "N5"),
        ),
    ),
    (
        "payment.csv",
        "Z_Zahlart",
        (
            ("ZAHLART_TYP", "Typ der Zahlart", "A25"),
            ("ZAHLART_NAME", "Name der Zahlart", "A60"),
            ("Z_ZAHLART_BETRAG", "Betrag", "N2"),
        ),
    ),
    (
        "cash_per_currency.csv",
        "Z_Waehrungen",
        (
            ("ZAHLART_WAEH", "Währung", "A3"),
            ("ZAHLART_BETRAG_WAEH", "Betrag", "N2"),
        ),
    ),
    # -- Einzelaufzeichnungsmodul (3.1) --------------------------------------------------
    (
        "transactions.csv",
        "Bonkopf",
        (
            _BON_ID,
            ("BON_NR", "Bonnummer", "N"),
            ("BON_TYP", "Bontyp", "A30"),
            ("BON_NAME", "Zusatz-Beschreibung zum Bontyp", "A60"),
            ("TERMINAL_ID", "ID des Erfassungsterminals", "A50"),
            ("BON_STORNO", "Storno-Kennzeichen", "A1"),
            ("BON_START", "Zeitpunkt des Vorgangsstarts", "A30"),
            ("BON_ENDE", "Zeitpunkt der Vorgangsbeendigung", "A30"),
            ("BEDIENER_ID", "Bediener-ID", "A50"),
            ("BEDIENER_NAME", "Bediener-Name", "A50"),
            ("UMS_BRUTTO", "Brutto-Gesamtumsatz", "N2"),
            ("KUNDE_NAME", "Name des Leistungsempfängers", "A50"),
            ("KUNDE_ID", "Kundennummer des Leistungsempfängers", "A50"),
            ("KUNDE_TYP", "Art des Leistungsempfängers (z. B. Mitarbeiter)", "A50"),
            ("KUNDE_STRASSE", "Straße und Hausnummer des Leistungsempfängers", "A60"),
            ("KUNDE_PLZ", "PLZ des Leistungsempfängers", "A10"),
            ("KUNDE_ORT", "Ort des Leistungsempfängers", "A62"),
            ("KUNDE_LAND", "Land des Leistungsempfängers", "A3"),
            ("KUNDE_USTID", "UStID des Leistungsempfängers", "A15"),
            ("BON_NOTIZ", "Zusätzliche Informationen zum Bonkopf", "A255"),
        ),
    ),
    (
        "datapayment.csv",
        "Bonkopf_Zahlarten",
        (
            _BON_ID,
            ("ZAHLART_TYP", "Typ der Zahlart", "A25"),
            ("ZAHLART_NAME", "Name der Zahlart", "A60"),
            ("ZAHLWAEH_CODE", "Währungscode", "A3"),
            ("ZAHLWAEH_BETRAG", "Betrag in Fremdwährung", "N2"),
            ("BASISWAEH_BETRAG", "Betrag in Basiswährung (i.d.R. EUR)", "N2"),
        ),
    ),
    (
        "lines.csv",
        "Bonpos",
        (
            _BON_ID,
            _POS_ZEILE,
            ("GUTSCHEIN_NR", "Gutschein-Nr.", "A50"),
            ("ARTIKELTEXT", "Artikeltext", "A255"),
            ("POS_TERMINAL_ID", "ID des POS-Terminals", "A50"),
            ("GV_TYP", "Geschäftsvorfall-Art", "A30"),
            ("GV_NAME", "Name des Geschäftsvorfalls", "A40"),
            ("INHAUS", "Verzehr an Ort und Stelle", "A1"),
            ("P_STORNO", "Positionsstorno-Kennzeichnung", "A1"),
            ("AGENTUR_ID", "ID der Agentur", "N"),
            ("ART_NR", "Artikelnummer", "A50"),
            ("GTIN", "GTIN", "A50"),
            ("WARENGR_ID", "Warengruppen-ID", "A40"),
            ("WARENGR", "Bezeichnung Warengruppe", "A50"),
            ("MENGE", "Menge", "N3"),
            ("FAKTOR", "Faktor, z. B. Gebindegrößen", "N3"),
            ("EINHEIT", "Maßeinheit, z. B. kg, Liter oder Stück", "A50"),
            ("STK_BR", "Preis pro Einheit inkl. USt", "N5"),
        ),
    ),
    (
        "itemamounts.csv",
        "Bonpos_Preisfindung",
        (
            _BON_ID,
            _POS_ZEILE,
            ("TYP", "Basispreis, Rabatt oder Zuschlag", "A20"),
            ("UST_SCHLUESSEL", "ID des USt-Satzes", "N"),
            ("PF_BRUTTO", "Bruttoumsatz", "N5"),
            ("PF_NETTO", "Nettoumsatz", "N5"),
            ("PF_UST", "Umsatzsteuer", "N5"),
        ),
    ),
    (
        "subitems.csv",
        "Bonpos_Zusatzinfo",
        (
            _BON_ID,
            _POS_ZEILE,
            ("ZI_ART_NR", "Artikelnummer", "A50"),
            ("ZI_GTIN", "GTIN", "A50"),
            ("ZI_NAME", "Artikelbezeichnung", "A60"),
            ("ZI_WARENGR_ID", "Warengruppen-ID", "A40"),
            ("ZI_WARENGR", "Bezeichnung Warengruppe", "A50"),
            ("ZI_MENGE", "Menge", "N3"),
            ("ZI_FAKTOR", "Faktor, z. B. Gebindegrößen", "N3"),
            ("ZI_EINHEIT", "Maßeinheit, z. B. kg, Liter oder Stück", "A50"),
            ("ZI_UST_SCHLUESSEL", "ID USt-Satz des Basispreises", "N"),
            ("ZI_BASISPREIS_BRUTTO", "Basispreis brutto", "N5"),
            ("ZI_BASISPREIS_NETTO", "Basispreis netto", "N5"),
            ("ZI_BASISPREIS_UST", "Basispreis USt", "N5"),
        ),
    ),
    (
        "transactions_tse.csv",
        "TSE_Transaktionen",
        (
            _BON_ID,
            ("TSE_ID", "Die Id der für eine Transaktion verwendeten TSE", "N"),
            ("TSE_TANR", "Die Transaktionsnummer der TSE-Transaktion", "N"),
            ("TSE_TA_START", "Die Log-Time der StartTransaction-Operation", "A30"),
            ("TSE_TA_ENDE", "Die Log-Time der FinishTransaction-Operation", "A30"),
            ("TSE_TA_VORGANGSART", "Der processType der FinishTransaction-Operation", "A30"),
            ("TSE_TA_SIGZ", "Der Signaturzähler der FinishTransaction-Operation", "N"),
            ("TSE_TA_SIG", "Die Signatur der FinishTransaction-Operation", "A512"),
            ("TSE_TA_FEHLER", "Beschreibung des TSE-Ausfalls oder Fehlers", "A200"),
            ("TSE_VORGANGSDATEN", "An die TSE übergebene Daten des Vorgangs (optional)", "A1000"),
        ),
    ),
    (
        "transactions_vat.csv",
        "Bonkopf_USt",
        (
            _BON_ID,
            ("UST_SCHLUESSEL", "ID des USt-Satzes", "N"),
            ("BON_BRUTTO", "Bruttoumsatz", "N5"),
            ("BON_NETTO", "Nettoumsatz", "N5"),
            ("BON_UST", "Umsatzsteuer", "N5"),
        ),
    ),
    (
        "lines_vat.csv",
        "Bonpos_USt",
        (
            _BON_ID,
            _POS_ZEILE,
            ("UST_SCHLUESSEL", "ID des USt-Satzes", "N"),
            ("POS_BRUTTO", "Bruttoumsatz", "N5"),
            ("POS_NETTO", "Nettoumsatz", "N5"),
            ("POS_UST", "Umsatzsteuer", "N5"),
        ),
    ),
    (
        "allocation_groups.csv",
        "Bonkopf_AbrKreis",
        (
            _BON_ID,
            ("ABRECHNUNGSKREIS", "z. B. Tischnummer", "A50"),
        ),
    ),
    (
        "references.csv",
        "Bon_Referenzen",
        (
            _BON_ID,
            (
                "POS_ZEILE",
                "Zeilennummer des referenzierenden Vorgangs (nicht bei Verweis aus einem"
                " Bonkopf heraus)",
                "A50",
            ),
            ("REF_TYP", "Art der Referenz", "A20"),
            ("REF_NAME", "Beschreibung bei Art ExterneSonstige", "A40"),
            ("REF_DATUM", "Datum des Kassenabschlusses", "A30"),
            ("REF_Z_KASSE_ID", "ID der (Abschluss-) Kasse", "A50"),
            ("REF_Z_NR", "Nr. des Kassenabschlusses", "N"),
            ("REF_BON_ID", "Vorgangs-ID", "A40"),
        ),
    ),
)

# Keys (the spec's index.xml, DSFinV-K 2.x): every table is keyed by its closing
# (Z_KASSE_ID, Z_ERSTELLUNG, Z_NR), a foreign key into Stamm_Abschluss, which the
# closing's own row is; the Einzelaufzeichnungen also by their Vorgang (BON_ID, a
# foreign key into Bonkopf, whose own row it is), the lines' tables also by their line
# (POS_ZEILE, into Bonpos). A GDPdU key is the table's leading columns
# (VariablePrimaryKey before VariableColumn, gdpdu-01-09-2004.dtd); the foreign keys
# follow the columns. A primary key identifies ONE row: a table with several rows per
# closing, Vorgang or line is keyed further by what tells them apart (a VAT key, a
# payment type, name and currency, ...), the leading columns after those above.
_Z_KEY_NAMES = tuple(name for name, _, _ in _Z_KEY)
_BON_KEY_NAMES = (*_Z_KEY_NAMES, "BON_ID")
_LINE_KEY_NAMES = (*_BON_KEY_NAMES, "POS_ZEILE")
_BY_LINE = frozenset({"Bonpos", "Bonpos_USt", "Bonpos_Preisfindung", "Bonpos_Zusatzinfo"})
#: the table's key columns after the closing's three (its leading columns)
_KEY = {
    "Stamm_Terminals": ("TERMINAL_ID",),
    "Stamm_Agenturen": ("AGENTUR_ID",),
    "Stamm_TSE": ("TSE_ID",),
    "Stamm_USt": ("UST_SCHLUESSEL",),
    "Z_GV_Typ": ("GV_TYP", "GV_NAME", "AGENTUR_ID", "UST_SCHLUESSEL"),
    "Z_Zahlart": ("ZAHLART_TYP", "ZAHLART_NAME"),
    "Z_Waehrungen": ("ZAHLART_WAEH",),
    "Bonkopf": ("BON_ID",),
    "Bonkopf_USt": ("BON_ID", "UST_SCHLUESSEL"),
    "Bonkopf_AbrKreis": ("BON_ID", "ABRECHNUNGSKREIS"),
    "Bonkopf_Zahlarten": ("BON_ID", "ZAHLART_TYP", "ZAHLART_NAME", "ZAHLWAEH_CODE"),
    # a reference is the whole row (POS_ZEILE is empty for one of a whole Vorgang)
    "Bon_Referenzen": (
        "BON_ID",
        "POS_ZEILE",
        "REF_TYP",
        "REF_NAME",
        "REF_DATUM",
        "REF_Z_KASSE_ID",
        "REF_Z_NR",
        "REF_BON_ID",
    ),
    "TSE_Transaktionen": ("BON_ID", "TSE_ID", "TSE_TANR"),
    "Bonpos": ("BON_ID", "POS_ZEILE"),
    "Bonpos_USt": ("BON_ID", "POS_ZEILE", "UST_SCHLUESSEL"),
    "Bonpos_Preisfindung": ("BON_ID", "POS_ZEILE", "TYP", "UST_SCHLUESSEL"),
    "Bonpos_Zusatzinfo": ("BON_ID", "POS_ZEILE", "ZI_ART_NR", "ZI_GTIN", "ZI_NAME"),
}


def _table(file: str, name: str, cols: tuple[tuple[str, str, str], ...]) -> Table:
    columns = tuple(_col(*c) for c in (*_Z_KEY, *cols))
    by_bon = bool(cols) and cols[0] == _BON_ID
    key = (*_Z_KEY_NAMES, *_KEY.get(name, ()))
    if tuple(c.name for c in columns[: len(key)]) != key:
        raise ValueError(f"{name}: its key columns are not its leading columns")
    fks: list[tuple[tuple[str, ...], str]] = []
    if name != "Stamm_Abschluss":
        fks.append((_Z_KEY_NAMES, "Stamm_Abschluss"))
    if by_bon and name != "Bonkopf":
        fks.append((_BON_KEY_NAMES, "Bonkopf"))
    if name in _BY_LINE and name != "Bonpos":
        fks.append((_LINE_KEY_NAMES, "Bonpos"))
    return Table(file, name, columns, len(key), tuple(fks))


TABLES: tuple[Table, ...] = tuple(_table(file, name, cols) for file, name, cols in _SPEC)
TABLE_BY_FILE: dict[str, Table] = {t.file: t for t in TABLES}


def _max_lengths() -> dict[str, int]:
    """Column name -> declared MaxLength of every alphanumeric column. A name means one
    length in every file that has it (checked here), so the writer can look lengths up
    by column name alone."""
    out: dict[str, int] = {}
    for t in TABLES:
        for c in t.columns:
            if not c.numeric and out.setdefault(c.name, c.max_length) != c.max_length:
                raise ValueError(f"{c.name} is declared with two lengths")
    return out


#: what the export must keep every alphanumeric value within (index.xml ``MaxLength``)
MAX_LENGTH: dict[str, int] = _max_lengths()

#: DSFinV-K Anlage 2 (UST_SCHLUESSEL) descriptions of the base keys posd uses; the
#: rate of keys 1-4 is "the rate in force when the business case was recorded".
UST_DESCRIPTIONS: dict[int, str] = {
    1: "Regelsteuersatz",
    2: "Ermäßigter Steuersatz",
    3: "Durchschnittsatz (§ 24 Abs. 1 Nr. 3 UStG) übrige Fälle",
    4: "Durchschnittsatz (§ 24 Abs. 1 Nr. 1 UStG)",
    5: "Nicht Steuerbar",
    6: "Umsatzsteuerfrei",
    7: "UmsatzsteuerNichtErmittelbar",
}

#: DSFinV-K Anlage 2 (UST_SCHLUESSEL, "historische Steuersätze"): a rate of keys 1-3
#: that is no longer in force when a business case is recorded at it (a storno or return
#: of an earlier receipt, § 17 UStG; a Z closed after a rate change for the day before)
#: has a key of its own, two digits: a running number, then the key it was the rate of.
#: (base key, percent) -> (historic key, description). Keys 11, 12, 21 and 22 as
#: DSFinV-K 2.2 introduced them for the H2-2020 reduction (fiskaltrust's notes on that
#: reduction quote the table); 13, 23, 33 and 43 (the § 24 Abs. 1 Nr. 3 rates 10.7,
#: 9.5, 9.0 and 8.4) from the Anlage 2 revision of 2024-12-05 (DSFinV-K 2.4), as a
#: transcription of it lists them. A rate of neither (a configured rate the Anlage does
#: not know) keeps its base key.
HISTORIC_UST_KEYS: dict[tuple[int, Decimal], tuple[int, str]] = {
    (1, Decimal("19")): (11, "Historischer allgemeiner Steuersatz (§ 12 Abs. 1 UStG)"),
    (2, Decimal("7")): (12, "Historischer ermäßigter Steuersatz (§ 12 Abs. 2 UStG)"),
    (3, Decimal("10.7")): (13, "Historischer Durchschnittsatz (§ 24 Abs. 1 Nr. 3 UStG)"),
    (1, Decimal("16")): (21, "Historischer allgemeiner Steuersatz (§ 12 Abs. 1 UStG)"),
    (2, Decimal("5")): (22, "Historischer ermäßigter Steuersatz (§ 12 Abs. 2 UStG)"),
    (3, Decimal("9.5")): (23, "Historischer Durchschnittsatz (§ 24 Abs. 1 Nr. 3 UStG)"),
    (3, Decimal("9")): (33, "Historischer Durchschnittsatz (§ 24 Abs. 1 Nr. 3 UStG)"),
    (3, Decimal("8.4")): (43, "Historischer Durchschnittsatz (§ 24 Abs. 1 Nr. 3 UStG)"),
}

#: historic key -> (its base key, its percent, its description), for vat.csv
HISTORIC_UST: dict[int, tuple[int, Decimal, str]] = {
    key: (base, pct, text) for (base, pct), (key, text) in HISTORIC_UST_KEYS.items()
}


def index_xml(supplier_name: str, supplier_location: str, comment: str) -> bytes:
    """The index.xml describing every table (GDPdU description standard, DTD above)."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<!DOCTYPE DataSet SYSTEM "{DTD_NAME}">',
        "<DataSet>",
        "  <Version>1.0</Version>",
        "  <DataSupplier>",
        f"    <Name>{escape(supplier_name)}</Name>",
        f"    <Location>{escape(supplier_location)}</Location>",
        f"    <Comment>{escape(comment)}</Comment>",
        "  </DataSupplier>",
        "  <Media>",
        "    <Name>DSFinV-K</Name>",
    ]
    for t in TABLES:
        out += [
            "    <Table>",
            f"      <URL>{t.file}</URL>",
            f"      <Name>{t.name}</Name>",
            f"      <Description>{t.file}</Description>",
            "      <UTF8/>",
            "      <DecimalSymbol>,</DecimalSymbol>",
            "      <DigitGroupingSymbol>.</DigitGroupingSymbol>",
            "      <Range>",
            "        <From>2</From>",
            "      </Range>",
            "      <VariableLength>",
            "        <ColumnDelimiter>;</ColumnDelimiter>",
            "        <RecordDelimiter>&#13;&#10;</RecordDelimiter>",
            '        <TextEncapsulator>"</TextEncapsulator>',
        ]
        for i, c in enumerate(t.columns):
            element = "VariablePrimaryKey" if i < t.key_columns else "VariableColumn"
            out += [
                f"        <{element}>",
                f"          <Name>{c.name}</Name>",
                f"          <Description>{escape(c.description)}</Description>",
            ]
            if c.numeric:
                if c.accuracy:
                    out.append(f"          <Numeric><Accuracy>{c.accuracy}</Accuracy></Numeric>")
                else:
                    out.append("          <Numeric/>")
            else:
                out.append("          <AlphaNumeric/>")
                out.append(f"          <MaxLength>{c.max_length}</MaxLength>")
            out.append(f"        </{element}>")
        for names, references in t.foreign_keys:
            out.append("        <ForeignKey>")
            out += [f"          <Name>{n}</Name>" for n in names]
            out += [f"          <References>{references}</References>", "        </ForeignKey>"]
        out += ["      </VariableLength>", "    </Table>"]
    out += ["  </Media>", "</DataSet>", ""]
    return "\r\n".join(out).encode("utf-8")


GDPDU_DTD = """<?xml version="1.0" encoding="UTF-8"?>
<!--Versions available:
1.1 (August-01-2002)

1.2 (June-01-2003)
  New Element Alias

1.3 (November-01-2003)
  New Element Extension

1.4 (May-01-2004)
  New Element AcceptNoTables
  <Table> is now optional

1.5 (September-01-2004)
  Updated the ForeignKey and Alias elements so they allow
  multiple Alias elements per ForeignKey. This allows one to use alias
  elements for a Composite key.
-->

<!-- Start Simple Types -->

<!-- Supplementary Vocabulary -->
<!ELEMENT Version (#PCDATA)>
<!ELEMENT Location (#PCDATA)>
<!ELEMENT Comment (#PCDATA)>
<!ELEMENT Length (#PCDATA)>
<!ELEMENT References (#PCDATA)>
<!ELEMENT From (#PCDATA)>
<!ELEMENT To (#PCDATA)>

<!-- Sometimes, it is desirable to have a <Media> with no tables. -->
<!ELEMENT AcceptNoTables (#PCDATA)>

<!-- Use Alias to reference columns with different names in a ForeignKey element. -->
<!ELEMENT Alias (From, To)>

<!-- Specifying a maximum length for a VariableLength column can reduce a
     VariableLength tables' import time. Only applies to VariableLength tables. -->
<!ELEMENT MaxLength (#PCDATA)>

<!-- Specifies which character (if any) encapsulates a VariableLength AlphaNumeric
     column. Doublequote is the default TextEncapsulator " -->
<!ELEMENT TextEncapsulator (#PCDATA)>

<!-- Specifies how many digits appear to the right of the decimal symbol.
     Zero is the default Accuracy '0' (Optional) -->
<!ELEMENT Accuracy (#PCDATA)>

<!-- The decimal place is not always stored with numbers. If each number
     is supposed to have decimal places use ImpliedAccuracy -->
<!ELEMENT ImpliedAccuracy (#PCDATA)>

<!-- Enables you to change how GDPdU displays dates.
     DD.MM.YYYY is the default Format -->
<!ELEMENT Format (#PCDATA)>

<!-- Specifies the symbol that indicates decimal values.
     Comma is the default DecimalSymbol. ',' Specified once per Table. -->
<!ELEMENT DecimalSymbol (#PCDATA)>

<!-- Specifies the symbol that groups the digits in large numbers.
     Dot is the default DigitGroupingSymbol or ThousandsSeperator. '.'
     Specified once per Table -->
<!ELEMENT DigitGroupingSymbol (#PCDATA)>

<!-- Command(s) are executed before/after the import process and before/after a
     Media is imported -->
<!ELEMENT Command (#PCDATA)>

<!-- Only the file protocol is supported at this time. The standard uses relative
     URLs; absolute URLs are not allowed. -->
<!ELEMENT URL (#PCDATA)>

<!-- Textual description of specified element (Optional) -->
<!ELEMENT Description (#PCDATA)>

<!-- The logical name of specified element. If missing, URL will be used in place
     of Name. -->
<!ELEMENT Name (#PCDATA)>

<!-- Y2K Window Any year before Epoch is 2000+ Default value 30. -->
<!ELEMENT Epoch (#PCDATA)>

<!-- Element(s) that separate columns or records.
     Semicolon is the default ColumnDelimiter. ';'
     CRLF or &#13;&#10; is the default RecordDelimiter. -->
<!ELEMENT ColumnDelimiter (#PCDATA)>
<!ELEMENT RecordDelimiter (#PCDATA)>

<!-- The number of bytes skipped before reading of URL commences.
     Zero is the default when not specified. '0' -->
<!ELEMENT SkipNumBytes (#PCDATA)>

<!-- End Simple Types -->
<!-- Start Complex Types -->

<!-- Use Extension when you want to add application specific functionality to the
     existing standard. -->
<!ELEMENT Extension (Name, URL)>

<!-- Self-explanatory -->
<!ELEMENT Range (From, (To | Length)?)>
<!ELEMENT FixedRange (From, (To | Length))>

<!-- The document element -->
<!ELEMENT DataSet (Extension*, Version, DataSupplier?, Command*, Media+, Command*)>

<!-- Supported datatypes (mandatory) -->
<!ELEMENT AlphaNumeric EMPTY>
<!ELEMENT Date (Format?)>
<!ELEMENT Numeric ((ImpliedAccuracy | Accuracy)?)>

<!-- Supported codepages. ANSI is the default codepage when not specified -->
<!ELEMENT ANSI EMPTY>
<!ELEMENT Macintosh EMPTY>
<!ELEMENT OEM EMPTY>
<!ELEMENT UTF16 EMPTY>
<!ELEMENT UTF7 EMPTY>
<!ELEMENT UTF8 EMPTY>

<!-- Supported file formats: FixedLength, VariableLength -->
<!ELEMENT FixedLength ((Length | RecordDelimiter)?, ((FixedPrimaryKey+, FixedColumn*) | \
(FixedColumn+)), ForeignKey*)>
<!ELEMENT FixedColumn (Name, Description?, (Numeric | AlphaNumeric | Date), Map*, FixedRange)>
<!ELEMENT FixedPrimaryKey (Name, Description?, (Numeric | AlphaNumeric | Date), Map*, FixedRange)>
<!ELEMENT VariableLength (ColumnDelimiter?, RecordDelimiter?, TextEncapsulator?, \
((VariablePrimaryKey+, VariableColumn*) | (VariableColumn+)), ForeignKey*)>
<!ELEMENT VariableColumn (Name, Description?, (Numeric | (AlphaNumeric, MaxLength?) | Date), Map*)>
<!ELEMENT VariablePrimaryKey (Name, Description?, (Numeric | (AlphaNumeric, MaxLength?) | \
Date), Map*)>

<!-- Description of the entity supplying the data. (Optional) -->
<!ELEMENT DataSupplier (Name, Location, Comment)>

<!-- The first Media will contain index.xml. Importing will process each media listed -->
<!ELEMENT Media (Name, Command*, Table*, Command*, AcceptNoTables?)>

<!-- Elements common to FixedLength & VariableLength are propagated to Table. -->
<!ELEMENT Table (URL, Name?, Description?, Validity?, \
(ANSI | Macintosh | OEM | UTF16 | UTF7 | UTF8)?, (DecimalSymbol, DigitGroupingSymbol)?, \
SkipNumBytes?, Range?, Epoch?, (VariableLength | FixedLength))>

<!-- ForeignKeys denote joins or relationships between tables. -->
<!ELEMENT ForeignKey (Name+, References, Alias*)>

<!-- Maps AlphaNumeric columns from 'From' to 'To' -->
<!ELEMENT Map (Description?, From, To)>

<!-- Documentation for table validity. -->
<!ELEMENT Validity (Range, Format?)>

<!-- End Complex Types -->
"""
