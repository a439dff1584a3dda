"""Time every integrity check over one organisation of N properties on PostgreSQL, next to
hand-written SQL computing the same counts.

    python bench/bench_integrity.py [--properties 1000000] [--repeat 3] [--database-url URL]

Works in its own database (default: integrity_bench on the server of DATABASE_URL), built
once with INSERT ... SELECT generate_series and reused while it holds N properties. A second
organisation with its own defects sits in the same tables, so a check that leaked across
organisations would show a different count from the SQL. No row claims another organisation's
project: the (project, organisation) key refuses it, so organization_mismatch counts 0 on both
sides and times the scan alone.
"""

import argparse
import os
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from _common import INSERT_PROPERTIES, django_migrated, ensure_database

BENCH_ORG, OTHER_ORG = "bench-org", "bench-other"
OTHER_PROPERTIES = 20_000


def bench_database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        base = "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/integrity_bench"))


# Rows are a pure function of their number i, so the defects (and the counts) are reproducible.
PROPERTY_INSERT = (
    INSERT_PROPERTIES
    + """
SELECT
    CASE WHEN i %% 2 = 1 THEN %(project_a)s ELSE %(project_b)s END,
    %(org)s,
    %(prefix)s || CASE WHEN i %% 2003 = 0 THEN i - 1 ELSE i END,
    jsonb_build_object(
        'address', CASE WHEN i %% 997 = 0 THEN ''
                        WHEN i %% 1993 = 0 THEN '  '
                        ELSE i || ' Bench St' END,
        'suburb', 'Richmond',
        'state', CASE WHEN i %% 1019 = 0 THEN 'NSW'
                      ELSE (ARRAY['VIC', 'NSW', 'QLD', 'WA'])[i %% 4 + 1] END,
        'postcode', CASE WHEN i %% 1019 = 0 THEN '3000'
                         ELSE (ARRAY['3121', '2000', '4000', '6000'])[i %% 4 + 1] END
    ),
    jsonb_build_object('zoning', jsonb_build_object('primary', 'GRZ1'))
        || CASE WHEN i %% 2 = 0 THEN jsonb_build_object('land_area', 400 + i %% 600)
                ELSE '{}'::jsonb END,
    '{}'::jsonb,
    jsonb_build_object(
        'estimated_value', CASE WHEN i %% 1013 = 0 THEN 500 ELSE 300000 + (i %% 5000) * 100 END
    ),
    CASE WHEN i %% 3 = 0 THEN '{}'::jsonb
         ELSE jsonb_build_object('coordinates', jsonb_build_object(
            'type', 'Point',
            'coordinates', CASE WHEN i %% 1009 = 0 THEN jsonb_build_array(144.9, 95)
                                ELSE jsonb_build_array(144.9 + (i %% 1000) / 10000.0, -37.8) END
         )) END,
    CASE WHEN i %% 5000 = 0 THEN 'deleted' ELSE 'active' END,
    now(), now()
FROM generate_series(1, %(count)s) AS i
"""
)

ANALYSIS_INSERT = """
INSERT INTO properties_propertyanalysis (
    property_id, organization_id, analysis_type, input_parameters, status, started_at,
    completed_at, error_message, metadata, created_at
)
SELECT id, organization_id, 'financial', '{}'::jsonb,
    CASE WHEN id %% 1021 = 0 THEN 'running' ELSE 'completed' END,
    now() - interval '2 days', NULL, '', '{}'::jsonb, now()
FROM properties_property
WHERE project_id IN (%(project_a)s, %(project_b)s) AND (id %% 10 = 0 OR status = 'deleted')
"""


