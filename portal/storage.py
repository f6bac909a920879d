"""Where uploaded and generated files live: never under the web root, served only through views.

By default on the local file system under MEDIA_ROOT/private (one machine, or a volume every web and worker machine
mounts). With TANDPORTAL_FILE_STORAGE=s3 in an S3-compatible object store (AWS S3, MinIO, Ceph, a region's own
store; django-storages), under `private/` in a private bucket, so that several web and worker machines share the
files without a shared disk.
"""

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage

FILE_STORAGE_LOCAL = "local"
FILE_STORAGE_S3 = "s3"


def private_storage() -> Storage:
    # A callable, so that each settings module (tests, production) decides the location, and migrations name the
    # callable, not the place.
    if settings.FILE_STORAGE == FILE_STORAGE_S3:
        from storages.backends.s3 import S3Storage

        # Private objects, never overwritten (a second file of the same name gets a name of its own), and no
        # public URL: the views stream them after their access checks.
        return S3Storage(location="private", default_acl=None, file_overwrite=False, querystring_auth=True)
    return FileSystemStorage(location=Path(settings.MEDIA_ROOT) / "private", base_url=None)
