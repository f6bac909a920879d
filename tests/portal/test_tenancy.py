"""Tenancy fails closed: clinic- and region-owned rows are read through `of_clinic` / `of_region` in views, their
forms and selectors, and a query there that starts any other way fails this test.

The modules are found by file pattern in every app folder, so a module added or moved later (the clinic's billing
desk moving into billing/) is checked too.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models

from claims.models import Claim, CreditInvoice, Invoice
from clinics.models import Clinic, Region
from eligibility.models import Certificate, PriorAssessment
from portal.tenancy import TenantQuerySet, is_tenant_model
from review.models import ClaimQuestion

from .. import codebase
from ..claims.factories import ClaimFactory
from ..clinics.factories import ClinicFactory
from ..eligibility.factories import CertificateFactory, PriorAssessmentFactory

ROOT = Path(settings.BASE_DIR)
# Where request-facing reads live: views, the forms they show (choices), selectors; portal/access_log.py is the
# access log's review page.
CHECKED_GLOBS = (
    "*/views.py",
    "*/*_views.py",
    "*/views/*.py",
    "*/forms.py",
    "*/*_forms.py",
    "*/selectors.py",
    "portal/access_log.py",
)
# none() is no rows at all: a form field's queryset before the view gives it the clinic's or region's.
SCOPED_ACCESSORS = {"of_clinic", "of_clinics", "of_region", "none"}
MANAGERS = {"objects", "_default_manager", "_base_manager"}
LOOKUP_SHORTCUTS = {"get_object_or_404", "get_list_or_404"}

# The justified exceptions, as "function: Model". Each must still be needed (test below), so none outlives its use.
ALLOWED = {
    # The signed-in user's own memberships, across every clinic and region they belong to: scoped by the user.
    "user_places: ClinicMembership",
    "user_places: RegionMembership",
    # The signed-in user's own umbrella organisations (whose clinics they work for): scoped by the user.
    "_organisation_places: OrganisationMembership",
    # The signed-in person's own invitations, from every clinic that invited them: scoped by the user.
    "user_invitations: ClinicInvitation",
    # The whole portal's service windows (no region), the systemadministratör's: `portal_wide()` is their scope.
    "service_windows: ServiceWindow",
    "service_window_delete: ServiceWindow",
    "service_window_end: ServiceWindow",
    # A person's extract of their own data (Mina uppgifter): their own roles, invitations, views of patient data and
    # the applications that name their address, from every clinic and region: scoped by the user.
    "personal_data_extract: ClinicMembership",
    "personal_data_extract: RegionMembership",
    "personal_data_extract: ClinicInvitation",
    "personal_data_extract: AccessLogEntry",
    "_applications_naming: ClinicApplication",
    # Era fakturor's claim rows (the annotations a shown claim needs): every caller filters them by the pks of
    # claims or invoices it read through Invoice/Claim.objects.of_clinic(s), or prefetches them under such invoices.
    "_claim_rows: Claim",
}

# Models that point at a clinic or region without being owned by it.
NOT_OWNED = {
    # A free card is the patient's, valid in every region; the clinic only says where it was registered.
    "eligibility.FreeCard",
    # A person's own notifications: looked up only through Notification.objects.of_recipient(user); the clinic is
    # where the object it links to is.
    "notifications.Notification",
    # The fan-out's place in a clinic's event feed: read and written by the fan-out only, never shown.
    "notifications.NotificationCursor",
}


@dataclass(frozen=True)
class Unscoped:
    path: str
    line: int
    function: str
    model: str
    text: str

    @property
    def key(self) -> str:
        return f"{self.function}: {self.model}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}(): {self.text}"


def tenant_model_names() -> set[str]:
    return {model.__name__ for model in apps.get_models() if is_tenant_model(model)}


def _model_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # models.Claim
        return node.attr
    return None


def _call_name(node: ast.AST) -> str | None:
    return _model_name(node.func) if isinstance(node, ast.Call) else None


def _is_outer_pk(node: ast.expr) -> bool:
    return (
        _call_name(node) == "OuterRef"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "pk"
    )


def find_unscoped(source: str, path: str, tenant_models: set[str]) -> list[Unscoped]:
    """Every query of a tenant model in `source` that does not start with a scoped accessor.

    Two shapes read through a row that is already scoped, so they pass without an accessor:
    - a Prefetch queryset, written inside `Prefetch(...)` or in a variable used only there: Django restricts it
      to the children of the rows being prefetched for;
    - a correlated subquery on the outer row's primary key (`.filter(claim=OuterRef("pk"))`): it only sees the
      outer row's children. Correlated on anything else (a reference, a personnummer) it must be scoped.
    """
    tree = codebase.parsed(source, path)
    # `from claims.models import Claim as C` makes C a tenant model too.
    tenant_models = tenant_models | {
        alias.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname and alias.name in tenant_models
    }
    parents: dict[ast.AST, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent

    def enclosing_function(node: ast.AST) -> ast.AST:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return tree

    def in_prefetch(node: ast.AST) -> bool:
        while node in parents:
            node = parents[node]
            if _call_name(node) == "Prefetch":
                return True
        return False

    def chain(node: ast.AST) -> list[ast.AST]:
        """The method chain that `node` starts: `M.objects`, `M.objects.filter`, `M.objects.filter(...)`, ..."""
        links = [node]
        while (parent := parents.get(links[-1])) is not None and (
            (isinstance(parent, ast.Attribute) and parent.value is links[-1])
            or (isinstance(parent, ast.Call) and parent.func is links[-1])
        ):
            links.append(parent)
        return links

    def correlated_on_pk(links: list[ast.AST]) -> bool:
        return any(
            isinstance(link, ast.Call) and any(_is_outer_pk(keyword.value) for keyword in link.keywords)
            for link in links
        )

    def prefetch_only(links: list[ast.AST]) -> bool:
        """Whether the chain is assigned to a name that its function only ever uses inside Prefetch(...)."""
        assign = parents.get(links[-1])
        if not (
            isinstance(assign, ast.Assign) and len(assign.targets) == 1 and isinstance(assign.targets[0], ast.Name)
        ):
            return False
        name = assign.targets[0].id
        uses = [
            node
            for node in ast.walk(enclosing_function(assign))
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
        ]
        return bool(uses) and all(in_prefetch(use) for use in uses)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in MANAGERS and _model_name(node.value) in tenant_models:
            parent = parents.get(node)
            method = parent.attr if isinstance(parent, ast.Attribute) and parent.value is node else None
            links = chain(node)
            if method in SCOPED_ACCESSORS or in_prefetch(node) or correlated_on_pk(links) or prefetch_only(links):
                continue
            model = _model_name(node.value)
            text = f"{model}.{node.attr}" + (f".{method}" if method else "")
        elif (
            _call_name(node) in LOOKUP_SHORTCUTS
            and node.args
            and _model_name(node.args[0]) in tenant_models  # the model itself; a queryset is checked above
        ):
            model = _model_name(node.args[0])
            text = f"{_call_name(node)}({model}, ...)"
        else:
            continue
        function = enclosing_function(node)
        found.append(Unscoped(path, node.lineno, getattr(function, "name", "<module>"), model, text))
    return sorted(found, key=lambda item: item.line)


def checked_modules() -> list[Path]:
    paths = {path for pattern in CHECKED_GLOBS for path in ROOT.glob(pattern)}
    return sorted(path for path in paths if path.relative_to(ROOT).parts[0] not in {"tests", ".venv", "bench"})


def unscoped_in_project() -> list[Unscoped]:
    names = frozenset(tenant_model_names())
    found = []
    for path in checked_modules():
        found += _unscoped_in_text(codebase.source(path), str(path.relative_to(ROOT)), names)
    return found


# The project's check and its allow-list's read the same files: each text is checked once per process.
_unscoped_in_text = functools.cache(find_unscoped)


# The rule on the project -----------------------------------------------------------------------------------------


def test_views_and_selectors_read_tenant_rows_only_through_a_scoped_accessor():
    unscoped = [item for item in unscoped_in_project() if item.key not in ALLOWED]
    assert not unscoped, "Start these queries with .of_clinic(...) or .of_region(...):\n" + "\n".join(
        map(str, unscoped)
    )


def test_allow_list_is_in_use():
    used = {item.key for item in unscoped_in_project()}
    assert used >= ALLOWED, f"Allowed but no longer needed (remove from ALLOWED): {ALLOWED - used}"


def test_the_checker_finds_the_modules_by_pattern():
    found = {str(path.relative_to(ROOT)) for path in checked_modules()}
    assert {"claims/selectors.py", "review/views.py", "review/clinic_views.py", "review/forms.py"} <= found
    assert "portal/access_log.py" in found
    assert not any(path.startswith("tests/") for path in found)


# The checker on small snippets -----------------------------------------------------------------------------------

TENANT = {"Claim", "ClaimLine", "Invoice", "ClaimQuestion"}


def _keys(source: str) -> list[str]:
    return [item.text for item in find_unscoped(textwrap.dedent(source), "snippet.py", TENANT)]


def test_checker_flags_a_query_that_does_not_start_with_an_accessor():
    source = """
        def claim_detail(request, claim_pk):
            claim = Claim.objects.filter(pk=claim_pk, clinic=request.clinic).first()
            invoice = Invoice.objects.select_related("clinic").get(pk=1)
            questions = models.ClaimQuestion.objects.all()
            return Claim._default_manager.get(pk=claim_pk)
    """
    assert _keys(source) == [
        "Claim.objects.filter",
        "Invoice.objects.select_related",
        "ClaimQuestion.objects.all",
        "Claim._default_manager.get",
    ]


def test_checker_flags_get_object_or_404_on_a_model_or_an_unscoped_queryset():
    source = """
        def detail(request, pk):
            a = get_object_or_404(Claim, pk=pk, clinic=request.clinic)
            b = get_object_or_404(Invoice.objects.select_related("clinic"), pk=pk)
            c = get_object_or_404(Claim.objects.of_clinic(request.clinic), pk=pk)
    """
    assert _keys(source) == ["get_object_or_404(Claim, ...)", "Invoice.objects.select_related"]


def test_checker_passes_scoped_queries_prefetches_and_subqueries_on_the_outer_pk():
    source = """
        def invoices(clinic):
            questions = Exists(ClaimQuestion.objects.filter(claim=OuterRef("pk"), answered_at__isnull=True))
            claims = Claim.objects.of_clinic(clinic).annotate(q=questions)
            nothing = Claim.objects.none()
            return Invoice.objects.of_region(clinic.region).prefetch_related(
                Prefetch("claims", queryset=Claim.objects.order_by("reference"))
            )
    """
    assert _keys(source) == []


def test_checker_passes_a_prefetch_queryset_kept_in_a_variable_but_not_one_also_used_elsewhere():
    source = """
        def run(region, pk):
            lines = ClaimLine.objects.order_by("position")
            claims = Claim.objects.prefetch_related(Prefetch("lines", queryset=lines))
            return Invoice.objects.of_region(region).prefetch_related(Prefetch("claims", queryset=claims))

        def leaky(pk):
            claims = Claim.objects.order_by("reference")
            first = claims.get(pk=pk)
            return Invoice.objects.of_region(1).prefetch_related(Prefetch("claims", queryset=claims))
    """
    assert [(item.function, item.text) for item in find_unscoped(textwrap.dedent(source), "s.py", TENANT)] == [
        ("leaky", "Claim.objects.order_by")
    ]


def test_checker_flags_a_subquery_correlated_on_something_else_than_the_pk():
    source = """
        def same_reference():
            return Exists(Claim.objects.filter(reference=OuterRef("reference")))
    """
    assert _keys(source) == ["Claim.objects.filter"]


def test_checker_sees_a_tenant_model_imported_under_another_name():
    assert _keys("from claims.models import Claim as C\nC.objects.get(pk=1)") == ["C.objects.get"]


def test_checker_ignores_models_that_are_not_tenant_models():
    assert _keys("User.objects.filter(email='a@b.se')\nPatient.objects.get(pk=1)") == []


def test_an_unscoped_query_in_a_view_module_fails_the_project_check(tmp_path, monkeypatch):
    """The whole chain: a new views module in a new app with an unscoped query is found and reported."""
    (tmp_path / "newapp").mkdir()
    (tmp_path / "newapp" / "views.py").write_text("def v(request, pk):\n    return Claim.objects.get(pk=pk)\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert [str(item) for item in unscoped_in_project()] == ["newapp/views.py:2 in v(): Claim.objects.get"]


# The accessors and which models have them ------------------------------------------------------------------------


def _project_models() -> list[type[models.Model]]:
    return [
        model for model in apps.get_models() if Path(apps.get_app_config(model._meta.app_label).path).parent == ROOT
    ]


def _points_at_an_owner(model: type[models.Model]) -> bool:
    return any(
        field.is_relation
        and field.many_to_one | field.one_to_one
        and field.concrete
        and (field.related_model in (Clinic, Region) or is_tenant_model(field.related_model))
        for field in model._meta.get_fields()
    )


def test_every_model_that_belongs_to_a_clinic_or_region_has_the_scoped_accessors():
    """A new model with a foreign key to a clinic, a region or their rows is owned unless it says otherwise."""
    missing = [
        model._meta.label
        for model in _project_models()
        if _points_at_an_owner(model) and not is_tenant_model(model) and model._meta.label not in NOT_OWNED
    ]
    assert not missing, f"Give these a TenantQuerySet (portal/tenancy.py) or list them in NOT_OWNED: {missing}"


@pytest.mark.parametrize(
    "model", [m for m in apps.get_models() if is_tenant_model(m)], ids=lambda model: model._meta.label
)
def test_each_tenant_models_paths_lead_to_a_clinic_and_a_region(model):
    queryset_class = type(model._default_manager.all())
    assert issubclass(queryset_class, TenantQuerySet)
    assert queryset_class.region_path, "every clinic belongs to a region, so every owned row does"
    for path, owner in ((queryset_class.clinic_path, Clinic), (queryset_class.region_path, Region)):
        if path is None:
            continue
        target = model
        for name in path.split("__"):
            target = target._meta.get_field(name).related_model
        assert target is owner, f"{model.__name__}: {path} leads to {target}, not {owner.__name__}"


@pytest.mark.django_db
def test_of_clinic_and_of_region_keep_only_the_owners_rows():
    clinic = ClinicFactory()
    neighbour = ClinicFactory(region=clinic.region)
    elsewhere = ClinicFactory()
    claims = {c: ClaimFactory(invoice__clinic=c) for c in (clinic, neighbour, elsewhere)}
    assert list(Claim.objects.of_clinic(clinic)) == [claims[clinic]]
    assert set(Claim.objects.of_region(clinic.region)) == {claims[clinic], claims[neighbour]}
    assert list(Invoice.objects.of_clinic(clinic.pk)) == [claims[clinic].invoice]
    question = ClaimQuestion.objects.create(claim=claims[neighbour], question="?", asked_by=claims[clinic].created_by)
    assert list(ClaimQuestion.objects.of_region(clinic.region)) == [question]
    assert not ClaimQuestion.objects.of_clinic(clinic).exists()
    assessment = PriorAssessmentFactory(clinic=clinic)
    assert list(PriorAssessment.objects.of_region(clinic.region)) == [assessment]
    assert not PriorAssessment.objects.of_region(elsewhere.region).exists()
    certificate = CertificateFactory(region=clinic.region)
    assert list(Certificate.objects.of_region(clinic.region).valid_on(certificate.valid_from)) == [certificate]


def test_a_missing_owner_or_an_owner_the_model_has_not_is_refused():
    with pytest.raises(ValueError):
        Claim.objects.of_clinic(None)
    with pytest.raises(ValueError):
        CreditInvoice.objects.of_region(None)
    with pytest.raises(TypeError):
        Certificate.objects.of_clinic(1)  # a certificate is the region's
