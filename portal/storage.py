"""Where uploaded files live: under MEDIA_ROOT/private, outside the web root, served only through views."""

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage


def private_storage() -> FileSystemStorage:
    # A callable, so that each settings module (tests, production) decides the location.
    return FileSystemStorage(location=Path(settings.MEDIA_ROOT) / "private", base_url=None)
