"""The layers of STYLE.md hold: import-linter's contracts (pyproject.toml) pass on the code, a forbidden import
breaks them, and no function-local import hides a cycle between modules."""

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests import codebase
from tests.project_apps import project_apps

ROOT = Path(__file__).resolve().parent.parent
APPS = tuple(project_apps())
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_import_contracts_take_every_app_of_ours():
    """An app installed but not named to import-linter would be outside every contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert set(config["root_packages"]) == set(APPS)


@pytest.mark.slow  # lint-imports in a Python process of its own, importing every app: ~4 s of CPU each
def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def tree_copy(tmp_path):
    """The apps' Python files and pyproject.toml, in a place where a test may add a module."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.slow  # lint-imports in a Python process of its own, importing every app: ~4 s of CPU each
@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("claims/probe.py", "from review.services import review_rules_apply\n", "Apps are layered"),
        ("eligibility/probe.py", "from claims.selectors import patient_paid_in_year\n", "Apps are layered"),
        ("reports/probe.py", "import billing.services\n", "Apps are layered"),
        ("portal/probe.py", "from eligibility.models import Patient\n", "The shared core"),
        ("portal/probe.py", "from clinics.services import membership_remove\n", "The shared core"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tree_copy, module, source, contract):
    (tree_copy / module).write_text(source)
    result = _lint_imports(tree_copy)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), result.stdout


def _modules():
    for app in APPS:
        for path in codebase.python_files(ROOT / app):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or relative.parts[:2] == ("portal", "demo"):
                continue
            yield relative


def _function_local_imports(tree: ast.AST):
    """(line, imported module) of every import of our own code inside a function."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom):
                name = "." * inner.level + (inner.module or "")
                if inner.level or name.split(".")[0] in APPS:
                    yield inner.lineno, name
            elif isinstance(inner, ast.Import):
                for alias in inner.names:
                    if alias.name.split(".")[0] in APPS:
                        yield inner.lineno, alias.name


def _is_task_pair(module: Path, imported: str) -> bool:
    """A service queues its task and the task calls its service: the one cycle a module may close in a function
    (Celery's tasks are imported by the worker at start-up, and their services by the web process)."""
    return module.name == "tasks.py" or imported.rsplit(".", 1)[-1] == "tasks"


def test_no_function_local_import_hides_a_cycle():
    found = [
        f"{module}:{line} imports {imported}"
        for module in _modules()
        for line, imported in _function_local_imports(codebase.tree(ROOT / module))
        if not _is_task_pair(module, imported)
    ]
    assert found == []


def test_the_function_local_import_check_finds_one():
    tree = ast.parse("def f():\n    from claims.services import claim_submit\n    from .validation import x\n")
    assert list(_function_local_imports(tree)) == [(2, "claims.services"), (3, ".validation")]
