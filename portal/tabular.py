"""Reading an uploaded table (CSV in UTF-8 or an Excel .xlsx) checked by content, as rows of cell values.

    table = read_table(uploaded, uploaded.name, program_message=_("Filen %(name)s är ett program, ..."))
    positions = column_positions(table.header(), columns={"åtgärd": "code", ...}, required=("code",), name=...)
    for line, cells in table.data_rows(): ...

Every refusal is a `ValidationError` with a Swedish message naming the file. Used by the certificate import
(eligibility.imports) and the tariff import (claims.tariffs).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import logging
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# The limits for office files are the attachments' (a workbook is an office file like any other).
from portal.uploads import MAX_OFFICE_ENTRIES, MAX_UNPACKED_OFFICE_BYTES, safe_download_name

logger = logging.getLogger(__name__)

MAX_TABLE_BYTES = 10 * 1024 * 1024

_ZIP = b"PK\x03\x04"
_PROGRAMS = (b"MZ", b"\x7fELF", b"#!")
_PROGRAM_MESSAGE = gettext_lazy("Filen %(name)s är ett program och kan inte läsas in.")


@dataclass(frozen=True)
class Table:
    """The content of a checked upload; `rows()` gives (row number as the user sees it, cell values)."""

    kind: str  # "csv" or "xlsx"
    data: bytes
    name: str

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        return _csv_rows(self.data, self.name) if self.kind == "csv" else _xlsx_rows(self.data, self.name)

    def header(self) -> list[Any]:
        return next(self.rows(), (1, []))[1]

    def data_rows(self) -> Iterator[tuple[int, list[Any]]]:
        """The rows after the header, without empty ones."""
        rows = self.rows()
        next(rows, None)
        for line, cells in rows:
            if any(cell_text(value) for value in cells):
                yield line, cells


def read_table(uploaded, name: str, *, program_message: str = _PROGRAM_MESSAGE) -> Table:
    """Accept an upload as a table, or raise `ValidationError`.

    By content, not by name alone: an .xlsx must be a real Excel workbook (a zip holding xl/), a .csv must be
    text in UTF-8. `name` is the uploader's, made safe to show. The file is left at position 0.
    """
    name = safe_download_name(name)
    params = {"name": name}
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension not in ("csv", "xlsx"):
        raise ValidationError(
            _("Filen %(name)s är varken en CSV-fil eller en Excel-fil (.xlsx)."), code="extension", params=params
        )
    # The size Django reports spares reading a huge file; the count while reading is what holds.
    if uploaded.size is not None and uploaded.size > MAX_TABLE_BYTES:
        raise _too_large(name)
    uploaded.seek(0)
    try:
        data = uploaded.read(MAX_TABLE_BYTES + 1)
    finally:
        uploaded.seek(0)
    if len(data) > MAX_TABLE_BYTES:
        raise _too_large(name)
    if not data.strip():
        raise ValidationError(_("Filen %(name)s är tom."), code="empty", params=params)
    if data.startswith(_PROGRAMS):
        raise ValidationError(program_message, code="executable", params=params)
    if extension == "xlsx":
        _check_workbook(data, name)
    elif not _is_text(data):
        raise ValidationError(
            _("Filen %(name)s går inte att läsa som text i UTF-8. Spara den som CSV UTF-8 eller som .xlsx."),
            code="not_text",
            params=params,
        )
    return Table(kind=extension, data=data, name=name)


def column_positions(
    header: list[Any], *, columns: dict[str, str], required: Iterable[str], name: str
) -> dict[str, int]:
    """Where each known column is, by heading (`columns`: heading in lower case → our name); refuses a header
    that lacks a required column. A column named twice counts where it first appears."""
    positions: dict[str, int] = {}
    for index, value in enumerate(header):
        column = columns.get(heading(value))
        if column and column not in positions:
            positions[column] = index
    headings = {column: text for text, column in columns.items()}
    missing = [headings[column] for column in required if column not in positions]
    if missing:
        raise ValidationError(
            _("Filen %(name)s saknar kolumnerna %(columns)s på första raden.")
            if len(missing) > 1
            else _("Filen %(name)s saknar kolumnen %(columns)s på första raden."),
            code="columns",
            params={"name": name, "columns": ", ".join(text.capitalize() for text in missing)},
        )
    return positions


def heading(value: Any) -> str:
    """A header cell as compared: composed, single spaces, lower case."""
    text = unicodedata.normalize("NFC", "" if value is None else str(value))
    return " ".join(text.split()).casefold()


def cell_text(value: Any) -> str:
    """A cell as text: Excel's typed numbers and dates as one would type them, stripped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps typed numbers as floats: 200001032382.0
    elif isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()


def _too_large(name: str) -> ValidationError:
    return ValidationError(
        _("Filen %(name)s är större än %(megabytes)s MB."),
        code="too_large",
        params={"name": name, "megabytes": MAX_TABLE_BYTES // (1024 * 1024)},
    )


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


def _check_workbook(data: bytes, name: str) -> None:
    not_excel = ValidationError(
        _("Filen %(name)s är inte en riktig Excel-fil (.xlsx)."), code="not_xlsx", params={"name": name}
    )
    if not data.startswith(_ZIP):
        raise not_excel
    try:
        # Only the central directory is read here; nothing is unpacked.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise not_excel from error
    names = {entry.filename for entry in entries}
    if "[Content_Types].xml" not in names or not any(entry.startswith("xl/") for entry in names):
        raise not_excel
    # zipfile stops reading an entry at its declared size, so the declared sizes bound what openpyxl unpacks.
    if len(entries) > MAX_OFFICE_ENTRIES or sum(entry.file_size for entry in entries) > MAX_UNPACKED_OFFICE_BYTES:
        raise ValidationError(
            _("Filen %(name)s blir för stor när den packas upp och kan inte tas emot."),
            code="unpacked_too_large",
            params={"name": name},
        )


def _csv_rows(data: bytes, name: str) -> Iterator[tuple[int, list[Any]]]:
    text = data.decode("utf-8-sig")
    header = next((line for line in text.splitlines() if line.strip()), "")
    try:
        delimiter = csv.Sniffer().sniff(header, delimiters=";,").delimiter
    except csv.Error:
        delimiter = ";" if header.count(";") >= header.count(",") else ","
    # Only the delimiter is taken from the sniffer: on one line it cannot see how quotes are escaped.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as error:
        raise ValidationError(
            _("Filen %(name)s kunde inte läsas som CSV-fil (rad %(row)s)."),
            code="csv",
            params={"name": name, "row": reader.line_num},
        ) from error


def _xlsx_rows(data: bytes, name: str) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    workbook = None
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = workbook.active or workbook.worksheets[0]
        # Read-only mode trusts the size the writing program recorded, which some record wrongly.
        sheet.reset_dimensions()
        yield from enumerate((list(row) for row in sheet.iter_rows(values_only=True)), start=1)
    except Exception as error:
        # openpyxl raises many kinds of error on a damaged workbook; to the user each means the same.
        logger.info("table upload: %s is no readable workbook: %r", name, error)
        raise ValidationError(
            _("Filen %(name)s kunde inte läsas som Excel-fil."), code="xlsx", params={"name": name}
        ) from error
    finally:
        if workbook is not None:
            workbook.close()
