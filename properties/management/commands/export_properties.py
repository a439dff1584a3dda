from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from properties.exports import property_export
from properties.models import Project
from properties.selectors import project_get, property_list


class Command(BaseCommand):
    help = (
        "Export a project's properties as CSV / XLSX / JSON (formulas neutralised). Writes to "
        "PATH with -o, else to standard output with the summary line on standard error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True, metavar="PROJECT_ID")
        parser.add_argument("--format", choices=("csv", "xlsx", "json"), default="csv")
        parser.add_argument("-o", "--output", metavar="PATH")

    def handle(self, *args, **options):
        # The operator's command: the system scope (actor=None).
        try:
            project = project_get(actor=None, project_id=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"No project with id {options['project']}.") from None
        file_format = options["format"]
        if file_format == "xlsx" and not options["output"]:
            raise CommandError("XLSX is binary: give an output file with -o PATH.")
        try:
            data = property_export(actor=None, project=project, file_format=file_format)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        rows = property_list(actor=None, project=project).count()
        if options["output"]:
            path = Path(options["output"])
            if isinstance(data, str):
                path.write_text(data, encoding="utf-8")
            else:
                path.write_bytes(data)
            summary = self.stdout
            target = str(path)
        else:
            self.stdout.write(data, ending="")
            summary = self.stderr
            target = "-"
        summary.write(
            f"export project={project.pk} format={file_format} rows={rows} "
            f"bytes={len(data.encode() if isinstance(data, str) else data)} output={target}"
        )
