"""Attachments are judged by content as well as name: a .pdf that is really an executable is refused."""

import hashlib
import io
import struct
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

from portal import uploads as attachments
from portal.uploads import check_attachment, safe_download_name

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
# A whole 1x1 transparent GIF: header, palette, graphic control extension, image, trailer.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
WINDOWS_EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + b"This program cannot be run in DOS mode."
)

CONTENT_TYPES = b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


def office_zip(*parts: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in parts:
            archive.writestr(part, CONTENT_TYPES if part == "[Content_Types].xml" else b"<xml/>")
    return buffer.getvalue()


DOCX = office_zip("[Content_Types].xml", "_rels/.rels", "word/document.xml")
XLSX = office_zip("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/worksheets/sheet1.xml")


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def refusal(name: str, content: bytes) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        check_attachment(upload(name, content))
    return caught.value


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("rontgen.jpg", JPEG, "image/jpeg"),
        ("rontgen.jpeg", JPEG, "image/jpeg"),
        ("rontgen.png", PNG, "image/png"),
        ("rontgen.gif", GIF, "image/gif"),
        ("GIF87a.gif", b"GIF87a" + GIF[6:], "image/gif"),
        ("remiss.pdf", PDF, "application/pdf"),
        ("journal.doc", OLE2, "application/msword"),
        ("kostnader.xls", OLE2, "application/vnd.ms-excel"),
        ("journal.docx", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("kostnader.xlsx", XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
def test_each_allowed_kind_is_accepted(name, content, content_type):
    checked = check_attachment(upload(name, content))
    assert checked.name == name
    assert checked.extension == "." + name.rsplit(".", 1)[1]
    assert checked.content_type == content_type
    assert checked.size == len(content)


def test_a_pdf_that_is_really_an_executable_is_refused():
    error = refusal("remiss.pdf", WINDOWS_EXE)
    assert error.code == "executable"
    assert error.messages == ["Filen remiss.pdf är ett program och får inte bifogas."]


@pytest.mark.parametrize("content", [b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8, b"#!/bin/sh\nrm -rf /\n"])
def test_other_executables_are_refused_whatever_their_name(content):
    assert refusal("bild.jpg", content).code == "executable"


@pytest.mark.parametrize("name", ["program.exe", "skript.sh", "utan_filtyp", "rontgen.jpg.exe", "rontgen.svg"])
def test_names_with_other_extensions_are_refused(name):
    error = refusal(name, JPEG)
    assert error.code == "extension"
    assert error.messages == [
        f"Filen {name} har en filtyp som inte är tillåten. Tillåtna: jpg, jpeg, png, gif, pdf, doc, docx, xls, xlsx."
    ]


def test_a_png_whose_content_is_a_jpeg_is_refused():
    error = refusal("rontgen.png", JPEG)
    assert error.code == "mismatch"
    assert error.messages == ["Filen rontgen.png är inte en riktig PNG-bild."]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("remiss.pdf", b"<html>inte en pdf</html>", "Filen remiss.pdf är inte en riktig PDF-fil."),
        ("remiss.pdf", b"  %PDF-1.4\n", "Filen remiss.pdf är inte en riktig PDF-fil."),
        ("bild.gif", b"GIF90a" + b"\x00" * 10, "Filen bild.gif är inte en riktig GIF-bild."),
        ("bild.jpeg", PNG, "Filen bild.jpeg är inte en riktig JPEG-bild."),
        ("journal.doc", PDF, "Filen journal.doc är inte ett riktigt Word-dokument."),
        ("kostnader.xls", DOCX, "Filen kostnader.xls är inte en riktig Excel-fil."),
        ("journal.docx", OLE2, "Filen journal.docx är inte ett riktigt Word-dokument."),
    ],
)
def test_content_that_does_not_match_the_extension_is_refused(name, content, message):
    error = refusal(name, content)
    assert error.code == "mismatch"
    assert error.messages == [message]


def test_a_docx_that_is_a_zip_without_word_folder_is_refused():
    error = refusal("journal.docx", XLSX)
    assert error.code == "mismatch"
    assert error.messages == ["Filen journal.docx är inte ett riktigt Word-dokument."]


def test_an_xlsx_without_content_types_is_refused():
    assert refusal("kostnader.xlsx", office_zip("xl/workbook.xml")).code == "mismatch"


def test_a_docx_that_only_starts_like_a_zip_is_refused():
    assert refusal("journal.docx", b"PK\x03\x04" + b"\x00" * 100).code == "mismatch"


def test_an_empty_file_is_refused():
    error = refusal("rontgen.png", b"")
    assert error.code == "empty"
    assert error.messages == ["Filen rontgen.png är tom."]


def test_an_oversize_file_is_refused(monkeypatch):
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", len(PDF) - 1)
    assert refusal("remiss.pdf", PDF).code == "too_large"


def test_a_file_of_exactly_the_limit_is_accepted(monkeypatch):
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", len(PDF))
    assert check_attachment(upload("remiss.pdf", PDF)).size == len(PDF)


def test_the_size_message_names_the_file_and_the_limit():
    uploaded = upload("remiss.pdf", PDF)
    uploaded.size = attachments.MAX_ATTACHMENT_BYTES + 1  # as Django would report a file too big to build here
    with pytest.raises(ValidationError) as caught:
        check_attachment(uploaded)
    assert caught.value.messages == ["Filen remiss.pdf är större än 10 MB."]


def test_a_file_larger_than_it_reports_is_still_refused(monkeypatch):
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", 50)
    uploaded = upload("remiss.pdf", PDF)
    uploaded.size = 10
    with pytest.raises(ValidationError) as caught:
        check_attachment(uploaded)
    assert caught.value.code == "too_large"


def declare_uncompressed_size(archive: bytes, part: str, size: int) -> bytes:
    """`archive` with the central directory claiming that `part` unpacks to `size` bytes."""
    data = bytearray(archive)
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if data[offset + 46 : offset + 46 + name_length] == part.encode():
            struct.pack_into("<I", data, offset + 24, size)
            return bytes(data)
        offset = data.find(b"PK\x01\x02", offset + 4)
    raise AssertionError(f"{part} not in the archive")


def test_a_zip_bomb_like_docx_is_refused():
    bomb = declare_uncompressed_size(DOCX, "word/document.xml", 0x7FFF_FFFF)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        assert archive.getinfo("word/document.xml").file_size == 0x7FFF_FFFF  # the patch took
    error = refusal("journal.docx", bomb)
    assert error.code == "unpacked_too_large"
    assert error.messages == ["Filen journal.docx blir för stor när den packas upp och kan inte tas emot."]


def test_a_docx_with_too_many_entries_is_refused():
    parts = ["[Content_Types].xml", "word/document.xml"] + [f"word/media/{n}.xml" for n in range(1000)]
    assert refusal("journal.docx", office_zip(*parts)).code == "unpacked_too_large"


def test_sha256_matches_hashlib_and_the_file_is_left_at_the_start():
    content = PDF + bytes(range(256)) * 1000
    uploaded = upload("remiss.pdf", content)
    uploaded.seek(17)
    checked = check_attachment(uploaded)
    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert uploaded.tell() == 0
    assert uploaded.read() == content


def test_the_file_is_left_at_the_start_also_when_refused():
    for name, content in [("rontgen.png", JPEG), ("journal.docx", XLSX), ("remiss.pdf", WINDOWS_EXE)]:
        uploaded = upload(name, content)
        with pytest.raises(ValidationError):
            check_attachment(uploaded)
        assert uploaded.tell() == 0


@pytest.mark.parametrize("name", ["RÖNTGEN.JPG", "Bild.Jpeg"])
def test_uppercase_extensions_are_accepted(name):
    checked = check_attachment(upload(name, JPEG))
    assert checked.name == name
    assert checked.extension == "." + name.rsplit(".", 1)[1].lower()


def test_the_checked_name_is_the_safe_one():
    checked = check_attachment(upload("röntgen\u202egpj.pdf", PDF))
    assert checked.name == "röntgengpj.pdf"


def test_a_name_disguised_with_right_to_left_override_is_refused_by_its_real_extension():
    assert refusal("bild\u202egpj.exe", JPEG).code == "extension"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\röntgen.pdf", "röntgen.pdf"),
        ("C:\\Users\\Åsa\\Skrivbord\\käkröntgen.jpg", "käkröntgen.jpg"),
        ("remiss\r\nSet-Cookie: x=1.pdf", "remissSet-Cookie_ x=1.pdf"),
        ("tab\tbort.pdf", "tabbort.pdf"),
        ('"citat".pdf', "_citat_.pdf"),
        ("a\u030angström.pdf", "ångström.pdf"),
        ("..", "bilaga"),
        ("", "bilaga"),
        (".dold.pdf", "dold.pdf"),
        ("slut.pdf. . ", "slut.pdf"),
        ("  många   mellanslag .pdf", "många mellanslag .pdf"),
    ],
)
def test_safe_download_name(name, safe):
    assert safe_download_name(name) == safe


