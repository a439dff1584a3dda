"""Load held: 20 managers of one organisation of N properties, on gunicorn and PostgreSQL, while
an import and a backup of other organisations run.

Usage: python bench/bench_load.py [N]   (N defaults to 1,000,000; DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/property_bench_load)

Environment (all optional): LOAD_USERS (20), LOAD_THINK_SECONDS (mean pause between one
manager's requests, 1.0), LOAD_MAX_SECONDS (cap on the measured phase, 600), IMPORT_ROWS
(rows of the concurrent CSV import, 200,000), BACKUP_ROWS (properties of the organisation
backed up, 200,000), WEB_CONCURRENCY (gunicorn workers, config/gunicorn.py's default),
LOAD_JOBS_NICE (niceness of the concurrent import and backup processes; default 10, what
`make serve` gives its task cluster (TASK_CLUSTER_NICE); 0: the web workers' priority).

Steps: create and migrate the scratch database; seed the load organisation with N properties
and the backed-up one with BACKUP_ROWS through bench_changelist's generator; create the
managers; collect static files; start gunicorn from config/gunicorn.py on a free loopback
port with DEBUG off and plain-HTTP cookies; log every manager in once through the admin's
login form (CSRF token included); time each request kind alone (one manager, one request at
a time: the service time without queueing); then start `import_properties` (into a third
organisation) and `backup_org` as subprocesses and let the managers browse until both have
finished, or LOAD_MAX_SECONDS have passed. Only 127.0.0.1 is contacted. Prints those medians, then
per-endpoint count, errors, p50/p95/p99 and overall, what ran concurrently and for how long,
and the load average.
"""

import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/property_bench_load")

import requests  # noqa: E402
from bench_changelist import ensure_database, seed_properties  # noqa: E402
from bench_imports_large import write_csv  # noqa: E402

