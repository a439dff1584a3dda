from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

#: Above this many rows (by the planner's estimate) the exact COUNT is not worth its cost.
EXACT_COUNT_LIMIT = 20_000


def planner_row_estimate(queryset) -> int | None:
    """PostgreSQL's estimate of how many rows `queryset` returns, read from EXPLAIN."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = queryset.order_by().query.sql_with_params()
    except EmptyResultSet:
        return 0  # a filter chose `none()`: there is no statement to explain
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly when the result is small, and uses the planner's estimate when it is
    large: an exact COUNT over a million JSON rows costs more than the page itself."""

    @cached_property
    def count(self):
        estimate = planner_row_estimate(self.object_list)
        if estimate is not None and estimate > EXACT_COUNT_LIMIT:
            return estimate
        return super().count
