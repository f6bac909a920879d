"""Ersättningslistor: importing a tariff version from a CSV or Excel file, and reading and comparing versions.

A tariff is all or nothing: `tariff_import` checks every row and stores none when one is wrong, listing
each faulty row with its number. Importing the same file for the same period again changes nothing.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from clinics.models import Region, SupportForm, User
from portal.audit import audit_record, snapshot
from portal.db import PreparedQuery, model_columns, model_from_row
from portal.money import parse_kronor
from portal.tabular import Table, cell_text, column_positions, read_table

from .audit import ClaimsAudit
from .models import PATIENT_FEE_CODE, TariffRow, TariffVersion, ToothOrJaw

# A tariff has a few hundred codes at most; this bounds the work and the error list a wrong file can cause.
MAX_TARIFF_ROWS = 2000

# Header (lower case, single spaces) → the field of TariffRow. All are required but "Får upprepas", which lists
# before it left out: without the column no code is repeatable.
_COLUMNS = {
    "åtgärd": "code",
    "benämning": "description",
    "pris": "price",
    "kräver": "requires",
    "stödformer": "support_forms",
    "förhandsbedömning": "requires_prior_assessment",
    "får upprepas": "repeatable",
}
_REQUIRED_COLUMNS = [column for column in _COLUMNS.values() if column != "repeatable"]
_CODE = re.compile(r"[0-9A-Za-z]{1,10}")
_REQUIRES = {"": ToothOrJaw.NONE, "tand": ToothOrJaw.TOOTH, "käke": ToothOrJaw.JAW}
_YES_NO = {"ja": True, "nej": False, "": False}
_FORM_ORDER = [SupportForm.N, SupportForm.F, SupportForm.S]
_DESCRIPTION_MAX_LENGTH = TariffRow._meta.get_field("description").max_length
_NAME_MAX_LENGTH = TariffVersion._meta.get_field("name").max_length


# Importing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TariffRowError:
    """A faulty row of an import file: its number as the user sees it, its code as written, what is wrong."""

    row: int
    code: str
    messages: tuple[str, ...]


class TariffImportRefused(ValidationError):
    """The import stored nothing. Messages by form field, as any ValidationError; `row_errors` lists each
    faulty row of the file (empty when the fault is the file's or the form's)."""

    def __init__(self, errors: dict[str, list[str]], row_errors: list[TariffRowError] | None = None):
        super().__init__(errors)
        self.row_errors = row_errors or []


@dataclass(frozen=True)
class TariffImport:
    """What an import did: the version (new, or the one already imported from the same file), and the
    version before it when its end was moved to make room."""

    version: TariffVersion
    created: bool
    ended: TariffVersion | None = None


@dataclass(frozen=True)
class _ParsedRow:
    code: str
    description: str
    price: int | None
    requires: str
    support_forms: list[str]
    requires_prior_assessment: bool
    repeatable: bool = False


def tariff_import(
    *,
    actor: User,
    region: Region,
    uploaded,
    name: str,
    valid_from: datetime.date,
    valid_to: datetime.date | None = None,
) -> TariffImport:
    """Store a new tariff version from a CSV or .xlsx file, or raise `TariffImportRefused` and store nothing.

    The previous version is made to end the day before `valid_from` when it would overlap; a later version
    must not overlap (the new one must end before it starts). The same file for the same period again is
    found already imported and changes nothing.
    """
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = [_("Ange ett namn på ersättningslistan.")]
    elif len(name) > _NAME_MAX_LENGTH:
        errors["name"] = [_("Namnet får ha högst %(n)s tecken.") % {"n": _NAME_MAX_LENGTH}]
    if valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = [_("Gäller till kan inte vara före gäller från.")]

    table, rows, row_errors = None, [], []
    try:
        table = read_table(
            uploaded,
            getattr(uploaded, "name", "") or "",
            program_message=gettext_lazy("Filen %(name)s är ett program, ingen ersättningslista."),
        )
        rows, row_errors, file_errors = _parse(table)
    except ValidationError as error:
        file_errors = error.messages
    if row_errors:
        summary = ngettext(
            "Filen %(name)s har fel på %(count)s rad. Inget har sparats: rätta raden och ladda upp filen igen.",
            "Filen %(name)s har fel på %(count)s rader. Inget har sparats: rätta raderna och ladda upp filen igen.",
            len(row_errors),
        )
        file_errors.insert(0, summary % {"name": table.name, "count": len(row_errors)})
    if file_errors:
        errors["file"] = file_errors
    if errors:
        raise TariffImportRefused(errors, row_errors)
    return _store(
        actor=actor, region=region, table=table, rows=rows, name=name, valid_from=valid_from, valid_to=valid_to
    )


@transaction.atomic
def _store(*, actor, region, table: Table, rows: list[_ParsedRow], name, valid_from, valid_to) -> TariffImport:
    # One import at a time per region: the overlap checks below hold until this transaction ends.
    region = Region.objects.select_for_update().get(pk=region.pk)
    versions = TariffVersion.objects.filter(region=region)
    existing = versions.filter(valid_from=valid_from).first()
    if existing is not None:
        if existing.source_sha256 == table.sha256 and existing.valid_to == valid_to:
            return TariffImport(version=existing, created=False)
        raise TariffImportRefused(
            {
                "valid_from": [
                    _("Ersättningslistan %(name)s gäller redan från %(date)s. Välj ett annat datum.")
                    % {"name": existing.name, "date": valid_from.isoformat()}
                ]
            }
        )
    following = versions.filter(valid_from__gt=valid_from).order_by("valid_from").first()
    if following is not None and (valid_to is None or valid_to >= following.valid_from):
        raise TariffImportRefused(
            {
                "valid_to": [
                    _("Ersättningslistan %(name)s gäller från %(date)s. Ange gäller till senast %(last)s.")
                    % {
                        "name": following.name,
                        "date": following.valid_from.isoformat(),
                        "last": (following.valid_from - datetime.timedelta(days=1)).isoformat(),
                    }
                ]
            }
        )

    ended = versions.filter(valid_from__lt=valid_from).order_by("-valid_from").first()
    if ended is not None and (ended.valid_to is None or ended.valid_to >= valid_from):
        before = snapshot(ended, ["valid_to"])
        ended.valid_to = valid_from - datetime.timedelta(days=1)
        ended.save(update_fields=["valid_to"])
        audit_record(
            actor=actor,
            action=ClaimsAudit.TARIFF_ENDED,
            obj=ended,
            before=before,
            after=snapshot(ended, ["valid_to"]),
            region=region,
        )
    else:
        ended = None

    version = TariffVersion.objects.create(
        region=region,
        name=name,
        valid_from=valid_from,
        valid_to=valid_to,
        imported_by=actor,
        source_sha256=table.sha256,
    )
    TariffRow.objects.bulk_create(
        TariffRow(
            version=version,
            code=row.code,
            description=row.description,
            price=row.price,
            requires=row.requires,
            support_forms=row.support_forms,
            requires_prior_assessment=row.requires_prior_assessment,
            repeatable=row.repeatable,
        )
        for row in rows
    )
    audit_record(
        actor=actor,
        action=ClaimsAudit.TARIFF_IMPORTED,
        obj=version,
        after={
            **snapshot(version, ["name", "valid_from", "valid_to", "source_sha256"]),
            "original_name": table.name,
            "rows": len(rows),
        },
        region=region,
    )
    return TariffImport(version=version, created=True, ended=ended)


def _parse(table: Table) -> tuple[list[_ParsedRow], list[TariffRowError], list[str]]:
    """Every row of the file checked: the rows, the faulty rows, and what is wrong with the file as a whole."""
    positions = column_positions(table.header(), columns=_COLUMNS, required=_REQUIRED_COLUMNS, name=table.name)
    rows: list[_ParsedRow] = []
    row_errors: list[TariffRowError] = []
    first_line: dict[str, int] = {}
    count = 0
    for line, cells in table.data_rows():
        count += 1
        if count > MAX_TARIFF_ROWS:
            return (
                [],
                [],
                [_("Filen %(name)s har fler än %(n)s åtgärder.") % {"name": table.name, "n": MAX_TARIFF_ROWS}],
            )

        def cell(column: str, cells=cells) -> Any:
            index = positions.get(column)
            return cells[index] if index is not None and index < len(cells) else None

        row, messages = _parse_row(cell)
        # Codes are compared without case: 825s and 825S would be the same code to anyone reading the list.
        key = row.code.casefold()
        if row.code and key in first_line:
            messages.append(
                _("Åtgärd %(code)s finns redan på rad %(row)s i filen.") % {"code": row.code, "row": first_line[key]}
            )
        elif row.code:
            first_line[key] = line
        if messages:
            row_errors.append(TariffRowError(row=line, code=cell_text(cell("code"))[:20], messages=tuple(messages)))
        else:
            rows.append(row)
    file_errors: list[str] = []
    if count == 0:
        file_errors.append(_("Filen %(name)s har inga åtgärder.") % {"name": table.name})
    elif PATIENT_FEE_CODE.casefold() not in first_line:
        file_errors.append(
            _("Filen %(name)s saknar raden %(code)s (patientavgift). Lägg till den med tomt pris.")
            % {"name": table.name, "code": PATIENT_FEE_CODE}
        )
    return rows, row_errors, file_errors


def _parse_row(cell) -> tuple[_ParsedRow, list[str]]:
    """One row's values and every fault in it."""
    messages: list[str] = []

    code = cell_text(cell("code"))
    if code.casefold() == PATIENT_FEE_CODE.casefold():
        code = PATIENT_FEE_CODE
    if not code:
        messages.append(_("Ange åtgärd (koden)."))
    elif not _CODE.fullmatch(code):
        messages.append(
            _("Åtgärd %(code)s är ingen giltig kod: 1–10 tecken, bara siffror och bokstäver a–z.") % {"code": code[:20]}
        )

    description = " ".join(cell_text(cell("description")).split())
    if not description:
        messages.append(_("Ange benämning."))
    elif len(description) > _DESCRIPTION_MAX_LENGTH:
        messages.append(_("Benämningen får ha högst %(n)s tecken.") % {"n": _DESCRIPTION_MAX_LENGTH})

    price_text = cell_text(cell("price"))
    price = None
    if price_text:
        try:
            price = parse_kronor(price_text)
        except ValidationError as error:
            messages.append(
                _("Pris %(value)s går inte att läsa: %(reason)s")
                % {"value": price_text[:20], "reason": error.messages[0]}
            )
        if code == PATIENT_FEE_CODE:
            messages.append(
                _("%(code)s ska ha tomt pris: patientavgiften anges vid varje besök.") % {"code": PATIENT_FEE_CODE}
            )

    requires_text = cell_text(cell("requires")).casefold()
    requires = _REQUIRES.get(requires_text)
    if requires is None:
        messages.append(_("Kräver ska vara tand, käke eller tomt, inte %(value)s.") % {"value": requires_text[:20]})

    forms_text = cell_text(cell("support_forms"))
    tokens = {token.upper() for token in re.split(r"[\s,;/]+", forms_text) if token}
    unknown = sorted(tokens - set(SupportForm.values))
    if not tokens:
        messages.append(_("Ange stödformer: N, F och/eller S."))
    elif unknown:
        messages.append(_("Stödformer får bara vara N, F och S, inte %(value)s.") % {"value": ", ".join(unknown)[:20]})
    support_forms = [form.value for form in _FORM_ORDER if form in tokens]

    prior_assessment = cell("requires_prior_assessment")
    if isinstance(prior_assessment, bool):  # an Excel TRUE/FALSE cell
        needs_prior_assessment = prior_assessment
    else:
        prior_text = cell_text(prior_assessment).casefold()
        needs_prior_assessment = _YES_NO.get(prior_text)
        if needs_prior_assessment is None:
            messages.append(_("Förhandsbedömning ska vara ja eller nej, inte %(value)s.") % {"value": prior_text[:20]})

    repeatable = _yes_no(cell("repeatable"))
    if repeatable is None:
        messages.append(
            _("Får upprepas ska vara ja eller nej, inte %(value)s.") % {"value": cell_text(cell("repeatable"))[:20]}
        )

    row = _ParsedRow(
        code=code,
        description=description,
        price=price,
        requires=requires or ToothOrJaw.NONE,
        support_forms=support_forms,
        requires_prior_assessment=bool(needs_prior_assessment),
        repeatable=bool(repeatable),
    )
    return row, messages


