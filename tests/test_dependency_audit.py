"""`make lint` runs pip-audit against the runtime lock: it fails on a known vulnerability and, where no
vulnerability data can be reached, says so on one clear line instead of passing as if audited."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("audit_dependencies", ROOT / "scripts" / "audit_dependencies.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def _report(*dependencies) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def test_make_lint_audits_the_runtime_lock_without_resolving_it():
    assert "scripts/audit_dependencies.py" in (ROOT / "Makefile").read_text()
    command = audit.command()
    assert command[0].endswith("pip-audit")
    assert {"--no-deps", "--disable-pip", "-r"} <= set(command)
    assert command[command.index("-r") + 1] == str(ROOT / "requirements.lock")


def test_a_known_vulnerability_fails_the_lint_and_is_named():
    code, lines = audit.judge(
        1,
        _report(
            {"name": "django", "version": "5.2.0", "vulns": [{"id": "PYSEC-2025-1", "fix_versions": ["5.2.1"]}]},
            {"name": "lxml", "version": "6.0.0", "vulns": []},
        ),
        "",
    )
    assert code == 1
    assert "django 5.2.0: PYSEC-2025-1 (fixed in 5.2.1)" in lines


def test_a_clean_lock_passes():
    code, lines = audit.judge(0, _report({"name": "django", "version": "5.2.9", "vulns": []}), "")
    assert code == 0
    assert lines == ["pip-audit: no known vulnerabilities in the 1 audited packages of requirements.lock."]


def test_without_vulnerability_data_it_is_skipped_with_a_clear_line():
    nothing_found = _report(
        {"name": "django", "skip_reason": "Dependency not found on PyPI and could not be audited: django (5.2.9)"}
    )
    code, lines = audit.judge(0, nothing_found, "")
    assert code == 0
    assert lines[0].startswith("pip-audit: SKIPPED - no vulnerability data could be reached")
    assert "NOT audited" in lines[0]

    offline = "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org'): Max retries exceeded"
    code, lines = audit.judge(1, "", offline)
    assert code == 0
    assert lines[0].startswith("pip-audit: SKIPPED") and "pypi.org" in lines[0]


def test_any_other_failure_of_pip_audit_fails_the_lint():
    code, lines = audit.judge(2, "", "pip-audit: error: requirements.lock: no such file")
    assert code == 1
    assert "no such file" in lines[0]