def test_safe_download_name_shortens_long_names_but_keeps_the_extension():
    safe = safe_download_name("ö" * 300 + ".docx")
    assert safe.endswith(".docx")
    assert len(safe) == 120
    assert len(safe.encode()) < 255


def test_a_large_upload_kept_on_disk_is_checked_the_same_way():
    # Django writes uploads over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file instead of keeping them in memory.
    content = PDF + b"\x00" * (3 * 1024 * 1024)
    uploaded = TemporaryUploadedFile("remiss.pdf", "application/pdf", len(content), None)
    try:
        uploaded.write(content)
        uploaded.flush()
        checked = check_attachment(uploaded)
        assert (checked.size, checked.sha256) == (len(content), hashlib.sha256(content).hexdigest())
        assert uploaded.tell() == 0
    finally:
        uploaded.close()


def test_the_attachments_help_is_said_in_the_readers_language():
    from django.utils import translation

    from eligibility.forms import PriorAssessmentRequestForm

    field = PriorAssessmentRequestForm.base_fields["attachments"]
    with translation.override("en"):
        english = str(field.help_text)
    with translation.override("sv"):
        swedish = str(field.help_text)
    assert swedish.startswith("Röntgenbilder och dokument: ") and "pdf" in swedish
    assert english != swedish and "Röntgen" not in english and "pdf" in english
