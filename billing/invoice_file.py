"""Reading a fakturafil (version 1): its header, then each claim as a draft or its faults, read as a stream.

`parse_invoice_file` checks what can be checked before parsing (size, that it is XML, the encoding, no DOCTYPE
or other forbidden construct in the prolog), reads and checks the header, and hands back the claims as a
generator: each `Rakning` is validated against the schema on its own and turned into a `ClaimDraft`, then
dropped from memory, so a file of 50 MB is read in little more memory than one claim takes. A fault of the
whole file raises `InvoiceFileRejected`; a fault inside one claim is reported with that claim only.

What a file may hold is the shipped schema, `schemas/fakturafil-v1.xsd`. Whether the clinic, the invoice
reference and each claim may be billed is for the caller and `claims.validation.claim_validate`.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy
from lxml import etree

from claims.drafts import ClaimDraft, Fault, FreeCardDraft, LineDraft
from claims.models import PATIENT_FEE_CODE
from portal.money import parse_kronor
from portal.translation import said as _

NAMESPACE = "urn:se:tandvardsstod:fakturafil:1"
VERSION = "1"
MAX_BYTES = 50 * 1024 * 1024
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "fakturafil-v1.xsd"

# Nothing the parser could fetch or expand: no entities, no DTD, no network, libxml2's default limits on
# depth and text size. Comments and processing instructions are dropped so that every child is an element.
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_NS = "{" + NAMESPACE + "}"
_ROOT, _HEADER, _CLAIM = _NS + "Fakturafil", _NS + "Huvud", _NS + "Rakning"
_XINCLUDE_NAMESPACES = ("{http://www.w3.org/2001/XInclude}", "{http://www.w3.org/2003/XInclude}")
# Attributes that point outside the file; none is followed, but the format has no place for them.
_EXTERNAL_REFERENCES = frozenset(
    {
        "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation",
        "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation",
        "{http://www.w3.org/1999/xlink}href",
    }
)
_ACCEPTED_ENCODINGS = frozenset({"UTF-8", "ISO-8859-1"})
# The format nests four levels (Fakturafil, Rakning, Besok, Atgard); a deeper file is not one of ours, and
# stopping here is cheaper than waiting for libxml2's limit of 256.
_MAX_DEPTH = 8
# The format's widest element (Atgard) has five attributes. More than this many on one element is no file of
# ours: each unknown attribute would cost the schema a fault, and a file of nothing but attributes would hold
# a worker for minutes (a 5 MB one took 10 s before this limit, 38 s in the audit).
MAX_ATTRIBUTES = 10
# The faults the error list shows for one claim; a claim with more has them shown once these are corrected.
MAX_FAULTS_PER_CLAIM = 25
# Elements in one Rakning (a claim of 200 treatment lines has about 420). The schema is checked per claim, and
# placing its faults costs in proportion to the claim's size for each fault: a bound here keeps that linear.
MAX_ELEMENTS_PER_CLAIM = 2000
_CHUNK = 64 * 1024
_XML_WHITESPACE = " \t\r\n"
_WHITESPACE_RUN = re.compile(r"[ \t\r\n]+")
# How much of a faulty value a message repeats; a value may be megabytes long.
_SHOWN_VALUE_LENGTH = 40

FORBIDDEN_CONSTRUCTS = gettext_lazy("Filen innehåller otillåtna XML-konstruktioner")


class InvoiceFileRejected(Exception):
    """The whole file is refused, with the one message the clinic reads and a stable `code`.

    Raised by `parse_invoice_file`, and by its claims generator when the fault lies further into the file
    (it is read as a stream): the claims read before it must then be dropped too.
    """

    def __init__(self, message: str, *, code: str, line: int | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.code = code
        self.line = line


@dataclass(frozen=True)
class Header:
    """The file's Huvud. `created` is naive when the file gives no UTC offset.

    `clinic_number` is empty in an umbrella organisation's file, whose Huvud names `organisation_number` instead;
    each claim then names its clinic (`ParsedClaim.clinic_number`)."""

    clinic_number: str
    invoice_reference: str
    created: datetime.datetime
    software: str = ""
    organisation_number: str = ""


@dataclass(frozen=True)
class ParsedClaim:
    """One Rakning of the file: a draft for the validation, or the faults that kept it from being one.

    `index` counts the claims from 1 and `line` is where the claim starts. `reference` and
    `personal_identity_number` are as written (shortened if absurdly long), for the error list even when
    they are themselves faulty.
    """

    index: int
    reference: str
    personal_identity_number: str
    draft: ClaimDraft | None
    faults: list[Fault]
    line: int | None = None
    # The Rakning's own Kliniknummer, as written ("" when it has none).
    clinic_number: str = ""


class InvoiceFile(NamedTuple):
    """What `parse_invoice_file` returns: the checked header and the claims, read as they are iterated.

    Iterate `claims` to the end (or call `close`, or use the file as a context manager) so that the file is
    closed when it was opened from a path.
    """

    header: Header
    claims: Iterator[ParsedClaim]

    def close(self) -> None:
        self.claims.close()

    def __enter__(self) -> InvoiceFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def parse_invoice_file(
    source: str | os.PathLike | IO[bytes], *, max_bytes: int = MAX_BYTES, drafts: bool = True
) -> InvoiceFile:
    """Open a fakturafil (a path or a binary file), check it and its header; the claims follow as a generator.

    Raises `InvoiceFileRejected` for a fault of the whole file found before the first claim; the generator
    raises it for one found later (not well-formed further on, an element the root may not hold, no claim).
    With `drafts=False` the claims are only walked through (the file's structure checked, each claim's
    reference read), not checked or made drafts: a quick first reading of a whole file.
    """
    stream, owned = _open(source, max_bytes)
    try:
        _check_size(stream, max_bytes)
        _check_prolog(stream)
        stream.seek(0)
        reader = _Reader(stream, max_bytes, drafts=drafts)
        header = reader.read_header()
    except BaseException:
        if owned:
            stream.close()
        raise
    return InvoiceFile(header, _Claims(reader.claims(), on_close=stream.close if owned else None))


class _Claims(Iterator[ParsedClaim]):
    """The claims as they are read. At their end, at a fault, or on `close` the reading stops and a file
    opened from a path is closed (a generator never started would not run its own `finally`)."""

    def __init__(self, claims: Iterator[ParsedClaim], *, on_close: Callable[[], None] | None):
        self._claims = claims
        self._on_close = on_close

    def __next__(self) -> ParsedClaim:
        try:
            return next(self._claims)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._claims.close()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


# Before parsing ------------------------------------------------------------------------------------------


def _too_large(max_bytes: int) -> InvoiceFileRejected:
    megabytes = f"{max_bytes / (1024 * 1024):g}".replace(".", ",")
    return InvoiceFileRejected(_("Filen är större än %(size)s MB.") % {"size": megabytes}, code="too_large")


def _not_xml() -> InvoiceFileRejected:
    return InvoiceFileRejected(_("Filen är inte en XML-fil."), code="not_xml")


def _forbidden(line: int | None = None) -> InvoiceFileRejected:
    return InvoiceFileRejected(str(FORBIDDEN_CONSTRUCTS), code="forbidden", line=line)


def _wrong_encoding(name: str) -> InvoiceFileRejected:
    return InvoiceFileRejected(
        _("Filen har teckenkodningen %(encoding)s. Portalen tar emot UTF-8 och ISO-8859-1.") % {"encoding": name},
        code="encoding",
    )


def _open(source, max_bytes: int) -> tuple[IO[bytes], bool]:
    """The file to read and whether it is ours to close. A stream that cannot seek is copied, up to the limit."""
    if isinstance(source, str | os.PathLike):
        return open(source, "rb"), True
    if not hasattr(source, "read"):
        raise TypeError("parse_invoice_file takes a path or a binary file.")
    seekable = getattr(source, "seekable", None)
    if seekable is not None and seekable():
        return source, False
    copy = tempfile.SpooledTemporaryFile(max_size=4 * _CHUNK)  # noqa: SIM115 - returned open
    copied = 0
    while chunk := source.read(_CHUNK):
        copied += len(chunk)
        if copied > max_bytes:
            copy.close()
            raise _too_large(max_bytes)
        copy.write(chunk)
    copy.seek(0)
    return copy, True


def _check_size(stream: IO[bytes], max_bytes: int) -> None:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    if size > max_bytes:
        raise _too_large(max_bytes)
    if size == 0:
        raise InvoiceFileRejected(_("Filen är tom."), code="empty")


class _Head:
    """The start of the file, read a chunk at a time, for the checks made before the parser sees it."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream
        self._buffer = b""
        self._eof = False

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size and not self._eof:
            chunk = self._stream.read(_CHUNK)
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True

    def peek(self, size: int) -> bytes:
        self._fill(size)
        return self._buffer[:size]

    def skip(self, size: int) -> None:
        self._fill(size)
        self._buffer = self._buffer[size:]

    def skip_whitespace(self) -> None:
        while True:
            self._fill(1)
            self._buffer = self._buffer.lstrip(b" \t\r\n")
            if self._buffer or self._eof:
                return

    def skip_past(self, end: bytes) -> bool:
        """Skip up to and including `end`; False when the file ends first."""
        while True:
            found = self._buffer.find(end)
            if found >= 0:
                self._buffer = self._buffer[found + len(end) :]
                return True
            if self._eof:
                return False
            # Keep what could be the start of `end` split across two chunks.
            self._buffer = self._buffer[-(len(end) - 1) :]
            self._fill(len(self._buffer) + 1)