USERS = int(os.environ.get("LOAD_USERS", "20"))
THINK_SECONDS = float(os.environ.get("LOAD_THINK_SECONDS", "1.0"))
MAX_SECONDS = float(os.environ.get("LOAD_MAX_SECONDS", "600"))
IMPORT_ROWS = int(os.environ.get("IMPORT_ROWS", "200000"))
BACKUP_ROWS = int(os.environ.get("BACKUP_ROWS", "200000"))
# The niceness `make serve` gives its task cluster (config/serve.py), unless LOAD_JOBS_NICE says.
JOBS_NICE = int(os.environ.get("LOAD_JOBS_NICE", os.environ.get("TASK_CLUSTER_NICE", "10")))
TARGET_P95_MS = 500
PASSWORD = "load-" + secrets.token_hex(8)
CHANGELIST = "/admin/properties/property/"
SUBURBS = ["richmond", "fitzroy", "brunswick", "abbotsford"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(port: int, static_root: str) -> dict:
    """Production settings, except that plain HTTP on loopback must work."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(38)[:50],
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HOST": f"127.0.0.1:{port}",
        "STATIC_ROOT": static_root,
        "GUNICORN_LOG_LEVEL": "warning",
    }


def prepare(count: int) -> dict:
    """The database, the three organisations and the managers; returns what the load needs."""
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from axes.models import AccessAttempt
    from django.core.management import call_command
    from django.db import connection

    from organizations.models import Organization
    from organizations.services import member_create
    from properties.models import Project, Property

    call_command("migrate", verbosity=0)
    orgs = {}
    for slug in ("load", "load-backup", "load-import"):
        orgs[slug], _ = Organization.objects.get_or_create(slug=slug, defaults={"name": slug})
    projects = {
        slug: Project.objects.get_or_create(organization=org, name=f"{slug} project")[0]
        for slug, org in orgs.items()
    }
    # A second, small project so the project filter selects something less than everything.
    side = Project.objects.get_or_create(organization=orgs["load"], name="load side project")[0]
    seed_properties(projects["load"], count)
    seed_properties(side, 1000)
    seed_properties(projects["load-backup"], BACKUP_ROWS)
    # Each run imports into a fresh project, so every run writes IMPORT_ROWS new rows.
    import_project = Project.objects.create(
        organization=orgs["load-import"], name=f"import {time.strftime('%H%M%S')}"
    )
    managers = []
    for number in range(USERS):
        username = f"load-manager-{number}"
        profile = orgs["load"].profiles.filter(user__username=username).first()
        if profile is None:
            profile = member_create(
                organization=orgs["load"], username=username, password=PASSWORD, role="manager"
            )
        profile.user.set_password(PASSWORD)
        profile.user.save(update_fields=["password"])
        managers.append(username)
    importer = "load-import-manager"
    if not orgs["load-import"].profiles.filter(user__username=importer).exists():
        member_create(
            organization=orgs["load-import"], username=importer, password=None, role="manager"
        )
    # Failed attempts of an interrupted earlier run must not lock the managers out.
    AccessAttempt.objects.filter(username__startswith="load-").delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM properties_property TABLESAMPLE SYSTEM (1) "
            "WHERE organization_id = %s LIMIT 2000",
            [orgs["load"].pk],
        )
        property_ids = [row[0] for row in cursor.fetchall()]
    return {
        "managers": managers,
        "property_ids": property_ids,
        "project_ids": [projects["load"].pk, side.pk],
        "import_project": import_project.pk,
        "importer": importer,
        "properties": Property.objects.filter(organization=orgs["load"]).count(),
        "backup_properties": Property.objects.filter(organization=orgs["load-backup"]).count(),
    }


def pick_request(context: dict, rng: random.Random) -> tuple[str, str]:
    """One manager's next click: (endpoint name, path)."""
    pid = rng.choice(context["property_ids"])
    choices = [
        ("changelist", CHANGELIST),
        ("changelist_deep_page", f"{CHANGELIST}?p={rng.randint(2, 1000)}"),
        ("search_address", f"{CHANGELIST}?q={rng.randint(1, 99_999)}+chapel"),
        ("search_postcode", f"{CHANGELIST}?q={3000 + rng.randint(0, 199)}"),
        ("search_suburb", f"{CHANGELIST}?q={rng.choice(SUBURBS)}"),
        ("filter_state_zoning", f"{CHANGELIST}?state=VIC&zoning={rng.choice(['GRZ1', 'C1Z'])}"),
        ("filter_suburb", f"{CHANGELIST}?suburb={rng.choice(SUBURBS).title()}"),
        ("filter_value", f"{CHANGELIST}?value={rng.choice(['lt500k', '500k-1m', '1m-2m'])}"),
        ("filter_project", f"{CHANGELIST}?project__id__exact={rng.choice(context['project_ids'])}"),
        ("sort_value", f"{CHANGELIST}?o=-6"),
        ("property_page", f"{CHANGELIST}{pid}/change/"),
        ("property_history", f"{CHANGELIST}{pid}/history/"),
    ]
    return rng.choice(choices)


def log_in(base: str, username: str) -> requests.Session:
    """The admin's login form, as a browser submits it: GET for the CSRF cookie and token,
    then POST; a session cookie and the redirect to the admin index prove it worked."""
    session = requests.Session()
    page = session.get(f"{base}/admin/login/?next=/admin/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": PASSWORD,
            "next": "/admin/",
        },
        headers={"Referer": f"{base}/admin/login/"},
        allow_redirects=False,
        timeout=60,
    )
    if response.status_code != 302 or "sessionid" not in session.cookies:
        raise SystemExit(f"login of {username} failed: HTTP {response.status_code}")
    return session


@dataclass
class Sample:
    endpoint: str
    ms: float
    ok: bool


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample, failure: str = "") -> None:
        with self.lock:
            self.samples.append(sample)
            if failure and len(self.failures) < 10:
                self.failures.append(failure)


def manager_loop(base, session, context, stop: threading.Event, recorder, seed: int):
    rng = random.Random(seed)
    while not stop.is_set():
        endpoint, path = pick_request(context, rng)
        started = time.perf_counter()
        failure = ""
        try:
            response = session.get(base + path, allow_redirects=False, timeout=60)
            ok = response.status_code == 200
            if not ok:
                failure = f"{endpoint} {path} HTTP {response.status_code}"
        except requests.RequestException as exc:
            ok, failure = False, f"{endpoint} {path} {type(exc).__name__}"
        recorder.add(Sample(endpoint, (time.perf_counter() - started) * 1000, ok), failure)
        stop.wait(rng.uniform(0, 2 * THINK_SECONDS))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(recorder: Recorder, seconds: float) -> bool:
    by_endpoint: dict[str, list[Sample]] = {}
    for sample in recorder.samples:
        by_endpoint.setdefault(sample.endpoint, []).append(sample)
    rows = [*sorted(by_endpoint.items()), ("OVERALL", recorder.samples)]
    print(f"{'endpoint':<22} {'count':>6} {'errors':>6} {'p50_ms':>7} {'p95_ms':>7} {'p99_ms':>7}")
    for name, samples in rows:
        times = [s.ms for s in samples]
        print(
            f"{name:<22} {len(samples):>6} {sum(not s.ok for s in samples):>6} "
            f"{percentile(times, 0.5):>7.0f} {percentile(times, 0.95):>7.0f} "
            f"{percentile(times, 0.99):>7.0f}"
        )
    times = [s.ms for s in recorder.samples]
    errors = sum(not s.ok for s in recorder.samples)
    p95 = percentile(times, 0.95)
    print(
        f"requests={len(times)} seconds={seconds:.0f} rps={len(times) / seconds:.1f} "
        f"errors={errors} p95_ms={p95:.0f} target_p95_ms={TARGET_P95_MS} "
        f"met={'yes' if p95 < TARGET_P95_MS and not errors else 'NO'}"
    )
    for failure in recorder.failures:
        print(f"failure: {failure}")
    return p95 < TARGET_P95_MS and not errors


