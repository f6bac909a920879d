"""Excel workbooks the portal hands out: cells that stay text, kronor as exact numbers, the download response."""

from __future__ import annotations

import io
import tempfile
from decimal import Decimal

from django.http import FileResponse, HttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KRONOR_FORMAT = "#,##0.00"


def text_cell(sheet, value: str) -> WriteOnlyCell:
    """Always text: a reference keeps its leading zeros and a value starting with "=" is no formula."""
    cell = WriteOnlyCell(sheet, value=str(value))
    cell.data_type = "s"
    return cell


def kronor_cell(sheet, ore: int) -> WriteOnlyCell:
    """An amount in öre as a number of kronor, written exactly (a Decimal, never a binary fraction)."""
    cell = WriteOnlyCell(sheet, value=Decimal(ore) / 100)
    cell.number_format = KRONOR_FORMAT
    return cell


def number_cell(sheet, value: int) -> WriteOnlyCell:
    return WriteOnlyCell(sheet, value=value)


def bold(cell: WriteOnlyCell) -> WriteOnlyCell:
    cell.font = Font(bold=True)
    return cell


def workbook_response(workbook: Workbook, filename: str) -> HttpResponse:
    """The workbook as a download. The file name must say whose data and when, never whose personnummer."""
    content = io.BytesIO()
    workbook.save(content)
    response = HttpResponse(content.getvalue(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def workbook_file_response(workbook: Workbook, filename: str) -> FileResponse:
    """A (write-only) workbook of any size as a download in flat memory: its sheets' rows are already in temporary
    files, saved into one more on disk and streamed from there in blocks; the file goes when the response closes.
    The file name must say whose data and when, never whose personnummer."""
    file = tempfile.TemporaryFile()  # noqa: SIM115 -- FileResponse closes it once sent
    workbook.save(file)
    file.seek(0)
    return FileResponse(file, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)
