"""What the benches share: a scratch PostgreSQL database created on demand, Django set up and
migrated on it, and the INSERT ... SELECT that seeds N properties in one statement (fast: the
benches measure what comes after)."""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: A seeding INSERT's head: the SELECT that follows gives these columns in this order.
INSERT_PROPERTIES = (
    "INSERT INTO properties_property (project_id, organization_id, external_id, basic_info, "
    "planning_controls, environmental_factors, financial_metrics, spatial_attributes, status, "
    "created_at, updated_at)"
)

#: Property number n on Chapel St, Richmond, with every attribute group filled: the columns of
#: INSERT_PROPERTIES after the project, organisation and external id. Coordinates as float8: a
#: numeric quotient would keep trailing zeros (144.95000...) that no import writes and that a row
#: rebuilt in Python (the ORM path) prints without.
CHAPEL_STREET_VALUES = """
    jsonb_build_object('address', n || ' Chapel St', 'suburb', 'Richmond',
                       'state', 'VIC', 'postcode', (3000 + n %% 200)::text),
    jsonb_build_object('zoning', jsonb_build_object('primary', 'GRZ' || n %% 3)),
    jsonb_build_object('flood_overlay', n %% 7 = 0),
    jsonb_build_object('estimated_value', 500000 + (n %% 1000) * 1000),
    jsonb_build_object('coordinates', jsonb_build_object('type', 'Point',
        'coordinates', jsonb_build_array((144.9 + (n %% 100) / 1000.0)::float8,
                                         (-37.8 - (n %% 100) / 1000.0)::float8))),
    'active', now(), now()
"""

#: Properties EXT-1..EXT-N of one project.
CHAPEL_STREET_INSERT = (
    f"{INSERT_PROPERTIES}\nSELECT %s, %s, 'EXT-' || n,{CHAPEL_STREET_VALUES}"
    "FROM generate_series(1, %s) AS n\n"
)


def ensure_database(url: str) -> None:
    """Creates the PostgreSQL database `url` names unless it exists; other databases are left
    to Django (SQLite creates its file)."""
    if not url.startswith("postgres"):
        return
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def django_migrated() -> None:
    """Django set up on DATABASE_URL, its database migrated."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_chapel_street(cursor, *, project, organization, rows: int) -> None:
    cursor.execute(CHAPEL_STREET_INSERT, [project.pk, organization.pk, rows])
