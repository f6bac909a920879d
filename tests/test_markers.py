"""The markers `make test-fast` selects by: every browser test is `browser`, every test with a real worker `slow`."""

import re
import subprocess
import sys
from pathlib import Path

import hypothesis
import pytest

from tests import conftest as tests_conftest
from tests.browser import conftest as browser_conftest

ROOT = Path(__file__).resolve().parent.parent
FAST = "not browser and not slow"  # the Makefile's test-fast selection


class FakeItem:
    def __init__(self, path: Path, fixturenames=()):
        self.path = path
        self.fixturenames = list(fixturenames)
        self.markers = []

    def add_marker(self, marker):
        self.markers.append(marker.name)

    def get_closest_marker(self, name):
        return name if name in self.markers else None


def test_a_test_in_the_browser_folder_is_marked_browser_without_a_decorator():
    inside = FakeItem(ROOT / "tests" / "browser" / "test_new.py")
    outside = FakeItem(ROOT / "tests" / "claims" / "test_validation.py")
    browser_conftest.pytest_collection_modifyitems(None, [inside, outside])
    assert (inside.markers, outside.markers) == (["browser"], [])


def test_a_test_with_a_real_worker_is_marked_slow():
    with_worker = FakeItem(ROOT / "tests" / "test_x.py", ["db", "celery_worker"])
    without = FakeItem(ROOT / "tests" / "test_x.py", ["db", "celery_queue"])
    tests_conftest.pytest_collection_modifyitems(None, [with_worker, without])
    assert (with_worker.markers, without.markers) == (["slow"], [])


@pytest.mark.slow  # collects in a new pytest process
def test_the_fast_selection_leaves_out_browser_worker_and_make_run_tests():
    paths = [
        "tests/browser",
        "tests/test_worker.py",
        "tests/billing/test_invoice_file_worker_kill.py",
        "tests/test_devservices.py",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", FAST, *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    selected = [line for line in result.stdout.splitlines() if "::" in line]
    # Only make run's quick tests with fake processes stay; the real `make run` goes.
    assert selected and all(test.startswith("tests/test_devservices.py::test_serve_") for test in selected)
    assert "tests/test_devservices.py::test_serve_starts_everything_and_ctrl_c_stops_everything" not in selected
    assert re.search(r"\(\d+ deselected\)", result.stdout)  # the browser and worker tests, which exist


def test_property_tests_draw_200_examples_and_make_test_fast_10():
    assert hypothesis.settings.get_profile("default").max_examples == 200
    assert hypothesis.settings.get_profile("fast").max_examples == 10
    makefile = (ROOT / "Makefile").read_text()
    fast_target = makefile.split("\ntest-fast:", 1)[1].split("\n\n", 1)[0]
    assert f'-m "{FAST}"' in fast_target and "--hypothesis-profile=fast" in fast_target
    # Only the browser folder is left out uncollected, whose every test the selection leaves out anyway.
    assert re.findall(r"--ignore=(\S+)", fast_target) == ["tests/browser"]
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "hypothesis-profile" not in test_target
