"""Sync speed: a CKAN datastore resource of N records served on 127.0.0.1, synced end to end
(HTTP, JSON, rules, hashing, writer, provenance), then synced again unchanged.

Usage: python bench/bench_sources.py [N] [--cold-portal]   (N defaults to 100,000;
DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/property_bench_sources)

The portal is the tests' CKAN Action API server (pytest-httpserver), with keyset paging and
the default 32,000-record pages, in a process of its own. A real portal is another machine:
so that its work (filtering, sorting and JSON-encoding 32,000 records a page in Python) does
not take the cores the sync runs on, it answers each request from a cache filled by one
untimed pass of the same requests before the steps. --cold-portal leaves the cache out (the
portal then encodes every page during the timed steps, on the same two cores).
Each step prints one key=value line, with the CPU seconds the step took in this process
(cpu_sync), in its forked validator (cpu_validator) and in its PostgreSQL backend
(cpu_postgres, when the server runs here), which the machine's load does not change as much as
the seconds:
  first     a new source into an empty project: every record created, with history
  unchanged the same resource again: every record hashed, counted unchanged, nothing written
  changed   1% of the records changed: those updated, the rest unchanged
"""

import os
import re
import resource
import sys
import time
from pathlib import Path

from _common import ensure_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/property_bench_sources")
os.environ.setdefault("SYNC_ALLOW_PRIVATE_HOSTS", "true")


def cached(handle):
    """The portal's handler, answering a request it has answered before from the bytes it sent
    then (the records do not change while this portal process lives)."""
    from werkzeug import Response

    answers = {}

    def handler(request):
        key = (request.path, request.get_data())
        if key not in answers:
            response = handle(request)
            if response.status_code != 200:
                return response
            answers[key] = (response.get_data(), response.content_type)
        body, content_type = answers[key]
        return Response(body, status=200, content_type=content_type)

    return handler


def serve(count: int, changed_every: int, ready, cold: bool) -> None:
    """The portal process: N records (every `changed_every`-th one revalued), until killed."""
    from pytest_httpserver import HTTPServer

    from tests.sources.portal import Portal, make_record

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    portal = Portal(url=server.url_for("").rstrip("/"), server=server)
    handler = portal.handle if cold else cached(portal.handle)
    server.expect_request(re.compile(".*")).respond_with_handler(handler)
    records = [make_record(n) for n in range(1, count + 1)]
    if changed_every:
        for index in range(0, count, changed_every):
            records[index] = make_record(index + 1, valuation=900_000 + index)
    portal.load(records)
    ready.put(portal.url)
    while True:
        time.sleep(3600)


def start_portal(count: int, changed_every: int = 0, cold: bool = False):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    ready = context.Queue()
    process = context.Process(target=serve, args=(count, changed_every, ready, cold), daemon=True)
    process.start()
    url = ready.get(timeout=300)
    if not cold:
        warm(url)
    return process, url


def warm(url: str) -> None:
    """One untimed pass of the requests a sync makes, so the portal has every answer."""
    from django.conf import settings

    from sources.ckan import CkanClient
    from tests.sources.portal import RESOURCE_ID

    client = CkanClient(url=url, resource_id=RESOURCE_ID)
    try:
        client.resource()
        for _ in client.pages(
            after_id=0, offset=0, page_size=settings.SYNC_PAGE_SIZE, strategy=None
        ):
            pass
    finally:
        client.close()


def cpu_seconds() -> tuple[float, float, float]:
    """CPU seconds so far of this process, of its reaped children (the forked validators), and
    of this connection's PostgreSQL backend when the server runs on this machine (else 0)."""
    from django.db import connection

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    backend = 0.0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return (
        own.ru_utime + own.ru_stime,
        children.ru_utime + children.ru_stime,
        backend,
    )


def main():
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    cold = "--cold-portal" in sys.argv
    count = int(args[0]) if args else 100_000
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from organizations.models import Organization
    from properties.models import Project, Property
    from sources import services
    from sources.models import DataSource
    from sources.services import source_create
    from tests.sources.portal import OVERRIDES, RESOURCE_ID

    call_command("migrate", verbosity=0)
    connection.close()  # not shared with the forked portal
    process, url = start_portal(count, cold=cold)

    organization, _ = Organization.objects.get_or_create(
        slug="bench-sources", defaults={"name": "Bench sources"}
    )
    project = Project.objects.create(organization=organization, name=f"sync bench {time.time()}")
    source = source_create(
        actor=None,
        project=project,
        kind="ckan_datastore",
        url=url,
        resource_id=RESOURCE_ID,
        name="bench",
        column_overrides=OVERRIDES,
    )
    print(f"database={connection.vendor} records={count:,} portal={'cold' if cold else 'cached'}")

    def step(name):
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        run = services.source_sync(source=source, actor=None)
        seconds = time.perf_counter() - started
        cpu = [after - before for after, before in zip(cpu_seconds(), cpu_before, strict=True)]
        run.refresh_from_db()
        if run.status != "completed":
            raise SystemExit(f"step={name} status={run.status} error={run.error}")
        history = Property.history.filter(project=project).count()
        print(
            f"step={name} status={run.status} seconds={seconds:.2f} "
            f"records_per_second={count / seconds:,.0f} created={run.created} "
            f"updated={run.updated} unchanged={run.unchanged} requests={run.requests} "
            f"bytes={run.bytes_received:,} history_rows={history:,} "
            f"cpu_sync={cpu[0]:.2f} cpu_validator={cpu[1]:.2f} cpu_postgres={cpu[2]:.2f} "
            f"load={os.getloadavg()[0]:.1f}"
        )

    step("first")
    step("unchanged")
    process.kill()
    process.join()  # reaped here, so its CPU is not counted as the next step's validator's
    connection.close()
    process, url = start_portal(count, changed_every=100, cold=cold)
    DataSource.objects.filter(pk=source.pk).update(url=url)
    source.refresh_from_db()
    step("changed")
    process.kill()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak_rss_mb={peak}")


if __name__ == "__main__":
    main()
