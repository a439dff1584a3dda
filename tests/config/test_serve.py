"""`make serve`'s supervisor (python -m config.serve): gunicorn with whitenoise and a task cluster
under DEBUG=false serve the admin and its static files over plain HTTP when
SECURE_SSL_REDIRECT=false, and stop cleanly on SIGTERM and Ctrl-C (SIGINT)."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.config.helpers import ROOT, child_database_url, free_port, production_env

START_TIMEOUT = 120


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _wait_until_serving(process, base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if _get(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not start")


@pytest.fixture
def served(db, tmp_path):
    port = free_port()
    env = production_env(
        tmp_path,
        DATABASE_URL=child_database_url(tmp_path),
        HOST=f"127.0.0.1:{port}",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        WEB_CONCURRENCY="1",
        Q_WORKERS="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "config.serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(process, base)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process, signum) -> str:
    process.send_signal(signum)
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    return output


def _processes_with(marker: str) -> list[int]:
    """Processes of this user whose environment holds `marker` (the server's own HOST)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone, or another user's
            continue
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_serve_serves_the_admin_and_static_files_then_stops_cleanly_on_sigterm(served):
    # SIGINT (Ctrl-C) takes the same path: one handler stops both children.
    process, base = served
    pids = _processes_with(f"HOST={base[len('http://') :]}")
    assert len(pids) >= 3  # itself, web, cluster
    # The cluster runs at a lower CPU priority than the web server (TASK_CLUSTER_NICE, 10).
    own = os.getpriority(os.PRIO_PROCESS, 0)
    nice_of = {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in pids if _command_line(pid)}
    cluster = [nice_of[pid] for pid in nice_of if "qcluster" in _command_line(pid)]
    web = [nice_of[pid] for pid in nice_of if "gunicorn" in _command_line(pid)]
    assert cluster and web
    assert set(web) == {own} and min(cluster) == min(19, own + 10)
    status, body, headers = _get(f"{base}/admin/login/")
    assert status == 200
    assert "Content-Security-Policy" in headers
    # Hashed names from collectstatic's manifest, served by whitenoise with long caching.
    stylesheet = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', body).group(1)
    status, css, headers = _get(base + stylesheet.decode())
    assert status == 200 and b"body" in css
    assert "max-age=315360000" in headers["Cache-Control"]
    # No login, no page: an anonymous visitor is sent to the login form.
    status, _, _ = _get(f"{base}/admin/properties/property/")
    assert status == 200  # urllib followed the redirect to the login page
    assert _get(f"{base}/readyz")[0] == 200
    output = _stop(process, signal.SIGTERM)
    assert "Shutting down: Master" in output  # gunicorn stopped in order
    assert _processes_with(f"HOST={base[len('http://') :]}") == []
