from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from imports.services import property_export
from properties.models import Project
from properties.selectors import property_list


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
        project = Project.objects.select_related("organization").filter(pk=options["project"])
        project = project.first()
        if project is None:
            raise CommandError(f"No project with id {options['project']}.")
        file_format = options["format"]
        if file_format == "xlsx" and not options["output"]:
            raise CommandError("XLSX is binary: give an output file with -o PATH.")
        try:
            data = property_export(
                organization=project.organization, project=project, file_format=file_format
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        rows = property_list(organization=project.organization, project=project).count()
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
