"""The demo's example invoice files are dated relative to today and have claims the demo clinic can send."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from billing.invoice_file_examples import EXAMPLES, invoice_file_example
from billing.invoice_file_services import invoice_file_check, invoice_file_start


def _checked(world, content: str):
    started = invoice_file_start(
        actor=world.biller, clinic=world.clinic31, uploaded=SimpleUploadedFile("exempel.xml", content.encode())
    )
    return invoice_file_check(upload=started.upload)


def test_the_documented_example_passes_whole_at_the_demo_clinic(world):
    upload = _checked(world, invoice_file_example())

    assert list(upload.faults.values_list("claim_reference", "message")) == []
    assert (upload.claim_count, upload.correct_count) == (2, 2)


def test_the_file_with_faults_has_a_correct_claim_at_the_demo_clinic(world):
    upload = _checked(world, invoice_file_example(EXAMPLES / "mixed-faults-v1.xml"))

    assert upload.correct_count >= 1
    assert "981001" not in set(upload.faults.values_list("claim_reference", flat=True))


def test_load_demo_writes_the_examples_dated_today(world, tmp_path, capsys):
    call_command("load_demo", invoice_files=tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(path.name for path in EXAMPLES.glob("*.xml"))
    written = (tmp_path / "example-v1.xml").read_text(encoding="utf-8")
    assert written == invoice_file_example() and timezone.localdate().isoformat() in written
    assert str(tmp_path) in capsys.readouterr().out
