"""Export of properties as flat rows (CSV / XLSX / JSON) through django-import-export."""

from import_export import fields, resources

from .models import Property


def _get(path: str):
    group, *keys = path.split(".")

    def read(prop: Property):
        value = getattr(prop, group) or {}
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return read


class PropertyExportResource(resources.ModelResource):
    project = fields.Field(attribute="project__name", column_name="project")
    address = fields.Field(column_name="address")
    suburb = fields.Field(column_name="suburb")
    state = fields.Field(column_name="state")
    postcode = fields.Field(column_name="postcode")
    zoning = fields.Field(column_name="zoning")
    land_area = fields.Field(column_name="land_area")
    estimated_value = fields.Field(column_name="estimated_value")
    last_sale_price = fields.Field(column_name="last_sale_price")
    last_sale_date = fields.Field(column_name="last_sale_date")
    description = fields.Field(column_name="description")
    latitude = fields.Field(column_name="latitude")
    longitude = fields.Field(column_name="longitude")

    JSON_COLUMNS = {
        "address": "basic_info.address",
        "suburb": "basic_info.suburb",
        "state": "basic_info.state",
        "postcode": "basic_info.postcode",
        "zoning": "planning_controls.zoning.primary",
        "land_area": "planning_controls.land_area",
        "estimated_value": "financial_metrics.estimated_value",
        "last_sale_price": "financial_metrics.last_sale_price",
        "last_sale_date": "financial_metrics.last_sale_date",
        "description": "basic_info.description",
    }

    class Meta:
        model = Property
        fields = (
            "external_id",
            "project",
            "address",
            "suburb",
            "state",
            "postcode",
            "zoning",
            "land_area",
            "estimated_value",
            "last_sale_price",
            "last_sale_date",
            "latitude",
            "longitude",
            "description",
            "status",
        )
        export_order = fields

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for column, path in self.JSON_COLUMNS.items():
            setattr(self, f"dehydrate_{column}", _get(path))

    def export_field(self, field, instance, **kwargs):
        return neutralise_formula(super().export_field(field, instance, **kwargs))

    def dehydrate_latitude(self, prop: Property):
        coordinates = _point(prop)
        return coordinates[1] if coordinates else None

    def dehydrate_longitude(self, prop: Property):
        coordinates = _point(prop)
        return coordinates[0] if coordinates else None


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP's
    advice); numbers, including negative coordinates, stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _point(prop: Property):
    point = (prop.spatial_attributes or {}).get("coordinates") or {}
    coordinates = point.get("coordinates") if isinstance(point, dict) else None
    return coordinates if isinstance(coordinates, list) and len(coordinates) == 2 else None