def _yes_no(value: Any) -> bool | None:
    """A ja/nej cell (an Excel TRUE/FALSE cell too; empty: nej), or None when it is neither."""
    if isinstance(value, bool):
        return value
    return _YES_NO.get(cell_text(value).casefold())


# Reading ---------------------------------------------------------------------------------------------------


def tariff_versions(*, region: Region) -> QuerySet[TariffVersion]:
    """The region's versions, the latest first, with their number of codes."""
    return (
        TariffVersion.objects.filter(region=region)
        .select_related("imported_by")
        .annotate(row_count=Count("rows"))
        .order_by("-valid_from")
    )


def _versions_in_force(region_id: int, first: datetime.date, last: datetime.date) -> QuerySet[TariffVersion]:
    return (
        TariffVersion.objects.of_region(region_id)
        .filter(valid_from__lte=last)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first))
        # The default order ("region", "-valid_from") joins the region for what is one region's anyway.
        .order_by("-valid_from")
    )


# A book's first period is read by every step of Registrera räkning and every claim checked or sent: compiled once
# per process (portal.db.PreparedQuery), since compiling it cost the ORM about a millisecond, more than reading the
# region's few versions.
_VERSIONS_IN_FORCE = PreparedQuery(
    lambda region_id, first, last: _versions_in_force(region_id, first, last).values_list(
        *model_columns(TariffVersion)
    ),
    region_id=int,
    first=datetime.date,
    last=datetime.date,
)


