"""The property form people use: one field per attribute, validated by the property rules
(`properties.rules`, the import's own), mapped to and from the JSON groups; and the analysis
form, validated by the same rules package.

Keys of the JSON groups the form does not show (an analyst's notes, environmental factors,
other zoning details) are kept untouched; a field emptied removes its key.
"""

import json

from django import forms

from .limits import PropertyJSONFormField
from .models import Property, PropertyAnalysis, derive_external_id
from .rules import WARNING, RuleSettings, validate_analysis, validate_attributes

STATE_CHOICES = [("", "—")] + [
    (code, code) for code in ("ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA")
]

#: Form field -> (the rules' name for it, where it lives in the JSON groups).
ATTRIBUTES = {
    "address": ("address", ("basic_info", "address")),
    "suburb": ("suburb", ("basic_info", "suburb")),
    "state": ("state", ("basic_info", "state")),
    "postcode": ("postcode", ("basic_info", "postcode")),
    "description": ("description", ("basic_info", "description")),
    "zoning": ("zoning", ("planning_controls", "zoning", "primary")),
    "land_area": ("landarea", ("planning_controls", "land_area")),
    "estimated_value": ("estimatedvalue", ("financial_metrics", "estimated_value")),
    "last_sale_price": ("lastsaleprice", ("financial_metrics", "last_sale_price")),
    "last_sale_date": ("lastsaledate", ("financial_metrics", "last_sale_date")),
    "latitude": ("latitude", ("spatial_attributes", "coordinates", "coordinates", 1)),
    "longitude": ("longitude", ("spatial_attributes", "coordinates", "coordinates", 0)),
}
MONEY_FIELDS = ("estimated_value", "last_sale_price")
FIELD_OF_RULE = {rule_name: name for name, (rule_name, _) in ATTRIBUTES.items()}
FIELD_OF_RULE["coordinates"] = "latitude"
#: The keys each group's fields own; `spatial_attributes.coordinates` is the whole point.
OWNED_KEYS = {
    "basic_info": ("address", "suburb", "state", "postcode", "description"),
    "planning_controls": ("land_area",),
    "financial_metrics": ("estimated_value", "last_sale_price", "last_sale_date"),
    "spatial_attributes": ("coordinates",),
}
FIELDSETS = (
    ("Address", ("address", "suburb", "state", "postcode", "description")),
    ("Planning", ("zoning", "land_area")),
    ("Value and sale", ("estimated_value", "last_sale_price", "last_sale_date")),
    ("Location", ("latitude", "longitude")),
)


def _text_field(label, *, required=False, help_text="", max_length=None, widget=None):
    # Text on purpose: the rules read what was typed ("$1,250,000", "3/12/2016"), as from a file.
    return forms.CharField(
        label=label,
        required=required,
        help_text=help_text,
        max_length=max_length,
        widget=widget or forms.TextInput(attrs={"class": "vTextField"}),
        strip=False,
    )


def _read(groups: dict, path: tuple):
    node = groups
    for key in path:
        in_dict = isinstance(node, dict) and key in node
        if in_dict or (isinstance(node, list) and isinstance(key, int) and len(node) > key):
            node = node[key]
        else:
            return None
    return node


