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

# bench_load.py imports ensure_database and seed_properties from here.
from _common import INSERT_PROPERTIES, django_migrated, ensure_database

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/property_bench")


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
            INSERT_PROPERTIES
            + """
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
    django_migrated()
    from django.test import Client
    from django.test.utils import setup_test_environment

    from organizations.models import Organization
    from organizations.services import member_create
    from properties.models import Project, Property

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
