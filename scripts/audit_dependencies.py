"""pip-audit against the runtime lock (requirements.lock, what the image installs), for `make lint`.

Fails on any known vulnerability. Where no vulnerability data can be reached (no network, a mirror without
PyPI's JSON API), it says so on one clear line and does not fail: a lint run offline is not a security verdict,
and the line keeps anyone from reading it as one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
SKIPPED = "pip-audit: SKIPPED - no vulnerability data could be reached ({reason}); the runtime lock was NOT audited."


def command(lock: Path = LOCK) -> list[str]:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    return [
        str(pip_audit),
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--format",
        "json",
        "-r",
        str(lock),
    ]


def judge(returncode: int, stdout: str, stderr: str) -> tuple[int, list[str]]:
    """The exit code and the lines to print for one run of pip-audit with --format json."""
    try:
        report = json.loads(stdout)
        dependencies = report["dependencies"]
    except (ValueError, KeyError, TypeError):
        last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "no answer")
        if returncode != 0 and _unreachable(stderr):
            return 0, [SKIPPED.format(reason=last.strip()[:200])]
        return 1, [f"pip-audit failed (exit {returncode}): {last.strip()[:500]}"]
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    skipped = [dep for dep in dependencies if "skip_reason" in dep]
    if vulnerable:
        lines = [
            f"{dep['name']} {dep.get('version', '')}: {vuln['id']} (fixed in {_fixes(vuln)})"
            for dep in vulnerable
            for vuln in dep["vulns"]
        ]
        return 1, ["pip-audit: known vulnerabilities in requirements.lock:", *lines]
    if dependencies and not audited:
        return 0, [SKIPPED.format(reason=f"none of the {len(skipped)} pinned packages was found at the service")]
    lines = [f"pip-audit: no known vulnerabilities in the {len(audited)} audited packages of requirements.lock."]
    if skipped:
        names = ", ".join(dep["name"] for dep in skipped)
        lines.append(f"pip-audit: {len(skipped)} packages could not be audited: {names}")
    return 0, lines


def _fixes(vuln: dict) -> str:
    return ", ".join(vuln.get("fix_versions") or []) or "no release yet"


def _unreachable(stderr: str) -> bool:
    markers = (
        "ConnectionError",
        "Max retries exceeded",
        "NameResolution",
        "Temporary failure",
        "timed out",
        "SSLError",
    )
    return any(marker in stderr for marker in markers)


def main() -> int:
    try:
        run = subprocess.run(command(), capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        print(SKIPPED.format(reason="the service did not answer within 300 s"))
        return 0
    code, lines = judge(run.returncode, run.stdout, run.stderr)
    for line in lines:
        print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
