"""Rejected rows: where they go while the pipeline runs, and the CSV report users download.

The preview spools its report to a temporary file (it is never resumed). A real run stores each
batch's rejected rows in the batch's own transaction (`StoredRejectedRows`), so a resumed run
appends after the last committed batch without losing or repeating a row; the CSV is built from
them, streaming, when the run ends.
"""

import csv
import io
import re
import tempfile

from django.core.files import File

from properties.limits import storable_text
from properties.resources import neutralise_formula

from ..models import ImportJob, ImportRejectedRow
from ..readers import RawRow

SAMPLE_SIZE = 5


def _cells(headers: list[str], values: list) -> list:
    # The reader sizes rows to the header (a surplus goes into the error message).
    cells = [
        "" if value is None else storable_text(value) if isinstance(value, str) else value
        for value in values[: len(headers)]
    ]
    return cells + [""] * (len(headers) - len(cells))


class RejectedRowsReport:
    """The rejected rows as CSV: the file's own columns, then the row number, the errors and
    the warnings. Rows kept with a warning are in it too, their errors empty, so the file
    shows everything the rules found.

    Spooled to a temporary file, so a file with many rejected rows does not sit in memory."""

    def __init__(self, headers: list[str]):
        self.headers = list(headers)
        self.count = 0
        self.samples: list[dict] = []
        self.warning_samples: list[dict] = []
        # Owned by the report and closed by close(), after the file is saved to storage.
        self._buffer = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+b")  # noqa: SIM115
        # BOM so that spreadsheet programs open accented suburbs correctly.
        self._text = io.TextIOWrapper(self._buffer, encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow([*self.headers, "row", "errors", "warnings"])

    def add(self, raw: RawRow, errors: list[str]):
        self.write(raw.number, raw.values, errors)

    def add_warning(self, raw: RawRow, warnings: list[str]):
        self.write(raw.number, raw.values, [], warnings)

    def write(self, number: int, values: list, errors: list[str], warnings: list[str] = ()):
        if errors:
            self.count += 1
        cells = [_spreadsheet_safe(cell) for cell in _cells(self.headers, values)]
        self._csv.writerow([*cells, number, "; ".join(errors), "; ".join(warnings)])
        _keep_sample(self.samples if errors else self.warning_samples, number, errors, warnings)

    def flush(self):
        """Nothing to do per batch: the spooled file is saved once, at the end."""

    def file(self) -> File:
        self._text.flush()
        self._buffer.seek(0)
        return File(self._buffer)

    def close(self):
        self._text.close()


class StoredRejectedRows:
    """A real run's rejected rows, written with each batch (flush() runs in its transaction)."""

    def __init__(self, job: ImportJob, *, already: int = 0):
        self.job = job
        self.count = already
        self.samples: list[dict] = []
        self.warning_samples: list[dict] = []
        self._pending: list[ImportRejectedRow] = []

    def add(self, raw: RawRow, errors: list[str]):
        self.count += 1
        self._store(raw, errors, [])
        _keep_sample(self.samples, raw.number, errors, [])

    def add_warning(self, raw: RawRow, warnings: list[str]):
        self._store(raw, [], warnings)
        _keep_sample(self.warning_samples, raw.number, [], warnings)

    def _store(self, raw: RawRow, errors: list[str], warnings: list[str]):
        values = [value if value is None else storable_text(str(value)) for value in raw.values]
        self._pending.append(
            ImportRejectedRow(
                job=self.job, number=raw.number, values=values, errors=errors, warnings=warnings
            )
        )

    def flush(self):
        if self._pending:
            ImportRejectedRow.objects.bulk_create(self._pending)
        self._pending = []

    def discard(self):
        """The batch rolled back: its rejected rows were never stored."""
        self.count -= sum(1 for row in self._pending if row.errors)
        self._pending = []


def rejected_report_save(*, job: ImportJob, headers: list[str]) -> None:
    """Build the job's downloadable CSV from its stored rejected rows, streaming."""
    if job.rejected_file:
        job.rejected_file.delete(save=False)
    rows = ImportRejectedRow.objects.filter(job=job).order_by("id")
    if not rows.exists():
        return
    report = RejectedRowsReport(headers)
    try:
        stored = rows.values_list("number", "values", "errors", "warnings")
        for number, values, errors, warnings in stored.iterator(chunk_size=2000):
            report.write(number, values, errors, warnings)
        job.rejected_file.save(f"import-{job.pk}-rejected.csv", report.file(), save=False)
    finally:
        report.close()


def _keep_sample(samples: list, number: int, errors: list[str], warnings: list[str]):
    if len(samples) < SAMPLE_SIZE:
        samples.append({"row": number, "errors": errors, "warnings": list(warnings)})


_PLAIN_NUMBER = re.compile(r"\s*[+-]?[\d.,]+(?:[eE][+-]?\d+)?\s*")


def _spreadsheet_safe(cell):
    """Uploaded text that a spreadsheet would run as a formula gets a leading apostrophe; a
    plain number such as a negative latitude stays as it was, so the file re-imports."""
    if isinstance(cell, str) and not _PLAIN_NUMBER.fullmatch(cell):
        return neutralise_formula(cell)
    return cell
