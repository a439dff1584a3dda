import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the development superuser once and print its credentials."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        credentials = settings.BASE_DIR / ".superuser"
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            credentials.write_text(f"{username}\n{password}\n")
            credentials.chmod(0o600)
        elif credentials.exists():
            password = credentials.read_text().split()[1]
        else:
            password = "(unchanged; set it with `manage.py changepassword admin`)"
        self.stdout.write(f"superuser username={username} password={password}")
