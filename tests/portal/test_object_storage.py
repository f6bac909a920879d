"""Uploads in S3-compatible object storage (TANDPORTAL_FILE_STORAGE=s3, portal/storage.py), against moto's S3 in
the test's own process: an invoice file uploaded through the page is stored in the bucket, checked from there by
the task and sent; the default stays the local file system."""

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from moto import mock_aws

from claims.models import InvoiceFileUpload
from eligibility.models import CertificateImport, PriorAssessmentAttachment
from portal import storage
from tests.billing.test_invoice_file_flow import _upload_url, mixed_file

BUCKET = "tandportal-test-files"
FILE_FIELDS = [
    (InvoiceFileUpload, "file"),
    (PriorAssessmentAttachment, "file"),
    (CertificateImport, "file"),
]


@pytest.fixture
def s3(settings, monkeypatch):
    """moto's S3 with the portal's bucket, the settings of TANDPORTAL_FILE_STORAGE=s3, and the models' file fields
    on the storage private_storage() now gives (a field asks its callable once, when the model is defined)."""
    with mock_aws():
        settings.FILE_STORAGE = storage.FILE_STORAGE_S3
        settings.AWS_STORAGE_BUCKET_NAME = BUCKET
        settings.AWS_S3_REGION_NAME = "eu-north-1"
        settings.AWS_ACCESS_KEY_ID = "testing"
        settings.AWS_SECRET_ACCESS_KEY = "testing"
        client = boto3.client("s3", region_name="eu-north-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        for model, name in FILE_FIELDS:
            monkeypatch.setattr(model._meta.get_field(name), "storage", storage.private_storage())
        yield client


def keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_the_default_is_the_local_file_system_outside_the_web_root(settings):
    assert settings.FILE_STORAGE == "local"
    chosen = storage.private_storage()
    assert isinstance(chosen, FileSystemStorage)
    assert chosen.location.endswith("/private")


def test_s3_storage_keeps_files_private_and_never_overwrites(s3):
    chosen = storage.private_storage()
    first = chosen.save("invoice-files/a.xml", ContentFile(b"<one/>"))
    second = chosen.save("invoice-files/a.xml", ContentFile(b"<two/>"))

    assert first != second  # a second file of the same name gets a name of its own
    assert sorted(keys(s3)) == sorted([f"private/{first}", f"private/{second}"])
    with chosen.open(first) as stored:
        assert stored.read() == b"<one/>"
    grants = s3.get_object_acl(Bucket=BUCKET, Key=f"private/{first}")["Grants"]
    assert all("AllUsers" not in str(grant.get("Grantee")) for grant in grants)


def test_an_invoice_file_is_uploaded_to_the_bucket_checked_from_it_and_sent(
    s3, client, world, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    client.force_login(world.biller)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _upload_url(world), {"file": SimpleUploadedFile("faktura.xml", mixed_file(), content_type="text/xml")}
        )
    assert response.status_code == 302

    upload = InvoiceFileUpload.objects.get()
    assert (upload.state, upload.claim_count, upload.faulty_count) == ("checked", 3, 1)  # read back from S3
    assert keys(s3) == [f"private/{upload.file.name}"]
    assert s3.get_object(Bucket=BUCKET, Key=f"private/{upload.file.name}")["Body"].read() == mixed_file()
    send = reverse("invoice_file_send", kwargs={"clinic_pk": world.clinic31.pk, "upload_pk": upload.pk})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(send)
    upload.refresh_from_db()
    assert upload.state == "sent"


@pytest.mark.slow  # production Python processes (tests/test_deployment.py's run_python): make test and CI run it
def test_s3_needs_its_bucket(tmp_path):
    from tests.test_deployment import run_python, valid_production_env

    env = {**valid_production_env(), "TANDPORTAL_FILE_STORAGE": "s3"}
    missing = run_python("import django\ndjango.setup()\n", env)
    assert missing.returncode != 0 and "AWS_STORAGE_BUCKET_NAME" in missing.stderr
    code = (
        "import django\ndjango.setup()\nfrom portal.storage import private_storage\n"
        "print(type(private_storage()).__name__)"
    )
    chosen = run_python(code, {**env, "AWS_STORAGE_BUCKET_NAME": BUCKET})
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == "S3Storage"
    wrong = run_python("import django\ndjango.setup()\n", {**env, "TANDPORTAL_FILE_STORAGE": "nfs"})
    assert wrong.returncode != 0 and "TANDPORTAL_FILE_STORAGE" in wrong.stderr