class PropertyForm(forms.ModelForm):
    address = _text_field("Address", required=True, max_length=255)
    suburb = _text_field("Suburb", required=True, max_length=100)
    state = forms.ChoiceField(
        label="State",
        choices=STATE_CHOICES,
        required=False,
        help_text="Taken from the postcode when left empty.",
    )
    postcode = _text_field("Postcode", required=True, help_text="4 digits.")
    description = _text_field(
        "Description",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Line breaks are kept.",
    )
    zoning = _text_field("Zoning", max_length=50)
    land_area = _text_field("Land area (m²)")
    estimated_value = _text_field("Estimated value ($)")
    last_sale_price = _text_field("Last sale price ($)")
    last_sale_date = _text_field("Last sale date", help_text="3/12/2016, 2016-12-03 or 09-2018.")
    latitude = _text_field("Latitude")
    longitude = _text_field("Longitude")

    class Meta:
        model = Property
        fields = ("project", "external_id", "status")

    def __init__(self, *args, rule_settings: RuleSettings | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule_settings = rule_settings or RuleSettings()
        self.warnings: list[str] = []
        instance_groups = self._groups_of(self.instance)
        for name, (_, path) in ATTRIBUTES.items():
            value = _read(instance_groups, path)
            if name in MONEY_FIELDS and isinstance(value, (int, float)):
                # Shown as people write money; the rules read "1,250,000" back as 1250000.
                value = f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"
            if value is not None and not isinstance(value, (dict, list)):
                self.initial.setdefault(name, value)
        if "external_id" in self.fields:
            self.fields["external_id"].required = False
            self.fields["external_id"].help_text = "Left empty, derived from the address."

    @staticmethod
    def _groups_of(instance) -> dict:
        return {group: getattr(instance, group) or {} for group in OWNED_KEYS}

    def clean(self):
        cleaned = super().clean()
        cells = {
            ATTRIBUTES[name][0]: self.data.get(self.add_prefix(name), "") for name in ATTRIBUTES
        }
        groups, findings = validate_attributes(cells, settings=self.rule_settings)
        for finding in findings:
            field = FIELD_OF_RULE.get(finding.field)
            if finding.severity == WARNING:
                self.warnings.append(f"{self.fields[field].label}: {finding.message}")
            else:
                self.add_error(field if field in self.fields else None, finding.message)
        self.validated_groups = groups
        return cleaned

    def save(self, commit=True):
        instance = super().save(commit=False)
        for group, owned in OWNED_KEYS.items():
            kept = {k: v for k, v in (getattr(instance, group) or {}).items() if k not in owned}
            new = dict((self.validated_groups or {}).get(group, {}))
            if group == "planning_controls":
                zoning = kept.pop("zoning", None)
                details = (
                    {k: v for k, v in zoning.items() if k != "primary"}
                    if isinstance(zoning, dict)
                    else {}
                )
                primary = new.pop("zoning", {}).get("primary")
                if primary or details:
                    kept["zoning"] = {**details, **({"primary": primary} if primary else {})}
            setattr(instance, group, {**kept, **new})
        if not instance.external_id:
            instance.external_id = derive_external_id(instance.basic_info)
        if commit:
            instance.save()
            self._save_m2m()
        return instance


def raw_attributes(instance) -> str:
    """Every JSON group of the property, as stored, for the read-only "advanced" fieldset."""
    groups = {group: getattr(instance, group) for group in (*OWNED_KEYS, "environmental_factors")}
    return json.dumps(groups, indent=2, ensure_ascii=False, sort_keys=True)


class PropertyAnalysisForm(forms.ModelForm):
    """The analysis form, validated by the property rules (`properties.rules.validate_analysis`):
    its JSON objects must be storable, its status agree with its results and times. Each
    finding stands beside its field; nothing is saved while one stands."""

    input_parameters = PropertyJSONFormField(required=False, initial=dict)
    results = PropertyJSONFormField(required=False)

    class Meta:
        model = PropertyAnalysis
        fields = (
            "property",
            "analysis_type",
            "status",
            "input_parameters",
            "results",
            "started_at",
            "completed_at",
            "error_message",
        )

    def clean(self):
        cleaned = super().clean()
        if any(name in self.errors for name in ("input_parameters", "results")):
            return cleaned  # already refused in words by the JSON field
        findings = validate_analysis(
            input_parameters=cleaned.get("input_parameters"),
            results=cleaned.get("results"),
            status=cleaned.get("status"),
            started_at=cleaned.get("started_at"),
            completed_at=cleaned.get("completed_at"),
            error_message=cleaned.get("error_message", ""),
        )
        for finding in findings:
            field = finding.field if finding.field in self.fields else None
            self.add_error(field, finding.message)
        if "input_parameters" in cleaned and cleaned["input_parameters"] is None:
            cleaned["input_parameters"] = {}
        return cleaned
