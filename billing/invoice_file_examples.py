"""The example invoice files of fixtures/invoice-files/, written relative to today.

A file there is kept as it was written on one day: its `Skapad` date. Handed out (the documentation page's example,
`make run`'s demo files) every date in it moves by as many days as have passed since, so the visits stay inside
the billing deadline and the cards stay valid; an FHB number names the first FHB of this year, which in the demo is
the demo's approved prior assessment of patient 200001022383 at clinic 31.
"""

import datetime
import re
from pathlib import Path

from django.conf import settings
from django.utils import timezone

EXAMPLES = Path(settings.BASE_DIR) / "fixtures" / "invoice-files"
EXAMPLE = EXAMPLES / "example-v1.xml"

_CREATED = re.compile(r"<Skapad>(\d{4}-\d{2}-\d{2})")
_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")
_FHB_YEAR = re.compile(r"\bFHB-\d{4}-")


def invoice_file_example(path: Path = EXAMPLE, *, today: datetime.date | None = None) -> str:
    """The file's text with its dates moved to today (its `Skapad` day becomes today)."""
    today = today or timezone.localdate()
    text = path.read_text(encoding="utf-8")
    written = _CREATED.search(text)
    if written is None:
        raise ValueError(f"{path.name} has no Skapad date to count from")
    shift = today - datetime.date.fromisoformat(written.group(1))

    def moved(match: re.Match) -> str:
        return (datetime.date.fromisoformat(match.group(1)) + shift).isoformat()

    return _FHB_YEAR.sub(f"FHB-{today.year}-", _DATE.sub(moved, text))


def invoice_file_examples_write(directory: Path, *, today: datetime.date | None = None) -> list[Path]:
    """Every example written relative to today into `directory` (the demo's files to upload)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(EXAMPLES.glob("*.xml")):
        target = directory / path.name
        target.write_text(invoice_file_example(path, today=today), encoding="utf-8")
        written.append(target)
    return written