class TariffBook:
    """A region's tariff for a period: the one answer to "the price and rules of code X on day D".

    The validation (`claims.validation.ValidationContext.tariff`) and the form page read versions and rows
    from a book, never from queries of their own. Load the period up front (an invoice file's visit dates):
    its versions are read in one query, each version's rows in one more when first asked for. A day outside
    what was loaded is read on first use, so the book is never wrong, only slower. Should two versions
    overlap, the one that starts later is in force.
    """

    def __init__(self, region: Region, first: datetime.date | None = None, last: datetime.date | None = None):
        self.region = region
        self._versions: dict[int, TariffVersion] = {}
        self._rows: dict[int, dict[str, TariffRow]] = {}
        self._loaded_periods: list[tuple[datetime.date, datetime.date]] = []
        self._version_of_day: dict[datetime.date, TariffVersion | None] = {}
        if first is not None:
            self.load(first, last or first)

    def load(self, first: datetime.date, last: datetime.date) -> None:
        """Read the versions in force on any day from `first` to `last`, unless already read."""
        if any(loaded_first <= first and last <= loaded_last for loaded_first, loaded_last in self._loaded_periods):
            return
        if self._versions:
            versions = _versions_in_force(self.region.pk, first, last).exclude(pk__in=list(self._versions))
        else:
            rows = _VERSIONS_IN_FORCE.rows(region_id=self.region.pk, first=first, last=last)
            versions = [model_from_row(TariffVersion, iter(row)) for row in rows]
        for version in versions:
            self._versions[version.pk] = version
        self._loaded_periods.append((first, last))

    def version(self, day: datetime.date) -> TariffVersion | None:
        """The version in force on `day`, if any."""
        if day not in self._version_of_day:
            if not any(first <= day <= last for first, last in self._loaded_periods):
                self.load(day, day)
            covering = [version for version in self._versions.values() if version.covers(day)]
            self._version_of_day[day] = max(covering, key=lambda version: version.valid_from, default=None)
        return self._version_of_day[day]

    def rows(self, day: datetime.date) -> dict[str, TariffRow] | None:
        """The codes of the version in force on `day`, by code; None when no version is."""
        version = self.version(day)
        if version is None:
            return None
        if version.pk not in self._rows:
            # By code, as the default order has them within a version, without joining the version and region.
            self._rows[version.pk] = {row.code: row for row in version.rows.order_by("code")}
        return self._rows[version.pk]

    def row(self, day: datetime.date, code: str) -> TariffRow | None:
        """Code `code` as the version in force on `day` has it: its price, tooth or jaw, support forms."""
        return (self.rows(day) or {}).get(code)


