from django.core.management.base import BaseCommand, CommandError

from health import checks


class Command(BaseCommand):
    help = "Prints readiness (database, broker, storage, migrations) and the task queue's state."

    def handle(self, *args, **options):
        answers = checks.readiness()
        ready = all(answer == "ok" for answer in answers.values())
        fields = [f"{name}={_value(answer)}" for name, answer in answers.items()]
        if ready:
            depth, oldest_age = checks.queue_state()
            fields.append(f"queue_depth={depth}")
            age = "none" if oldest_age is None else str(int(oldest_age.total_seconds()))
            fields.append(f"oldest_task_age_s={age}")
        line = "status ready={} {}".format("yes" if ready else "no", " ".join(fields))
        if not ready:
            raise CommandError(line)
        self.stdout.write(line)


def _value(answer: str) -> str:
    # key=value pairs stay one token each.
    return answer.replace(" ", "_")
