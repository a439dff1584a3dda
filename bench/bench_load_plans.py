"""The query plans behind bench_load's request kinds, at the scale it seeded.

Usage: python bench/bench_load_plans.py [--full] [KIND ...]   (after bench/bench_load.py has
seeded DATABASE_URL, default postgres://postgres@127.0.0.1:5432/property_bench_load)

Requests each kind of bench_load's managers once through Django's test client as the first
load manager (a warm-up request first), captures every SQL statement, and runs EXPLAIN
(ANALYZE, BUFFERS) on each SELECT that took 1 ms or more. Prints, per kind, the statements'
count and total time, and for each one whose execution takes 1 ms or more its time, the
indexes the plan reads, whether it scans a table whole or sorts, and the rows it removes by
filter; --full prints every plan whole.
"""

import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/property_bench_load")
# The test client renders with the manifest-less static storage, as under DEBUG.
os.environ.setdefault("DEBUG", "true")

SLOW_MS = 1.0


def plan_summary(lines: list[str]) -> str:
    text = "\n".join(lines)
    indexes = sorted(
        set(re.findall(r"Scan(?: Backward)? using (\w+)", text))
        | set(re.findall(r"Bitmap Index Scan on (\w+)", text))
    )
    removed = sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", text))
    executed = re.search(r"Execution Time: ([\d.]+) ms", text)
    flags = [name for name in ("Seq Scan", "Sort", "Gather") if name in text]
    return (
        f"execution_ms={float(executed.group(1)) if executed else 0:.1f} "
        f"indexes={','.join(indexes) or '-'} removed_by_filter={removed} "
        f"other={','.join(flags) or '-'}"
    )


def main() -> None:
    full = "--full" in sys.argv
    only = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    import django

    django.setup()
    import bench_load
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from properties.models import Project, Property

    setup_test_environment()
    user = get_user_model().objects.get(username="load-manager-0")
    organization = user.profile.organization
    ids = list(
        Property.objects.filter(organization=organization)
        .order_by("?")
        .values_list("pk", flat=True)[:5]
    )
    projects = list(Project.objects.filter(organization=organization).values_list("pk", flat=True))
    context = {"property_ids": ids, "project_ids": projects}
    client = Client()
    client.force_login(user)
    rng = random.Random(1)
    kinds: dict[str, str] = {}
    while len(kinds) < 12:
        endpoint, path = bench_load.pick_request(context, rng)
        kinds.setdefault(endpoint, path)
    for endpoint, path in sorted(kinds.items()):
        if only and endpoint not in only:
            continue
        client.get(path)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(path)
            total_ms = (time.perf_counter() - started) * 1000
        sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
        print(
            f"kind={endpoint} status={response.status_code} statements={len(queries)} "
            f"sql_ms={sql_ms:.0f} total_ms={total_ms:.0f} path={path}"
        )
        for query in queries.captured_queries:
            sql = query["sql"]
            if float(query["time"]) * 1000 < SLOW_MS or not sql.startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                lines = [row[0] for row in cursor.fetchall()]
            executed = re.search(r"Execution Time: ([\d.]+) ms", "\n".join(lines))
            if executed and float(executed.group(1)) < SLOW_MS and not full:
                continue
            print(f"  {plan_summary(lines)} sql={sql[:120]}...")
            if full:
                print("\n".join(f"      {line}" for line in lines))


if __name__ == "__main__":
    main()