def tariff_version_on(*, region: Region, day: datetime.date) -> TariffVersion | None:
    """The version in force on `day`, if any."""
    return TariffBook(region).version(day)


def tariff_current(*, region: Region, day: datetime.date) -> TariffVersion | None:
    """The version to show a clinic: the one in force on `day`; else the latest one started, else the first
    one to come."""
    versions = TariffVersion.objects.filter(region=region)
    return (
        tariff_version_on(region=region, day=day)
        or versions.filter(valid_from__lte=day).order_by("-valid_from").first()
        or versions.order_by("valid_from").first()
    )


def tariff_previous(*, version: TariffVersion) -> TariffVersion | None:
    return (
        TariffVersion.objects.filter(region_id=version.region_id, valid_from__lt=version.valid_from)
        .order_by("-valid_from")
        .first()
    )


def code_sort_key(code: str) -> tuple:
    """patAvg first, then by number (9 before 101), then the suffix (825 before 825S)."""
    if code == PATIENT_FEE_CODE:
        return (0, 0, "")
    match = re.match(r"(\d+)(.*)", code)
    if match:
        return (1, int(match.group(1)), match.group(2).casefold())
    return (2, 0, code.casefold())


def tariff_rows(*, version: TariffVersion, query: str = "") -> list[TariffRow]:
    """The version's codes in code order; with `query`, those whose code starts with, or whose description
    contains, every word of it."""
    rows = version.rows.all()
    for word in query.split()[:10]:
        rows = rows.filter(Q(code__istartswith=word) | Q(description__icontains=word))
    return sorted(rows, key=lambda row: code_sort_key(row.code))


