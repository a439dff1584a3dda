"""Statistics PostgreSQL needs to estimate the changelist's filters.

The state has no index, so the planner had no statistics for it and guessed 0.5% of rows for
`state = 'VIC'`; with a zoning filter it then expected a few hundred rows where a third of a
million matched, and the paginator, trusting the estimate, ran an exact COUNT over them. An
extended statistics object gives every filtered expression its own statistics (what an index
would give, without the index's cost to imports) and records how they depend on each other
and on the organisation. SQLite has no such statistics; nothing is done there.
"""

from django.db import migrations

from properties.migration_operations import RunSQLOnPostgres


class Migration(migrations.Migration):
    dependencies = [
        ("properties", "0004_lean_property_keys"),
    ]

    operations = [
        RunSQLOnPostgres(
            sql=[
                # The expressions are the SQL of STATE, SUBURB, POSTCODE and ZONING in models.py.
                "CREATE STATISTICS property_filter_stats (dependencies, mcv) ON "
                "organization_id, (basic_info ->> 'state'), (basic_info ->> 'suburb'), "
                "(basic_info ->> 'postcode'), (planning_controls #>> '{zoning,primary}') "
                "FROM properties_property",
                "ANALYZE properties_property",
            ],
            reverse_sql=["DROP STATISTICS IF EXISTS property_filter_stats"],
        ),
    ]
