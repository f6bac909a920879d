"""An Excel workbook written as it is sent: one sheet, its rows produced one at a time and compressed into the
response in pieces, so an export of a million rows takes no more memory than one of ten.

openpyxl (portal.excel) builds the whole file before the first byte leaves; this writes the few parts an .xlsx
needs by hand (Office Open XML, ECMA-376): strings inline (no shared-string table to hold), numbers, times as
Excel serial numbers, bold headings. The zip goes to a sink without seek, so each member carries its sizes after
its data (zipfile's data descriptors), and the sink hands over what has gathered every `PIECE` bytes.
"""

from __future__ import annotations

import datetime
import functools
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from django.http import StreamingHttpResponse

PIECE = 64 * 1024
_EXCEL_EPOCH = datetime.datetime(1899, 12, 30)
# Characters XML 1.0 cannot hold, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# Styles (cellXfs in xl/styles.xml, by position): 0 plain, 1 a time, 2 kronor, 3 bold.
_TIME, _KRONOR, _BOLD = 1, 2, 3


@dataclass(frozen=True)
class Bold:
    """A heading: text in bold."""

    text: str


@dataclass(frozen=True)
class Kronor:
    """An amount in öre, shown as kronor with two decimals (written exactly: öre / 100 as a decimal)."""

    ore: int


Cell = str | int | Decimal | datetime.datetime | Bold | Kronor | None


@functools.cache
def _column(index: int) -> str:
    # Asked once per cell of every row: the few columns of a sheet are worked out once.
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _text(ref: str, value: str, style: int = 0) -> str:
    # Always a string: a value starting with "=" stays text, a reference keeps its leading zeros.
    text = escape(_NOT_XML.sub("", value))
    styled = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{styled}><is><t xml:space="preserve">{text}</t></is></c>'


def _cell(ref: str, value: Cell) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, Bold):
        return _text(ref, value.text, _BOLD)
    if isinstance(value, str):
        return _text(ref, value)
    if isinstance(value, Kronor):
        return f'<c r="{ref}" s="{_KRONOR}"><v>{Decimal(value.ore) / 100}</v></c>'
    if isinstance(value, datetime.datetime):
        # Excel has no time zones: the caller gives local time; a day is 1, a second 1/86400.
        serial = (value.replace(tzinfo=None, microsecond=0) - _EXCEL_EPOCH) / datetime.timedelta(days=1)
        return f'<c r="{ref}" s="{_TIME}"><v>{serial!r}</v></c>'
    if isinstance(value, bool):
        raise TypeError("no booleans in an export: say it in words")
    return f'<c r="{ref}"><v>{value}</v></c>'


def _row(number: int, cells: Sequence[Cell]) -> str:
    inner = "".join(_cell(f"{_column(index)}{number}", value) for index, value in enumerate(cells))
    return f'<row r="{number}">{inner}</row>'


class _Sink:
    """What zipfile writes to: gathered until taken. No seek and no tell, so zipfile streams."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts, self.size = [], 0
        return data


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
    '<numFmt numFmtId="165" formatCode="#,##0.00"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _workbook(sheet_title: str) -> str:
    # A sheet's name: at most 31 characters, none of []:*?/\
    title = escape(re.sub(r"[\[\]:*?/\\]", "", sheet_title)[:31] or "Blad1", {'"': "&quot;"})
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{title}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )


def xlsx_stream(*, sheet_title: str, widths: Sequence[float], rows: Iterable[Sequence[Cell]]) -> Iterator[bytes]:
    """The workbook's bytes in pieces of about `PIECE`, as `rows` (each a sequence of cells) are produced."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _workbook(sheet_title))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        # force_zip64: the sheet's size is not known before it is written, and may pass 2 GB uncompressed.
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            columns = "".join(
                f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>' for n, width in enumerate(widths, 1)
            )
            sheet.write(
                (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    f"{f'<cols>{columns}</cols>' if columns else ''}<sheetData>"
                ).encode()
            )
            for number, cells in enumerate(rows, 1):
                sheet.write(_row(number, cells).encode())
                if sink.size >= PIECE:
                    yield sink.take()
            sheet.write(b"</sheetData></worksheet>")
    yield sink.take()


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(content: Iterator[bytes], filename: str) -> StreamingHttpResponse:
    """The streamed workbook as a download. The file name must say whose data and when, never whose
    personnummer."""
    response = StreamingHttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