def build(count: int) -> None:
    from django.db import connection

    from organizations.models import Organization
    from properties.models import Project, Property

    org, _ = Organization.objects.get_or_create(slug=BENCH_ORG, defaults={"name": "Bench"})
    other, _ = Organization.objects.get_or_create(slug=OTHER_ORG, defaults={"name": "Other"})
    live = Property.objects.filter(organization=org).count()
    if live and Property.objects.filter(project__organization=org).count() == count:
        print(f"reusing {count:,} properties in {connection.settings_dict['NAME']}")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE properties_propertyanalysis, properties_property, "
            "integrity_dataintegrityreport CASCADE"
        )
    for organization, size, prefix in ((org, count, "B-"), (other, OTHER_PROPERTIES, "O-")):
        project_a, _ = Project.objects.get_or_create(organization=organization, name="Bench A")
        project_b, _ = Project.objects.get_or_create(organization=organization, name="Bench B")
        params = {
            "project_a": project_a.pk,
            "project_b": project_b.pk,
            "org": organization.pk,
            "prefix": prefix,
            "count": size,
        }
        with connection.cursor() as cursor:
            cursor.execute(PROPERTY_INSERT, params)
            cursor.execute(ANALYSIS_INSERT, params)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE properties_property")
        cursor.execute("VACUUM ANALYZE properties_propertyanalysis")
    seconds = time.perf_counter() - started
    print(f"built {count:,} + {OTHER_PROPERTIES:,} properties in {seconds:.0f} s")


LIVE = "organization_id = %(org)s AND status <> 'deleted'"

#: Hand-written SQL for each check's count, the yardstick.
PLAIN_SQL = {
    "missing_address": f"""
        SELECT count(*) FROM properties_property WHERE {LIVE}
        AND (jsonb_typeof(basic_info -> 'address') IS DISTINCT FROM 'string'
             OR btrim(basic_info ->> 'address') = '')""",
    "invalid_coordinates": f"""
        SELECT count(*) FROM (
            SELECT spatial_attributes -> 'coordinates' AS point,
                   jsonb_typeof(spatial_attributes #> '{{coordinates,coordinates,0}}') AS lng_type,
                   jsonb_typeof(spatial_attributes #> '{{coordinates,coordinates,1}}') AS lat_type
            FROM properties_property WHERE {LIVE}
            AND jsonb_typeof(spatial_attributes -> 'coordinates') <> 'null') p
        WHERE lng_type IS DISTINCT FROM 'number' OR lat_type IS DISTINCT FROM 'number'
           OR CASE WHEN lng_type = 'number' AND lat_type = 'number'
              THEN abs((point #>> '{{coordinates,0}}')::float) > 180
                OR abs((point #>> '{{coordinates,1}}')::float) > 90 END""",
    "unrealistic_value": f"""
        SELECT count(*) FROM properties_property WHERE {LIVE}
        AND ((financial_metrics ->> 'estimated_value')::float < 1000
          OR (financial_metrics ->> 'estimated_value')::float > 50000000)""",
    "value_per_area": f"""
        SELECT count(*) FROM (
            SELECT CASE WHEN jsonb_typeof(planning_controls -> 'land_area') = 'number'
                        THEN (planning_controls ->> 'land_area')::float END AS area,
                   coalesce(
                       CASE WHEN jsonb_typeof(financial_metrics -> 'estimated_value') = 'number'
                            THEN (financial_metrics ->> 'estimated_value')::float END,
                       CASE WHEN jsonb_typeof(financial_metrics -> 'last_sale_price') = 'number'
                            THEN (financial_metrics ->> 'last_sale_price')::float END) AS figure
            FROM properties_property WHERE {LIVE}) p
        WHERE area > 0 AND figure IS NOT NULL
        AND (figure / area < %(low)s OR figure / area > %(high)s)""",
    "orphaned_analysis": """
        SELECT count(*) FROM properties_propertyanalysis a WHERE a.organization_id = %(org)s
        AND NOT EXISTS (SELECT 1 FROM properties_property p
                        WHERE p.id = a.property_id AND p.status <> 'deleted')""",
    "duplicate_external_id": f"""
        SELECT count(*) FROM (
            SELECT external_id FROM properties_property WHERE {LIVE} AND external_id <> ''
            GROUP BY external_id HAVING count(*) > 1) duplicated""",
    "postcode_out_of_state_range": f"""
        SELECT count(*) FROM (
            SELECT upper(btrim(basic_info ->> 'state')) AS state,
                   btrim(basic_info ->> 'postcode') AS postcode
            FROM properties_property WHERE {LIVE}
            AND jsonb_typeof(basic_info -> 'postcode') IN ('string', 'number')) p
        WHERE state IN ('NSW','ACT','VIC','QLD','SA','WA','TAS','NT') AND postcode <> ''
        AND NOT (postcode ~ '^[0-9]{{4}}$' AND CASE state
            WHEN 'NSW' THEN postcode BETWEEN '1000' AND '1999' OR postcode BETWEEN '2000' AND '2599'
                         OR postcode BETWEEN '2619' AND '2899' OR postcode BETWEEN '2921' AND '2999'
            WHEN 'ACT' THEN postcode BETWEEN '0200' AND '0299' OR postcode BETWEEN '2600' AND '2618'
                         OR postcode BETWEEN '2900' AND '2920'
            WHEN 'VIC' THEN postcode BETWEEN '3000' AND '3999' OR postcode BETWEEN '8000' AND '8999'
            WHEN 'QLD' THEN postcode BETWEEN '4000' AND '4999' OR postcode BETWEEN '9000' AND '9999'
            WHEN 'SA' THEN postcode BETWEEN '5000' AND '5999'
            WHEN 'WA' THEN postcode BETWEEN '6000' AND '6999'
            WHEN 'TAS' THEN postcode BETWEEN '7000' AND '7999'
            WHEN 'NT' THEN postcode BETWEEN '0800' AND '0999' END)""",
    "stuck_analysis": """
        SELECT count(*) FROM properties_propertyanalysis WHERE organization_id = %(org)s
        AND status = 'running' AND coalesce(started_at, created_at) < now() - interval '1 day'""",
    "organization_mismatch": """
        SELECT count(*) FROM properties_property p
        JOIN properties_project pr ON pr.id = p.project_id
        WHERE p.organization_id = %(org)s AND pr.organization_id <> %(org)s""",
}