# Comparing -------------------------------------------------------------------------------------------------

# The fields compared, in the order of the columns on screen.
ROW_FIELDS = ("description", "price", "requires", "support_forms", "requires_prior_assessment", "repeatable")


@dataclass(frozen=True)
class TariffRowChange:
    """One code in two versions: `old` or `new` is None when the code was added or removed."""

    code: str
    old: TariffRow | None
    new: TariffRow | None
    changed: frozenset[str]  # the names of the fields that differ

    @property
    def row(self) -> TariffRow:
        return self.new or self.old

    @property
    def is_new(self) -> bool:
        return self.old is None

    @property
    def is_removed(self) -> bool:
        return self.new is None

    @property
    def is_changed(self) -> bool:
        return self.is_new or self.is_removed or bool(self.changed)

    @property
    def fields(self) -> list[tuple[str, bool]]:
        """The compared fields in the order of the columns, each with whether it changed."""
        return [(name, name in self.changed) for name in ROW_FIELDS]

    @property
    def price_changed(self) -> bool:
        return "price" in self.changed

    @property
    def description_changed(self) -> bool:
        return "description" in self.changed

    @property
    def requires_changed(self) -> bool:
        return "requires" in self.changed

    @property
    def support_forms_changed(self) -> bool:
        return "support_forms" in self.changed

    @property
    def prior_assessment_changed(self) -> bool:
        return "requires_prior_assessment" in self.changed

    @property
    def repeatable_changed(self) -> bool:
        return "repeatable" in self.changed


@dataclass(frozen=True)
class TariffComparison:
    version: TariffVersion
    previous: TariffVersion | None
    rows: list[TariffRowChange]

    @property
    def changes(self) -> list[TariffRowChange]:
        return [row for row in self.rows if row.is_changed]

    @property
    def new_count(self) -> int:
        return sum(row.is_new for row in self.rows)

    @property
    def removed_count(self) -> int:
        return sum(row.is_removed for row in self.rows)

    @property
    def price_changed_count(self) -> int:
        return sum(row.price_changed for row in self.rows)

    @property
    def other_changed_count(self) -> int:
        return sum(bool(row.changed - {"price"}) for row in self.rows)


def tariff_compare(*, version: TariffVersion, previous: TariffVersion | None) -> TariffComparison:
    """Every code of `version` and of `previous`, each with what changed between them. Without a previous
    version nothing is marked as changed."""
    new_rows = {row.code: row for row in version.rows.all()}
    old_rows = {row.code: row for row in previous.rows.all()} if previous else dict(new_rows)
    changes = [
        TariffRowChange(
            code=code,
            old=old_rows.get(code),
            new=new_rows.get(code),
            changed=_changed_fields(old_rows.get(code), new_rows.get(code)),
        )
        for code in sorted(new_rows.keys() | old_rows.keys(), key=code_sort_key)
    ]
    return TariffComparison(version=version, previous=previous, rows=changes)


def _changed_fields(old: TariffRow | None, new: TariffRow | None) -> frozenset[str]:
    if old is None or new is None:
        return frozenset()
    return frozenset(name for name in ROW_FIELDS if _value(old, name) != _value(new, name))


def _value(row: TariffRow, name: str) -> Any:
    value = getattr(row, name)
    return sorted(value) if isinstance(value, Iterable) and not isinstance(value, str) else value
