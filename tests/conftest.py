"""Test-only switches live here, not in a second copy of the settings."""

import pytest
from django.db import connection

from tests.factories import MemberFactory, OrganizationFactory


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # django-q2 runs tasks in the calling process: real task code, no cluster needed.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    # django-q2 reads Q_CLUSTER once, when django_q.conf is imported; set what it actually reads.
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Webhook tests post to a real HTTP server on 127.0.0.1.
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RUN_LOCK_DIR = tmp_path / "locks"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "backups")},
        },
    }


@pytest.fixture
def on_postgres():
    """Marks a test that exercises a PostgreSQL-only path; skipped, with a reason, on SQLite."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "PostgreSQL-only path (COPY, EXPLAIN, GIN, advisory locks); runs in the PostgreSQL pass"
        )


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Jobs are queued when the transaction commits; a test's transaction never does. Inside
    `with run_on_commit():` the queued jobs run (django-q2 in sync mode) as the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def tenants(db):
    """Two organisations with one member of each role; `outsider` belongs to the second."""

    class Tenants:
        owner_org = OrganizationFactory(slug="owner-org", name="Owner Org")
        other_org = OrganizationFactory(slug="other-org", name="Other Org")
        admin = MemberFactory(organization=owner_org, role="admin").user
        manager = MemberFactory(organization=owner_org, role="manager").user
        member = MemberFactory(organization=owner_org, role="user").user
        viewer = MemberFactory(organization=owner_org, role="viewer").user
        outsider = MemberFactory(organization=other_org, role="admin").user

    return Tenants


BLOCKER_TEXT = "a file where the backups folder should be"


@pytest.fixture
def backups_storage(settings, tmp_path):
    """Switches the backups storage between its working folder and one that cannot be written
    (a file stands where the folder should be), so a backup fails for real."""
    working = settings.STORAGES["backups"]
    blocker = tmp_path / "not-a-directory"
    blocker.write_text(BLOCKER_TEXT)
    broken = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(blocker)},
    }

    def use(*, writable: bool):
        settings.STORAGES = {**settings.STORAGES, "backups": working if writable else broken}
        return blocker

    return use
