"""Property changelist at scale: one organisation of N properties on PostgreSQL.

Usage: python bench/bench_changelist.py [N]   (DATABASE_URL defaults to .../property_bench)

Creates (or reuses) the database named in DATABASE_URL, migrates it, fills one organisation
with N properties through a single INSERT ... SELECT generate_series (fast; the changelist is
what is measured), then times the admin pages a manager opens most, as server time through
Django's test client. Prints one line per page.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/property_bench")

import psycopg  # noqa: E402


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed_properties(project, count: int) -> None:
    """Fill `project` (and its organisation) up to `count` properties with one
    INSERT ... SELECT generate_series: fast, since the pages are what is measured, not writes.
    External ids are B1..Bcount; suburbs, postcodes, zonings and values cycle through a few."""
    from django.db import connection

    from properties.models import Property

    org = project.organization
    existing = Property.objects.filter(project=project).count()
    if existing >= count:
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO properties_property (project_id, organization_id, external_id,
                basic_info, planning_controls, environmental_factors, financial_metrics,
                spatial_attributes, status, created_at, updated_at)
            SELECT %s, %s, 'B' || n,
                jsonb_build_object('address', n || ' Chapel St', 'suburb',
                    (ARRAY['Richmond','Fitzroy','Brunswick','Abbotsford'])[1 + n %% 4],
                    'state', 'VIC', 'postcode', (3000 + n %% 200)::text),
                jsonb_build_object('zoning', jsonb_build_object('primary',
                    (ARRAY['GRZ1','NRZ1','C1Z'])[1 + n %% 3]), 'land_area', 200 + n %% 800),
                '{}'::jsonb,
                jsonb_build_object('estimated_value', 300000 + (n * 37) %% 2000000),
                '{}'::jsonb, 'active', now(), now()
            FROM generate_series(%s, %s) AS n
            """,
            [project.pk, org.pk, existing + 1, count],
        )
        cursor.execute("ANALYZE properties_property")
    print(f"seeded rows={count - existing} seconds={time.perf_counter() - started:.1f}")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from organizations.models import Organization
    from organizations.services import member_create
    from properties.models import Project, Property

    call_command("migrate", verbosity=0)
    org, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    project, _ = Project.objects.get_or_create(organization=org, name="Bench project")
    manager = (
        getattr(org.profiles.filter(role="manager").first(), "user", None)
        or member_create(
            organization=org, username="bench-manager", password="x", role="manager"
        ).user
    )
    seed_properties(project, count)

    setup_test_environment()
    client = Client()
    client.force_login(manager)
    pages = {
        "changelist": "/admin/properties/property/",
        "page_500": "/admin/properties/property/?p=500",
        "filter_state_zoning": "/admin/properties/property/?state=VIC&zoning=GRZ1",
        "search_address": "/admin/properties/property/?q=77 chapel",
        "search_postcode": "/admin/properties/property/?q=3117",
        "search_suburb": "/admin/properties/property/?q=fitzroy",
        "sort_value": "/admin/properties/property/?o=6",
    }
    print(f"properties={Property.objects.filter(organization=org).count()}")
    for name, url in pages.items():
        client.get(url)  # warm caches the way a second visitor would find them
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            response = client.get(url)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
        print(f"page={name} median_ms={sorted(timings)[1] * 1000:.0f} url={url}")


if __name__ == "__main__":
    main()
