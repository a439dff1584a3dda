"""Jobs that failed part-way before runs recorded `options.resume_point` get one, so they keep
their Resume button: the rows of their committed batches, which their summary names."""

from django.db import migrations

STOPPED = "The import stopped after row"


def set_resume_points(apps, schema_editor):
    ImportJob = apps.get_model("imports", "ImportJob")
    stopped = ImportJob.objects.filter(
        status="failed", last_committed_row__gt=0, error_summary__startswith=STOPPED
    )
    for job in stopped.iterator():
        if not job.options.get("resume_point"):
            job.options = {**job.options, "resume_point": job.last_committed_row}
            job.save(update_fields=["options"])


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0004_rule_warnings"),
    ]

    # Backwards there is nothing to undo: the runs since record the same resume point.
    operations = [migrations.RunPython(set_resume_points, migrations.RunPython.noop)]
