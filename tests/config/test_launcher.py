"""`make run`'s launcher (config/launcher.py): a real web server and a real django-q2 cluster,
started on a migrated SQLite file and stopped by a signal."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
# Start-up waits for a real server on a machine that may be busy; stopping has its own bound.
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 45

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="the launcher runs on its own SQLite file whatever the test database is; the SQLite "
    "pass runs it",
)


def _environment(database: Path) -> dict:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "true"}


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    database = tmp_path_factory.mktemp("launcher") / "migrated.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=_environment(database),
        check=True,
        timeout=300,
    )
    return database


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def _wait_for_login_page(url: str, launcher: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert launcher.poll() is None, "the launcher ended before serving"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer 200 within {START_TIMEOUT_SECONDS} s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_launcher_serves_then_stops_both_processes_cleanly_on_a_signal(
    migrated_database, tmp_path, stop_signal
):
    database = tmp_path / "db.sqlite3"
    shutil.copy(migrated_database, database)
    port = _free_port()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.launcher", f"127.0.0.1:{port}"],
        cwd=BASE_DIR,
        env=_environment(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_login_page(f"http://127.0.0.1:{port}/admin/login/", launcher)
        children = _children_of(launcher.pid)
        launcher.send_signal(stop_signal)
        output, _ = launcher.communicate(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()

    assert "Traceback" not in output, output
    assert launcher.returncode == 0, output
    assert "Stopped." in output
    # The web server and the cluster each led a process group (the server with its
    # autoreloader's child, the cluster with its sentinel and workers): all of them are gone.
    assert len(children) == 2
    assert not [pgid for pgid in children if _group_alive(pgid)], output
