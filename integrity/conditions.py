"""The SQL conditions behind the integrity checks: each function turns an organisation into a
queryset of its offending rows, evaluated by the database (no Python loops over rows) on
PostgreSQL and SQLite alike. `checks.py` names and registers them."""

from datetime import timedelta

from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Abs, Cast, Coalesce, Length, Trim, Upper
from django.utils import timezone

from organizations.models import Organization
from properties.models import (
    ESTIMATED_VALUE,
    POSTCODE,
    STATE,
    Property,
    PropertyAnalysis,
    Status,
    json_text,
)
from properties.postcodes import POSTCODE_RANGES
from properties.rules import MAX_ESTIMATED_VALUE, RuleSettings

#: Values the JSON type function returns for a number: jsonb_typeof says "number", SQLite's
#: json_type "integer" or "real".
NUMBER_TYPES = ("number", "integer", "real")
#: jsonb_typeof's and json_type's names for a string.
TEXT_TYPES = ("string", "text")

#: The estimated-value check's bounds. Import accepts 0 < value < 50,000,000; a value the import
#: accepts may still be implausible (a $500 house), which is what this check reports.
VALUE_MIN = 1_000
VALUE_MAX = MAX_ESTIMATED_VALUE

STUCK_AFTER = timedelta(days=1)


class JSONType(models.Func):
    """The JSON type of the value at `path` inside a JSON column, NULL when the path is absent.

    PostgreSQL's jsonb_typeof answers "number"/"string"/"null"...; SQLite's json_type answers
    "integer"/"real"/"text"/"null"... Compare against NUMBER_TYPES for "is a number".
    """

    output_field = models.TextField()

    def __init__(self, field: str, *path: str | int):
        self.path = [str(part) for part in path]
        super().__init__(models.F(field))

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        if len(self.path) == 1:
            return f"jsonb_typeof({column} -> %s)", (*params, self.path[0])
        return f"jsonb_typeof({column} #> %s)", (*params, self.path)

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        json_path = "$" + "".join(
            f"[{part}]" if part.isdigit() else f'."{part}"' for part in self.path
        )
        return f"json_type({column}, %s)", (*params, json_path)


def live_properties(organization: Organization) -> QuerySet:
    """The organisation's properties that are not soft-deleted: what every property check and
    metric looks at."""
    return Property.objects.filter(organization=organization).exclude(status=Status.DELETED)


def is_number(type_expression) -> Q:
    return Q(**{f"{type_expression}__in": NUMBER_TYPES})


# --- property checks -----------------------------------------------------------------------


def has_address() -> Q:
    # Tested by JSON type first: SQLite's text of a JSON null is the string "null".
    return Q(address_type__in=TEXT_TYPES) & ~Q(address_text="")


def address_aliases() -> dict:
    return {
        # Coalesced so that one comparison covers an absent address too (NOT (NULL IN ...) is
        # NULL in SQL, not true).
        "address_type": Coalesce(
            JSONType("basic_info", "address"), Value("absent"), output_field=models.TextField()
        ),
        "address_text": Trim(json_text("basic_info__address")),
    }


def missing_address(organization: Organization) -> QuerySet:
    """No non-blank string at basic_info.address: absent, null, empty, blank (or not text)."""
    return (
        live_properties(organization)
        .alias(**address_aliases())
        .filter(~Q(address_type__in=TEXT_TYPES) | Q(address_text=""))
    )


def _coordinate(index: int) -> Cast:
    return Cast(
        json_text(f"spatial_attributes__coordinates__coordinates__{index}"), models.FloatField()
    )


def invalid_coordinates(organization: Organization) -> QuerySet:
    # One CASE per row: the casts to float only run once both values are known to be numbers
    # (casting a JSON string fails on PostgreSQL), and each JSON type is computed once.
    both_numbers = is_number("longitude_type") & is_number("latitude_type")
    out_of_range = models.ExpressionWrapper(
        Q(longitude_abs__gt=180) | Q(latitude_abs__gt=90), output_field=models.BooleanField()
    )
    return (
        live_properties(organization)
        .alias(
            point_type=Coalesce(
                JSONType("spatial_attributes", "coordinates"),
                Value("null"),
                output_field=models.TextField(),
            ),
            longitude_type=JSONType("spatial_attributes", "coordinates", "coordinates", 0),
            latitude_type=JSONType("spatial_attributes", "coordinates", "coordinates", 1),
            longitude_abs=Abs(_coordinate(0)),
            latitude_abs=Abs(_coordinate(1)),
        )
        .filter(~Q(point_type="null"))
        .alias(
            invalid=models.Case(
                models.When(both_numbers, then=out_of_range),
                default=models.Value(True),
                output_field=models.BooleanField(),
            )
        )
        .filter(invalid=True)
    )


