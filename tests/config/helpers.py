"""Starting the project in a child process with a production environment."""

import os
import secrets
import socket
import sqlite3
import string
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables of the developer's shell that would change what a child process configures.
INHERITED_OUT = {
    "DATABASE_URL",
    "DEBUG",
    "REDIS_URL",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "BACKUP_STORAGE",
    "MEDIA_STORAGE",
    "BACKUP_REPLICA_STORAGE",
}


def secret_key() -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(50))


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in INHERITED_OUT}
    env.update(
        DEBUG="false",
        SECRET_KEY=secret_key(),
        ALLOWED_HOSTS="example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        BACKUP_ROOT=str(tmp_path / "backups"),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_database_url(tmp_path: Path) -> str:
    """A DATABASE_URL for a child process holding the migrated test schema, so the child's
    `migrate` has nothing to do (a fresh database takes most of a minute on this machine).

    PostgreSQL: the test database itself, which the child sees as committed (migrations, no
    test rows). SQLite: the in-memory test database cannot be shared, so a file copy of it.
    """
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        target = tmp_path / "db.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(target) as copy:
            connection.connection.backup(copy)
        copy.close()
        return f"sqlite:///{target}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
