"""The suite's garbage collector (conftest.py): what was collected is set aside, the young generation is large."""

import gc

import conftest as root_conftest


def test_the_collected_tests_and_django_are_frozen_and_the_thresholds_set():
    assert gc.get_freeze_count() > 100_000  # Django, the portal and the collected tests
    assert gc.get_threshold() == root_conftest.GC_THRESHOLDS