def background_jobs(context: dict, csv_path: Path, environment: dict) -> dict:
    manage = [*(["nice", "-n", str(JOBS_NICE)] if JOBS_NICE else []), sys.executable]
    manage.append(str(ROOT / "manage.py"))
    import_command = [
        *manage,
        "import_properties",
        str(csv_path),
        "--project",
        str(context["import_project"]),
        "--user",
        context["importer"],
    ]
    backup_command = [*manage, "backup_org", "load-backup", "--type", "full"]
    return {
        name: subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, command in (("import", import_command), ("backup", backup_command))
    }


def wait_until_serving(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            requests.get(f"{base}/admin/login/", timeout=30)
            return
        except requests.RequestException:  # not listening yet, or its workers still booting
            time.sleep(0.5)
    raise SystemExit("gunicorn did not answer within 120 s")


def service_times(base: str, session: requests.Session, context: dict) -> None:
    """Each request kind on its own, one at a time, before the load and the jobs start: what
    a request costs when it does not queue behind others (the machine's other work aside)."""
    rng = random.Random(0)
    paths: dict[str, list[str]] = {}
    while min((len(v) for v in paths.values()), default=0) < 5 or len(paths) < 12:
        endpoint, path = pick_request(context, rng)
        paths.setdefault(endpoint, []).append(path)
    for endpoint, chosen in sorted(paths.items()):
        times = []
        for path in chosen[:5]:
            started = time.perf_counter()
            session.get(base + path, allow_redirects=False, timeout=60)
            times.append((time.perf_counter() - started) * 1000)
        print(f"alone endpoint={endpoint} median_ms={sorted(times)[2]:.0f}")


def run_load(base: str, context: dict, csv_path: Path, environment: dict) -> bool:
    started = time.perf_counter()
    sessions = [log_in(base, username) for username in context["managers"]]
    print(f"logged_in={len(sessions)} via=login_form seconds={time.perf_counter() - started:.1f}")
    service_times(base, sessions[0], context)
    recorder, stop = Recorder(), threading.Event()
    load_started = time.perf_counter()
    jobs = background_jobs(context, csv_path, environment)
    threads = [
        threading.Thread(
            target=manager_loop, args=(base, s, context, stop, recorder, n), daemon=True
        )
        for n, s in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    finished: dict[str, float] = {}
    while len(finished) < len(jobs) and time.perf_counter() - load_started < MAX_SECONDS:
        for name, process in jobs.items():
            if name not in finished and process.poll() is not None:
                finished[name] = time.perf_counter() - load_started
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - load_started
    for name, process in jobs.items():
        if name not in finished:
            process.terminate()
        output = process.communicate()[0].strip().splitlines()
        status = f"seconds={finished[name]:.0f}" if name in finished else "stopped_at_cap"
        print(f"concurrent={name} exit={process.returncode} {status} {output[-1:] or ''}")
    print(f"load_average_after={' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return report(recorder, seconds)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(
        f"load_average_before={' '.join(f'{v:.2f}' for v in os.getloadavg())} cpus={os.cpu_count()}"
    )
    context = prepare(count)
    print(
        f"properties={context['properties']} managers={USERS} think_seconds_mean={THINK_SECONDS} "
        f"import_rows={IMPORT_ROWS} backup_properties={context['backup_properties']} "
        f"jobs_nice={JOBS_NICE}"
    )
    csv_path = write_csv(IMPORT_ROWS)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as static_root:
        environment = server_environment(port, static_root)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=environment,
            check=True,
        )
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.py")]
        # The access log (stdout) would bury the figures; errors (stderr) still show.
        server = subprocess.Popen(gunicorn, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
        try:
            wait_until_serving(base, server)
            print(f"server=gunicorn workers={os.environ.get('WEB_CONCURRENCY', '3')} url={base}")
            met = run_load(base, context, csv_path, environment)
        finally:
            server.terminate()
            server.wait(timeout=60)
            csv_path.unlink(missing_ok=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
