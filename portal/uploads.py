"""Checks on files attached to förhandsbedömningar: allowed type by name and by content, size, and checksum."""

import hashlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_PER_UPLOAD = 10
# All the files of one request together (the largest body the page takes); the proxy allows as much.
MAX_ATTACHMENT_UPLOAD_BYTES = 25 * 1024 * 1024

ALLOWED = {".jpg", ".jpeg", ".png", ".gif", ".pdf", ".doc", ".docx", ".xls", ".xlsx"}

# The archive itself is small; these bound what anyone who later unpacks a .docx/.xlsx would have to write.
MAX_UNPACKED_OFFICE_BYTES = 100 * 1024 * 1024
MAX_OFFICE_ENTRIES = 1000

# Filesystems allow 255 bytes and å, ä, ö take two bytes each in UTF-8, so this leaves room to spare.
_MAX_NAME_CHARS = 120
_HEAD_BYTES = 16
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')

_MZ = b"MZ"
_ELF = b"\x7fELF"
_SCRIPT = b"#!"
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_GIF = (b"GIF87a", b"GIF89a")
_PDF = b"%PDF-"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"


@dataclass(frozen=True)
class CheckedAttachment:
    """An upload that passed `check_attachment`; `name` is already made safe with `safe_download_name`."""

    name: str
    extension: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class _Kind:
    content_type: str
    signatures: tuple[bytes, ...]
    mismatch: str
    # For Office Open XML: the folder that must exist in the archive, "word/" or "xl/".
    office_folder: str | None = None


_WORD = _("Filen %(name)s är inte ett riktigt Word-dokument.")
_EXCEL = _("Filen %(name)s är inte en riktig Excel-fil.")

# .doc and .xls share the OLE2 compound-file header; telling them apart means walking the compound file's
# directory for a WordDocument or Workbook stream. Either kind is harmless to accept: Word and Excel open
# the other's legacy files by content, and what we keep out is content that is no Office file at all.
_KINDS = {
    ".jpg": _Kind("image/jpeg", (_JPEG,), _("Filen %(name)s är inte en riktig JPEG-bild.")),
    ".jpeg": _Kind("image/jpeg", (_JPEG,), _("Filen %(name)s är inte en riktig JPEG-bild.")),
    ".png": _Kind("image/png", (_PNG,), _("Filen %(name)s är inte en riktig PNG-bild.")),
    ".gif": _Kind("image/gif", _GIF, _("Filen %(name)s är inte en riktig GIF-bild.")),
    # At offset 0 only, although readers accept the header later in the first kilobyte: bytes in front of
    # it are how polyglot files hide a second format.
    ".pdf": _Kind("application/pdf", (_PDF,), _("Filen %(name)s är inte en riktig PDF-fil.")),
    ".doc": _Kind("application/msword", (_OLE2,), _WORD),
    ".xls": _Kind("application/vnd.ms-excel", (_OLE2,), _EXCEL),
    ".docx": _Kind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (_ZIP,), _WORD, "word/"),
    ".xlsx": _Kind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (_ZIP,), _EXCEL, "xl/"),
}
assert set(_KINDS) == ALLOWED


def check_attachment(uploaded: UploadedFile) -> CheckedAttachment:
    """Accept a Django `UploadedFile` as an attachment, or raise `ValidationError` with a Swedish message.

    The file is left at position 0 whatever happens, so the caller can save it right away.
    """
    name = safe_download_name(uploaded.name or "")
    extension = _extension(name)
    params = {"name": name}
    if extension not in ALLOWED:
        raise ValidationError(
            _(
                "Filen %(name)s har en filtyp som inte är tillåten. "
                "Tillåtna: jpg, jpeg, png, gif, pdf, doc, docx, xls, xlsx."
            ),
            code="extension",
            params=params,
        )
    try:
        # The size Django reports is what it wrote to disk; refusing on it spares reading a huge file.
        if uploaded.size is not None and uploaded.size > MAX_ATTACHMENT_BYTES:
            raise _too_large(name)
        uploaded.seek(0)
        head = uploaded.read(_HEAD_BYTES)
        if not head:
            raise ValidationError(_("Filen %(name)s är tom."), code="empty", params=params)
        if head.startswith((_MZ, _ELF, _SCRIPT)):
            raise ValidationError(
                _("Filen %(name)s är ett program och får inte bifogas."), code="executable", params=params
            )
        kind = _KINDS[extension]
        if not head.startswith(kind.signatures):
            raise ValidationError(kind.mismatch, code="mismatch", params=params)
        size, sha256 = _measure(uploaded, name)
        if kind.office_folder:
            _check_office_archive(uploaded, kind, name)
    finally:
        uploaded.seek(0)
    return CheckedAttachment(name=name, extension=extension, content_type=kind.content_type, size=size, sha256=sha256)


def safe_download_name(name: str) -> str:
    """`name` without folders or control characters, fit for a Content-Disposition header and any filesystem."""
    # Browsers on Windows have sent the whole path, with backslashes, that the server's basename keeps.
    name = re.split(r"[/\\]", name)[-1]
    # macOS sends å as a + combining ring; composed, it stays one letter and survives the header encoding.
    name = unicodedata.normalize("NFC", name)
    # Category C includes CR/LF (header injection) and U+202E, which can make "gpj.exe" read as "exe.jpg".
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C"))
    name = _WINDOWS_RESERVED.sub("_", name)
    name = " ".join(name.split())
    # A leading dot hides the file on Unix; Windows drops trailing dots and spaces, changing the extension.
    name = name.lstrip(". ").rstrip(". ")
    if len(name) > _MAX_NAME_CHARS:
        stem, dot, suffix = name.rpartition(".")
        if dot and 0 < len(suffix) < 10:
            name = stem[: _MAX_NAME_CHARS - len(suffix) - 1].rstrip(". ") + "." + suffix
        else:
            name = name[:_MAX_NAME_CHARS]
    return name or "bilaga"


def _extension(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f".{suffix.lower()}" if dot and stem else ""


def _too_large(name: str) -> ValidationError:
    megabytes = f"{MAX_ATTACHMENT_BYTES / (1024 * 1024):.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return ValidationError(
        _("Filen %(name)s är större än %(megabytes)s MB."),
        code="too_large",
        params={"name": name, "megabytes": megabytes},
    )


def _measure(uploaded: UploadedFile, name: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    uploaded.seek(0)
    for chunk in uploaded.chunks():
        size += len(chunk)
        # Not trusting `size` alone: a file object handed in by other code may report none or a wrong one.
        if size > MAX_ATTACHMENT_BYTES:
            raise _too_large(name)
        digest.update(chunk)
    return size, digest.hexdigest()


def _check_office_archive(uploaded: UploadedFile, kind: _Kind, name: str) -> None:
    uploaded.seek(0)
    try:
        # Only the central directory is read; nothing is decompressed here.
        with zipfile.ZipFile(uploaded) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
        raise ValidationError(kind.mismatch, code="mismatch", params={"name": name}) from error
    # zipfile stops reading an entry at the size it declares, so declared sizes bound what we may unpack later.
    if len(entries) > MAX_OFFICE_ENTRIES or sum(entry.file_size for entry in entries) > MAX_UNPACKED_OFFICE_BYTES:
        raise ValidationError(
            _("Filen %(name)s blir för stor när den packas upp och kan inte tas emot."),
            code="unpacked_too_large",
            params={"name": name},
        )
    names = {entry.filename for entry in entries}
    if "[Content_Types].xml" not in names or not any(entry.startswith(kind.office_folder) for entry in names):
        raise ValidationError(kind.mismatch, code="mismatch", params={"name": name})