def timed(function, repeat: int) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--properties", type=int, default=int(os.environ.get("BENCH_PROPERTIES", 1_000_000))
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    url = bench_database_url(args.database_url)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    django_migrated()
    from django.db import connection

    from integrity.checks import CHECKS, quality_metrics
    from integrity.services.reports import integrity_report_create
    from organizations.models import Organization
    from properties.rules import RuleSettings

    build(args.properties)
    org = Organization.objects.get(slug=BENCH_ORG)
    bounds = RuleSettings.of(org)
    params = {"org": org.pk, "low": bounds.value_per_m2_min, "high": bounds.value_per_m2_max}

    def plain(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    print(
        f"\nPostgreSQL {connection.pg_version // 10000}, {args.properties:,} properties in "
        f"{org.slug} (+{OTHER_PROPERTIES:,} in {OTHER_ORG}), median of {args.repeat} runs\n"
    )
    header = f"{'check':<30} {'count':>8} {'ORM s':>8} {'SQL s':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    totals = [0.0, 0.0]
    mismatches = []
    for check in CHECKS:
        plain(PLAIN_SQL[check.slug])  # warm the cache for both sides alike
        orm_seconds, orm_count = timed(lambda check=check: check.count(org), args.repeat)
        sql_seconds, sql_count = timed(
            lambda check=check: plain(PLAIN_SQL[check.slug]), args.repeat
        )
        totals[0] += orm_seconds
        totals[1] += sql_seconds
        if orm_count != sql_count:
            mismatches.append(f"{check.slug}: ORM {orm_count} != SQL {sql_count}")
        print(
            f"{check.slug:<30} {orm_count:>8,} {orm_seconds:>8.3f} {sql_seconds:>8.3f} "
            f"{orm_seconds / sql_seconds:>6.2f}"
        )
    print("-" * len(header))
    print(
        f"{'all checks':<30} {'':>8} {totals[0]:>8.3f} {totals[1]:>8.3f} "
        f"{totals[0] / totals[1]:>6.2f}"
    )
    metrics_seconds, _ = timed(lambda: quality_metrics(org), 1)
    samples_seconds, _ = timed(lambda: [check.samples(org) for check in CHECKS], 1)
    print(f"\nquality metrics (one aggregate): {metrics_seconds:.2f} s")
    print(f"samples (5 per check, all checks): {samples_seconds:.2f} s")
    report_seconds, report = timed(lambda: integrity_report_create(organization=org), 1)
    print(
        f"full report (counts, samples, metrics, stored): {report_seconds:.2f} s "
        f"(report={report.pk} total={report.total_issues} duration_ms={report.duration_ms})"
    )
    if mismatches:
        print("COUNT MISMATCH: " + "; ".join(mismatches))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