def unrealistic_value(organization: Organization) -> QuerySet:
    # ESTIMATED_VALUE is the indexed expression; PostgreSQL cannot even store a non-numeric
    # estimated_value (the index would fail to cast it), SQLite can, hence the type test.
    return (
        live_properties(organization)
        .alias(
            value_type=JSONType("financial_metrics", "estimated_value"),
            estimated_value=ESTIMATED_VALUE,
        )
        .filter(is_number("value_type"))
        .filter(Q(estimated_value__lt=VALUE_MIN) | Q(estimated_value__gt=VALUE_MAX))
    )


def _json_number(group: str, key: str) -> models.Case:
    # A CASE, so a text is never cast: the cast runs only once the value is known to be a number.
    return models.Case(
        models.When(
            Q(**{f"{key}_type__in": NUMBER_TYPES}),
            then=Cast(KT(f"{group}__{key}"), models.FloatField()),
        ),
        default=None,
        output_field=models.FloatField(),
    )


def value_per_area_outside_bounds(organization: Organization) -> QuerySet:
    """The import's value-per-m² rule (`properties.rules.value_per_area_outside`) in SQL, with
    the organisation's bounds: the estimated value, else the last sale price, over a land area
    above 0."""
    settings = RuleSettings.of(organization)
    return (
        live_properties(organization)
        .alias(
            land_area_type=JSONType("planning_controls", "land_area"),
            estimated_value_type=JSONType("financial_metrics", "estimated_value"),
            last_sale_price_type=JSONType("financial_metrics", "last_sale_price"),
        )
        .alias(
            area=_json_number("planning_controls", "land_area"),
            figure=Coalesce(
                _json_number("financial_metrics", "estimated_value"),
                _json_number("financial_metrics", "last_sale_price"),
            ),
        )
        .filter(area__gt=0, figure__isnull=False)
        .alias(per_area=models.ExpressionWrapper(F("figure") / F("area"), models.FloatField()))
        .filter(
            Q(per_area__lt=settings.value_per_m2_min) | Q(per_area__gt=settings.value_per_m2_max)
        )
    )


def duplicated_external_ids(organization: Organization) -> QuerySet:
    """External ids held by more than one live property of the organisation, across projects."""
    return (
        live_properties(organization)
        .exclude(external_id="")
        .order_by()
        .values("external_id")
        .annotate(holders=Count("id"))
        .filter(holders__gt=1)
    )


def duplicate_external_id(organization: Organization) -> QuerySet:
    return live_properties(organization).filter(
        external_id__in=duplicated_external_ids(organization).values("external_id")
    )


def postcode_out_of_state_range(organization: Organization) -> QuerySet:
    in_range = Q()
    for state, ranges in POSTCODE_RANGES.items():
        state_ranges = Q()
        for low, high in ranges:
            state_ranges |= Q(postcode_text__gte=low, postcode_text__lte=high)
        in_range |= Q(state_code=state) & state_ranges
    # The length test first: on SQLite REGEXP is a Python callback, so it runs on fewer rows.
    well_formed = Q(postcode_length=4) & Q(postcode_text__regex=r"^[0-9]{4}$")
    return (
        live_properties(organization)
        .alias(
            state_code=Upper(Trim(STATE)),
            postcode_type=JSONType("basic_info", "postcode"),
            postcode_text=Trim(POSTCODE),
        )
        .alias(postcode_length=Length("postcode_text"))
        .filter(
            state_code__in=list(POSTCODE_RANGES), postcode_type__in=[*TEXT_TYPES, *NUMBER_TYPES]
        )
        .exclude(postcode_text="")
        .filter(~(well_formed & in_range))
    )


def organization_mismatch(organization: Organization) -> QuerySet:
    # Reported to the organisation the property row claims: the only one whose members can
    # open it in the admin.
    return Property.objects.filter(organization=organization).exclude(
        project__organization=organization
    )


# --- analysis checks -------------------------------------------------------------------------


def orphaned_analysis(organization: Organization) -> QuerySet:
    live_property = Property.objects.filter(pk=OuterRef("property_id")).exclude(
        status=Status.DELETED
    )
    return PropertyAnalysis.objects.filter(organization=organization).filter(~Exists(live_property))


def stuck_analysis(organization: Organization) -> QuerySet:
    cutoff = timezone.now() - STUCK_AFTER
    return (
        PropertyAnalysis.objects.filter(organization=organization)
        .filter(status=PropertyAnalysis.AnalysisStatus.RUNNING)
        .alias(running_since=Coalesce("started_at", "created_at"))
        .filter(running_since__lt=cutoff)
    )
