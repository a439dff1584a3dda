import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "DEBUG"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is off."),
        ({"DATABASE_URL": "mysql-ish://nowhere"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mongodb://localhost/db"}, "DATABASE_URL must point to PostgreSQL"),
    ],
)
def test_misconfiguration_stops_startup_with_one_clear_line(overrides, message):
    result = _start(overrides)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error:")
    assert message in lines[0]


def test_production_mode_starts_with_secret_key(tmp_path):
    result = _start(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "ALLOWED_HOSTS": "example.com",
        }
    )
    assert result.returncode == 0, result.stderr


def test_redis_url_switches_the_task_broker(tmp_path):
    env = {
        "REDIS_URL": "redis://127.0.0.1:6379/5",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    code = (
        "from django.conf import settings; "
        "print(settings.Q_CLUSTER.get('redis'), 'orm' in settings.Q_CLUSTER)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip().endswith("redis://127.0.0.1:6379/5 False"), result.stderr


def test_sqlite_connections_use_write_ahead_logging_and_normal_sync(tmp_path):
    # Reads of the web process and an import's writes do not block each other, and a commit
    # does not wait for the disk (synchronous=NORMAL is 1).
    code = (
        "from django.db import connection; cursor = connection.cursor(); "
        "print(cursor.execute('PRAGMA journal_mode').fetchone()[0], "
        "cursor.execute('PRAGMA synchronous').fetchone()[0])"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip().endswith("wal 1"), result.stderr