_ENCODING_DECLARATION = re.compile(rb"""\sencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1""")
_PI_TARGET = re.compile(rb"<\?([^\s?]*)")


def _check_prolog(stream: IO[bytes]) -> None:
    """Refuse what is not XML, another encoding, and a DOCTYPE or external reference before the root element.

    A DOCTYPE can only stand in the prolog (libxml2 refuses one after the root element as not well-formed),
    so the parser never sees one: nothing in it is read, declared or fetched.
    """
    head = _Head(stream)
    if head.peek(3) == b"\xef\xbb\xbf":
        head.skip(3)
    start = head.peek(4)
    if start[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\x00<", b"<\x00\x00\x00"):
        raise _wrong_encoding("UTF-32")
    if start[:2] in (b"\xfe\xff", b"\xff\xfe", b"\x00<", b"<\x00"):
        raise _wrong_encoding("UTF-16")
    head.skip_whitespace()
    if head.peek(1) != b"<":
        raise _not_xml()
    declaration = head.peek(1024)
    if declaration[:5] == b"<?xml" and declaration[5:6] in (b" ", b"\t", b"\r", b"\n"):
        end = declaration.find(b"?>")
        if end < 0:
            return  # the parser reports it, with its line
        match = _ENCODING_DECLARATION.search(declaration[:end])
        if match:
            name = match.group(2).decode("ascii").upper()
            if name not in _ACCEPTED_ENCODINGS:
                raise _wrong_encoding(match.group(2).decode("ascii"))
        head.skip(end + 2)
    while True:
        head.skip_whitespace()
        if head.peek(4) == b"<!--":
            head.skip(4)
            if not head.skip_past(b"-->"):
                return
        elif head.peek(2) == b"<?":
            target = _PI_TARGET.match(head.peek(64))
            if target and target.group(1).lower() == b"xml-stylesheet":
                raise _forbidden()
            head.skip(2)
            if not head.skip_past(b"?>"):
                return
        elif head.peek(2) == b"<!":
            raise _forbidden()  # a DOCTYPE (or other markup declaration)
        else:
            return  # the root element's start tag, or something the parser will refuse with its line


# Parsing -------------------------------------------------------------------------------------------------


class _LimitedStream:
    """The file as the parser reads it, never past the limit: a file may grow after its size was checked."""

    def __init__(self, stream: IO[bytes], max_bytes: int):
        self._stream = stream
        self._max_bytes = max_bytes
        self._read = 0

    def read(self, size: int = _CHUNK) -> bytes:
        data = self._stream.read(size if size is not None and size >= 0 else _CHUNK)
        self._read += len(data)
        if self._read > self._max_bytes:
            raise _too_large(self._max_bytes)
        return data


def _schema() -> etree.XMLSchema:
    # Compiled per file: cheap, and no validator is shared between threads.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), parser))


class _Reader:
    """Walks the file event by event, handing over each child of the root once it is complete."""

    def __init__(self, stream: IO[bytes], max_bytes: int, *, drafts: bool = True):
        self._events = etree.iterparse(_LimitedStream(stream, max_bytes), events=("start", "end"), **_PARSER_OPTIONS)
        self._drafts = drafts
        self._schema = _schema()
        self._depth = 0
        self._root: etree._Element | None = None
        self._elements_in_child = 0

    # Events --------------------------------------------------------------------------------------------

    def _next_child(self) -> etree._Element | None:
        """Read on to the end of the root's next child; None after the root's end."""
        try:
            for event, element in self._events:
                if event == "start":
                    self._depth += 1
                    self._check_start(element)
                else:
                    self._depth -= 1
                    if self._depth == 1:
                        return element
                    if self._depth == 0:
                        self._check_root_end(element)
                        return None
        except etree.XMLSyntaxError as error:
            raise self._syntax_fault(error) from None
        raise InvoiceFileRejected(_("Filen tar slut innan Fakturafil är avslutad."), code="not_well_formed")

    def _finish(self) -> None:
        """Read what follows the root element: a fault there is the file's too."""
        try:
            for _event in self._events:
                pass
        except etree.XMLSyntaxError as error:
            raise self._syntax_fault(error) from None

    def _check_start(self, element: etree._Element) -> None:
        tag = element.tag
        if tag.__class__ is not str or tag.startswith(_XINCLUDE_NAMESPACES):
            raise _forbidden(element.sourceline)
        if not _EXTERNAL_REFERENCES.isdisjoint(element.keys()):
            raise _forbidden(element.sourceline)
        if len(element.attrib) > MAX_ATTRIBUTES:
            raise InvoiceFileRejected(
                _("Elementet %(name)s har fler än %(max)s attribut (rad %(line)s); formatet har högst fem.")
                % {"name": _shown(_split_tag(tag)[1]), "max": MAX_ATTRIBUTES, "line": element.sourceline},
                code="too_many_attributes",
                line=element.sourceline,
            )
        if self._depth == 1:
            self._check_root(element)
        elif self._depth == 2:
            # The text before this child is complete now: the root's own text, or the previous child's tail.
            previous = element.getprevious()
            self._check_no_text(self._root.text if previous is None else previous.tail, element.sourceline)
            self._elements_in_child = 1
            self._child_line = element.sourceline
        else:
            self._elements_in_child += 1
            if self._elements_in_child > MAX_ELEMENTS_PER_CLAIM:
                raise InvoiceFileRejected(
                    _("Räkningen på rad %(line)s har fler än %(max)s element; formatet har inte plats för så många.")
                    % {"line": self._child_line, "max": MAX_ELEMENTS_PER_CLAIM},
                    code="too_many_elements",
                    line=self._child_line,
                )
        if self._depth > _MAX_DEPTH:
            raise InvoiceFileRejected(
                _("Filen har fler nivåer av element än formatet tillåter (rad %(line)s).")
                % {"line": element.sourceline},
                code="too_deep",
                line=element.sourceline,
            )

    def _check_root(self, root: etree._Element) -> None:
        self._root = root
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise _forbidden()  # never reached: the prolog check refuses a DOCTYPE first
        if root.tag != _ROOT:
            namespace, name = _split_tag(root.tag)
            if name == "Fakturafil":
                raise InvoiceFileRejected(
                    _("Fakturafil har namnrymden %(found)s, ska vara %(namespace)s.")
                    % {"found": namespace or _("(ingen)"), "namespace": NAMESPACE},
                    code="namespace",
                    line=root.sourceline,
                )
            raise InvoiceFileRejected(
                _(
                    "Filen är ingen fakturafil: rotelementet är %(name)s, ska vara Fakturafil i namnrymden "
                    "%(namespace)s."
                )
                % {"name": _shown(name), "namespace": NAMESPACE},
                code="not_invoice_file",
                line=root.sourceline,
            )
        version = root.get("version")
        if version is None:
            raise InvoiceFileRejected(
                _("Fakturafil saknar attributet version; portalen tar emot version %(version)s.")
                % {"version": VERSION},
                code="version",
                line=root.sourceline,
            )
        if _collapse(version) != VERSION:
            raise InvoiceFileRejected(
                _("Filen har version %(found)s av formatet; portalen tar emot version %(version)s.")
                % {"found": _shown(version), "version": VERSION},
                code="version",
                line=root.sourceline,
            )
        for name in root.attrib:
            if name != "version":
                raise InvoiceFileRejected(
                    _("Fakturafil får inte ha attributet %(attribute)s.") % {"attribute": _split_tag(name)[1]},
                    code="structure",
                    line=root.sourceline,
                )

    def _check_no_text(self, text: str | None, line: int | None) -> None:
        if text and text.strip(_XML_WHITESPACE):
            raise InvoiceFileRejected(
                _("Fakturafil får inte innehålla text mellan sina element (vid rad %(line)s).") % {"line": line},
                code="structure",
                line=line,
            )

    def _check_root_end(self, root: etree._Element) -> None:
        if len(root):
            self._check_no_text(root[-1].tail, root[-1].sourceline)

    def _release(self, element: etree._Element) -> None:
        """Drop the element's content and the elements before it, so that memory does not grow with the file."""
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del self._root[0]

    def _syntax_fault(self, error: etree.XMLSyntaxError) -> InvoiceFileRejected:
        kinds = {entry.type_name for entry in self._events.error_log}
        line, column = error.position if error.position else (None, None)
        line = line or error.lineno or None
        if any(_is_forbidden_construct(kind) for kind in kinds):
            return _forbidden(line)
        where = {"line": line, "column": column}
        if "ERR_RESOURCE_LIMIT" in kinds:
            return InvoiceFileRejected(
                _("Filen innehåller ett element eller värde som är för stort eller för djupt nästlat (rad %(line)s).")
                % where,
                code="limit",
                line=line,
            )
        if "ERR_INVALID_ENCODING" in kinds:
            return InvoiceFileRejected(
                _(
                    "Filen innehåller tecken som inte är giltiga i sin teckenkodning (rad %(line)s). Utan "
                    'XML-deklaration ska filen vara UTF-8; en fil i ISO-8859-1 ska ha encoding="ISO-8859-1".'
                )
                % where,
                code="encoding",
                line=line,
            )
        if not line:
            return InvoiceFileRejected(
                _("Filen är inte välformad XML: den innehåller inget element."), code="not_well_formed"
            )
        detail = next((str(text) for kind, text in _SYNTAX_DETAILS.items() if kind in kinds), "")
        if detail:
            return InvoiceFileRejected(
                _("Filen är inte välformad XML: %(detail)s (rad %(line)s, kolumn %(column)s).")
                % {**where, "detail": detail},
                code="not_well_formed",
                line=line,
            )
        return InvoiceFileRejected(
            _("Filen är inte välformad XML (rad %(line)s, kolumn %(column)s).") % where,
            code="not_well_formed",
            line=line,
        )

    # The header and the claims -----------------------------------------------------------------------

    def read_header(self) -> Header:
        element = self._next_child()
        if element is None or element.tag != _HEADER:
            raise InvoiceFileRejected(
                _("Filen saknar Huvud; det ska stå först i Fakturafil."),
                code="header_missing",
                line=None if element is None else element.sourceline,
            )
        faults = self._schema_faults(element)
        created = None
        if not faults:
            text = _collapse(element.findtext(_NS + "Skapad"))
            try:
                created = datetime.datetime.fromisoformat(text)
            except ValueError:
                faults.append(_value_fault("Skapad", "", text))
        if faults:
            raise InvoiceFileRejected(
                " ".join(fault.message for fault in faults[:3]), code="header_invalid", line=element.sourceline
            )
        header = Header(
            clinic_number=_collapse(element.findtext(_NS + "Kliniknummer")),
            organisation_number=_collapse(element.findtext(_NS + "Organisationsnummer")),
            invoice_reference=_collapse(element.findtext(_NS + "Fakturareferens")),
            created=created,
            software=(element.findtext(_NS + "Programvara") or "").strip(),
        )
        self._release(element)
        return header

    def claims(self) -> Iterator[ParsedClaim]:
        index = 0
        while (element := self._next_child()) is not None:
            if element.tag != _CLAIM:
                raise self._misplaced(element)
            index += 1
            yield self._claim(index, element)
            self._release(element)
        self._finish()
        if index == 0:
            raise InvoiceFileRejected(_("Filen innehåller ingen räkning."), code="no_claims")

    def _misplaced(self, element: etree._Element) -> InvoiceFileRejected:
        name = _split_tag(element.tag)[1]
        if element.tag == _HEADER:
            message = _("Huvud får bara stå en gång, först i Fakturafil (rad %(line)s).")
        else:
            message = _("Elementet %(name)s får inte stå i Fakturafil (rad %(line)s).")
        return InvoiceFileRejected(
            message % {"name": _shown(name), "line": element.sourceline}, code="structure", line=element.sourceline
        )

    def _claim(self, index: int, element: etree._Element) -> ParsedClaim:
        reference = _collapse(element.findtext(_NS + "Rakningsreferens"))
        clinic_number = _shown(_collapse(element.findtext(_NS + "Kliniknummer")))
        if not self._drafts:
            return ParsedClaim(
                index=index,
                reference=reference,
                personal_identity_number="",
                draft=None,
                faults=[],
                line=0,
                clinic_number=clinic_number,
            )
        faults = self._schema_faults(element)
        draft = None
        if not faults:
            draft, faults = _claim_draft(element)
        return ParsedClaim(
            index=index,
            reference=_shown(reference),
            personal_identity_number=_shown(_collapse(element.findtext(_NS + "Personnummer"))),
            draft=draft,
            faults=faults,
            line=element.sourceline,
            clinic_number=clinic_number,
        )

    def _schema_faults(self, element: etree._Element) -> list[Fault]:
        """The schema's complaints about the element on its own (Huvud and Rakning are global elements)."""
        if self._schema.validate(element):
            return []
        faults, seen, places = [], set(), _Places(element)
        for examined, entry in enumerate(self._schema.error_log):
            # Each is placed by walking the claim, so a claim of thousands of faults is not read to the end.
            if len(faults) >= MAX_FAULTS_PER_CLAIM or examined >= 4 * MAX_FAULTS_PER_CLAIM:
                break
            fault = _schema_fault(entry, element, places)
            if (fault.message, fault.line) not in seen:
                seen.add((fault.message, fault.line))
                faults.append(fault)
        return faults


def _is_forbidden_construct(kind: str) -> bool:
    """An error libxml2 gives for an entity or DTD; not for a lone '&' (ENTITYREF_*), which is only a typo."""
    return any(marker in kind for marker in ("DOCTYPE", "DTD", "EXT_SUBSET", "PEREF")) or (
        "ENTITY" in kind and "ENTITYREF" not in kind
    )


_SYNTAX_DETAILS = {
    "ERR_DOCUMENT_EMPTY": gettext_lazy("filen innehåller inget element"),
    "ERR_TAG_NAME_MISMATCH": gettext_lazy("en sluttagg stämmer inte med starttaggen"),
    "ERR_TAG_NOT_FINISHED": gettext_lazy("filen tar slut innan alla element är avslutade"),
    "ERR_DOCUMENT_END": gettext_lazy("det finns innehåll efter Fakturafils slut"),
    "ERR_INVALID_CHAR": gettext_lazy("ett tecken som inte är tillåtet i XML"),
    "ERR_LT_IN_ATTRIBUTE": gettext_lazy("tecknet < i ett attributvärde"),
    "ERR_ATTRIBUTE_REDEFINED": gettext_lazy("samma attribut står två gånger"),
}


# Schema faults in Swedish ------------------------------------------------------------------------------

# What a value must be, by element or (element, attribute), for "Elementet X: värdet 'v' <rule>."
_AMOUNT_RULE = gettext_lazy("är inget belopp i kronor med högst två decimaler efter punkt, som 980 eller 1250.50")
_DATE_RULE = gettext_lazy("är inget datum ÅÅÅÅ-MM-DD")
_REFERENCE_RULE = gettext_lazy("ska ha 1–%(max)s tecken: siffror, bokstäver A–Z och bindestreck")
_TEXT_RULE = gettext_lazy("ska ha 1–%(max)s tecken")
_LONG_TEXT_RULE = gettext_lazy("får ha högst %(max)s tecken")
_VALUE_RULES = {
    ("Kliniknummer", ""): (gettext_lazy("ska vara 1–10 siffror"), None),
    ("Organisationsnummer", ""): (gettext_lazy("ska vara tio siffror utan bindestreck"), None),
    ("Fakturareferens", ""): (_REFERENCE_RULE, 25),
    ("Skapad", ""): (gettext_lazy("är ingen tidpunkt ÅÅÅÅ-MM-DDTtt:mm:ss"), None),
    ("Programvara", ""): (_LONG_TEXT_RULE, 200),
    ("Rakningsreferens", ""): (_REFERENCE_RULE, 20),
    ("Personnummer", ""): (gettext_lazy("är inte tolv siffror ÅÅÅÅMMDDNNNN"), None),
    ("Stodform", ""): (gettext_lazy("ska vara N, F eller S"), None),
    ("Intygsnummer", ""): (_TEXT_RULE, 20),
    ("Vardmodell", ""): (_TEXT_RULE, 10),
    ("Patientkategori", ""): (_TEXT_RULE, 10),
    ("Forhandsbedomning", ""): (_TEXT_RULE, 20),
    ("Nummer", ""): (_TEXT_RULE, 30),
    ("GiltigFrom", ""): (_DATE_RULE, None),
    ("GiltigTom", ""): (_DATE_RULE, None),
    ("Rakningskommentar", ""): (_LONG_TEXT_RULE, 500),
    ("KvarvarandeTander", ""): (gettext_lazy("ska vara ett heltal 0–32"), None),
    ("IntaktaTander", ""): (gettext_lazy("ska vara ett heltal 0–32"), None),
    ("Besok", "datum"): (_DATE_RULE, None),
    ("Patientavgift", "belopp"): (_AMOUNT_RULE, None),
    ("Atgard", "kod"): (gettext_lazy("ska ha 1–10 tecken: siffror och bokstäver A–Z"), None),
    ("Atgard", "tand"): (gettext_lazy("är inget tandnummer enligt FDI (11–48, 51–85)"), None),
    ("Atgard", "kak"): (gettext_lazy("ska vara OK eller UK"), None),
    ("Atgard", "pris"): (_AMOUNT_RULE, None),
    ("Atgard", "kommentar"): (_LONG_TEXT_RULE, 200),
}
# The draft's field a fault is about, by element.
_FIELDS = {
    "Rakningsreferens": "reference",
    "Personnummer": "personal_identity_number",
    "Stodform": "support_form",
    "Intygsnummer": "certificate_number",
    "Vardmodell": "care_model",
    "Patientkategori": "patient_category",
    "Forhandsbedomning": "prior_assessment_number",
    "Frikort": "free_card",
    "Nummer": "free_card",
    "GiltigFrom": "free_card",
    "GiltigTom": "free_card",
    "Rakningskommentar": "comment",
    "KvarvarandeTander": "remaining_teeth",
    "IntaktaTander": "intact_teeth",
    "Besok": "lines",
    "Atgard": "lines",
    "Patientavgift": "patient_fees",
}
_VALUE_ERRORS = (
    "_DATATYPE_VALID",
    "_FACET_VALID",
    "_PATTERN_VALID",
    "_ENUMERATION_VALID",
    "LENGTH_VALID",
    "INCLUSIVE_VALID",
    "EXCLUSIVE_VALID",
    "DIGITS_VALID",
)
_SUBJECT = re.compile(r"Element '([^']*)'(?:, attribute '([^']*)')?: (.*)", re.DOTALL)
_EXPECTED = re.compile(r"Expected is (?:one of )?\((.*)\)", re.DOTALL)
_NAMED_ATTRIBUTE = re.compile(r"[Tt]he attribute '([^']*)'")
_PATH_STEP = re.compile(r"([^\[\]]+)(?:\[(\d+)\])?")


def _schema_fault(entry, validated: etree._Element, places: _Places | None = None) -> Fault:
    """A libxml2 schema error as a fault in Swedish that names the element (and attribute)."""
    match = _SUBJECT.match(entry.message)
    if not match:
        return Fault(code="schema_invalid", message=_("Innehållet följer inte formatet för fakturafilen."))
    element = _split_tag(match.group(1))[1]
    attribute = _split_tag(match.group(2))[1] if match.group(2) else ""
    detail = match.group(3)
    places = places or _Places(validated)
    node = places.node_at(entry.path)
    field = _FIELDS.get(element, "")
    line = places.line_index(node)
    expected = _EXPECTED.search(detail)
    names = _split_tag_list(expected.group(1)) if expected else ""
    if "is not expected" in detail:
        message = (
            _("Elementet %(element)s får inte stå här; här väntas %(expected)s.")
            if names
            else _("Elementet %(element)s får inte stå här.")
        )
        return Fault("schema_element_unexpected", message % {"element": element, "expected": names}, field, line)
    if "Missing child element" in detail:
        message = (
            _("Elementet %(element)s saknar %(expected)s.") if names else _("Elementet %(element)s saknar ett element.")
        )
        return Fault("schema_element_missing", message % {"element": element, "expected": names}, field, line)
    if "is required but missing" in detail:
        named = _NAMED_ATTRIBUTE.search(detail)
        return Fault(
            "schema_attribute_missing",
            _("Elementet %(element)s saknar attributet %(attribute)s.")
            % {"element": element, "attribute": _split_tag(named.group(1))[1] if named else "?"},
            field,
            line,
        )
    if attribute and ("is not allowed" in detail or "xsi:type" in detail):
        return Fault(
            "schema_attribute_not_allowed",
            _("Elementet %(element)s får inte ha attributet %(attribute)s.")
            % {"element": element, "attribute": attribute},
            field,
            line,
        )
    if "Character content" in detail:
        return Fault(
            "schema_text_not_allowed",
            _("Elementet %(element)s får inte innehålla text.") % {"element": element},
            field,
            line,
        )
    if "Element content is not allowed" in detail:
        return Fault(
            "schema_element_not_allowed",
            _("Elementet %(element)s får inte innehålla andra element.") % {"element": element},
            field,
            line,
        )
    if any(marker in entry.type_name for marker in _VALUE_ERRORS):
        if node is not None:
            value = node.get(attribute, "") if attribute else (node.text or "")
        else:
            found = re.search(r"[Tt]he value '(.*?)' |^'(.*?)' is not", detail)
            value = (found.group(1) or found.group(2) or "") if found else ""
        return _value_fault(element, attribute, value, line)
    if attribute:
        message = _("Elementet %(element)s: attributet %(attribute)s följer inte formatet.")
    else:
        message = _("Elementet %(element)s följer inte formatet.")
    return Fault("schema_invalid", message % {"element": element, "attribute": attribute}, field, line)


def _value_fault(element: str, attribute: str, value: str, line: int | None = None) -> Fault:
    rule, limit = _VALUE_RULES.get((element, attribute), (gettext_lazy("är inte giltigt"), None))
    rule_text = str(rule) % {"max": limit} if limit else str(rule)
    where = {"element": element, "attribute": attribute, "value": _shown(_collapse(value)), "rule": rule_text}
    if attribute:
        message = _("Elementet %(element)s, attributet %(attribute)s: värdet '%(value)s' %(rule)s.") % where
    else:
        message = _("Elementet %(element)s: värdet '%(value)s' %(rule)s.") % where
    return Fault("schema_value_invalid", message, _FIELDS.get(element, ""), line)


class _Places:
    """Where in the validated element each schema fault lies. Each element's children are listed once and the
    Atgard counted once, so placing a claim's faults takes time in proportion to the claim, not to the claim
    times its faults."""

    def __init__(self, validated: etree._Element):
        self._validated = validated
        self._children: dict[tuple[str, str], list[etree._Element]] = {}
        self._lines: dict[etree._Element, int] | None = None

    def node_at(self, path: str | None) -> etree._Element | None:
        """The element a libxml2 path such as '/*/*[6]/*[2]' names, counted from the validated element."""
        steps = (path or "").split("/")
        if len(steps) < 2 or steps[0]:
            return None
        node, walked = self._validated, ""
        for step in steps[2:]:
            match = _PATH_STEP.fullmatch(step)
            if not match:
                return None
            name, position = match.group(1), int(match.group(2) or 1)
            children = self._children.get((walked, name))
            if children is None:
                children = [child for child in node if isinstance(child.tag, str) and name in ("*", _path_name(child))]
                self._children[(walked, name)] = children
            if not 0 < position <= len(children):
                return None
            node, walked = children[position - 1], f"{walked}/{step}"
        return node

    def line_index(self, node: etree._Element | None) -> int | None:
        """The index among the draft's lines of the Atgard the fault is about, if it is one."""
        if node is None or node.tag != _NS + "Atgard":
            return None
        if self._lines is None:
            self._lines = {line: index for index, line in enumerate(self._validated.iter(_NS + "Atgard"))}
        return self._lines.get(node)


def _path_name(element: etree._Element) -> str:
    name = _split_tag(element.tag)[1]
    return f"{element.prefix}:{name}" if element.prefix else name


# Claims as drafts ----------------------------------------------------------------------------------------


def _claim_draft(claim: etree._Element) -> tuple[ClaimDraft | None, list[Fault]]:
    """A schema-valid Rakning as a draft; a value that Python cannot hold (a date, an amount) leaves it without
    one. Whether the claim may be billed (a visit's fee given twice, say) is for the validation to say."""
    faults: list[Fault] = []
    lines: list[LineDraft] = []
    fees: dict[datetime.date, int] = {}
    # A visit date's fee given again (in a second Besok of that date) is kept as a patAvg line after the file's
    # lines, so that the validation says it is given twice, as it does for every door.
    fees_again: list[LineDraft] = []
    # The schema has checked that every child is one of ours, each at most once but Besok.
    children = {child.tag[len(_NS) :]: child for child in claim}

    def text(name: str) -> str:
        child = children.get(name)
        return "" if child is None else _collapse(child.text)

    for visit in claim.iterchildren(_NS + "Besok"):
        day = _date(visit.get("datum"), "Besok", "datum", faults)
        if day is None:
            continue
        fee = visit.find(_NS + "Patientavgift")
        if fee is not None:
            amount = _amount(fee.get("belopp"), "Patientavgift", "belopp", faults)
            if day in fees:
                fees_again.append(LineDraft(visit_date=day, code=PATIENT_FEE_CODE, price=amount))
            elif amount is not None:
                fees[day] = amount
        for action in visit.iterchildren(_NS + "Atgard"):
            price = action.get("pris")
            lines.append(
                LineDraft(
                    visit_date=day,
                    code=_collapse(action.get("kod")),
                    tooth=_collapse(action.get("tand")),
                    jaw=_collapse(action.get("kak")),
                    price=None if price is None else _amount(price, "Atgard", "pris", faults, len(lines)),
                    comment=(action.get("kommentar") or "").strip(),
                )
            )

    free_card = None
    card = children.get("Frikort")
    if card is not None:
        valid_from = _date(card.findtext(_NS + "GiltigFrom"), "GiltigFrom", "", faults)
        valid_to = _date(card.findtext(_NS + "GiltigTom"), "GiltigTom", "", faults)
        if valid_from and valid_to:
            free_card = FreeCardDraft(_collapse(card.findtext(_NS + "Nummer")), valid_from, valid_to)

    teeth = children.get("Tandhalsa")
    remaining = intact = None
    if teeth is not None:
        remaining = int(_collapse(teeth.findtext(_NS + "KvarvarandeTander")))
        intact = int(_collapse(teeth.findtext(_NS + "IntaktaTander")))

    if faults:
        return None, faults
    return (
        ClaimDraft(
            personal_identity_number=text("Personnummer"),
            support_form=text("Stodform"),
            reference=text("Rakningsreferens"),
            lines=lines + fees_again,
            patient_fees=fees,
            certificate_number=text("Intygsnummer"),
            care_model=text("Vardmodell"),
            patient_category=text("Patientkategori"),
            prior_assessment_number=text("Forhandsbedomning"),
            free_card=free_card,
            comment=(children["Rakningskommentar"].text or "").strip() if "Rakningskommentar" in children else "",
            remaining_teeth=remaining,
            intact_teeth=intact,
        ),
        [],
    )


def _date(value: str | None, element: str, attribute: str, faults: list[Fault]) -> datetime.date | None:
    text = _collapse(value)
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        faults.append(_value_fault(element, attribute, text))
        return None


def _amount(
    value: str | None, element: str, attribute: str, faults: list[Fault], line: int | None = None
) -> int | None:
    text = _collapse(value)
    try:
        return parse_kronor(text)
    except ValidationError:
        faults.append(_value_fault(element, attribute, text, line))
        return None


# Small helpers -------------------------------------------------------------------------------------------


def _split_tag(tag: str) -> tuple[str, str]:
    """'{namespace}name' → ('namespace', 'name'); a name without namespace → ('', 'name')."""
    if tag.startswith("{"):
        namespace, _brace, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _split_tag_list(text: str) -> str:
    """libxml2's '{ns}A, {ns}B, {ns}C' as 'A, B eller C'."""
    names = [_split_tag(name.strip())[1] for name in text.split(",") if name.strip()]
    if len(names) < 2:
        return "".join(names)
    return _("%(names)s eller %(last)s") % {"names": ", ".join(names[:-1]), "last": names[-1]}


def _collapse(value: str | None) -> str:
    """Whitespace as the schema's xs:token sees it: runs of XML whitespace as one space, none at the ends."""
    return _WHITESPACE_RUN.sub(" ", value.strip(_XML_WHITESPACE)) if value else ""


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN_VALUE_LENGTH else value[:_SHOWN_VALUE_LENGTH] + "…"
