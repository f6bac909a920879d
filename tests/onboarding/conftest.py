import pytest


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """`with commits(): ...`: what runs inside is committed as far as its on-commit work goes (the e-mails)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
