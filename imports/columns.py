"""The columns of an import file: header normalisation, the alias table of real-world names,
and which position of a row holds which known column. Pure functions, like the rules."""

import re
from dataclasses import dataclass

REQUIRED_COLUMNS = ("address", "suburb", "postcode")
KNOWN_COLUMNS = frozenset(
    {
        "propertyid",
        "address",
        "suburb",
        "postcode",
        "state",
        "estimatedvalue",
        "landarea",
        "coordinates",
        "latitude",
        "longitude",
        "zoning",
        "description",
        "lastsaleprice",
        "lastsaledate",
    }
)
# Real-world names for the columns above, after normalisation. The misspellings are Kaggle's
# Melbourne housing snapshot's own ("Lattitude", "Longtitude").
ALIASES = {
    "id": "propertyid",
    "externalid": "propertyid",
    "streetaddress": "address",
    "locality": "suburb",
    "town": "suburb",
    "postalcode": "postcode",
    "zip": "postcode",
    "zipcode": "postcode",
    "price": "estimatedvalue",
    "value": "estimatedvalue",
    "valuation": "estimatedvalue",
    "landsize": "landarea",
    "landareasqm": "landarea",
    "landaream2": "landarea",
    "lat": "latitude",
    "lattitude": "latitude",
    "lng": "longitude",
    "lon": "longitude",
    "long": "longitude",
    "longtitude": "longitude",
    "latlng": "coordinates",
    "zone": "zoning",
    "zoningcode": "zoning",
    "date": "lastsaledate",
    "saledate": "lastsaledate",
    "sold": "lastsaledate",
    "datesold": "lastsaledate",
    "solddate": "lastsaledate",
    "contractdate": "lastsaledate",
    "saleprice": "lastsaleprice",
    "soldprice": "lastsaleprice",
    "lastsold": "lastsaleprice",
}
#: Headers that name a sale's price when the file has a sale date column (a sales file such as
#: the Melbourne snapshot's `Price` beside its `Date`), and a valuation otherwise.
SALE_PRICE_HEADERS = frozenset({"price"})


def normalise_header(name) -> str:
    """`Post Code` -> `postcode`, `Estimated Value ($)` -> `estimatedvalue`, then the alias."""
    key = _header_key(name)
    return ALIASES.get(key, key)


@dataclass(frozen=True)
class ColumnMap:
    """Which position of the file's rows holds which known column."""

    headers: tuple[str, ...]
    positions: dict[str, int]
    ignored: tuple[str, ...]

    @property
    def missing(self) -> list[str]:
        return [name for name in REQUIRED_COLUMNS if name not in self.positions]


def _header_key(name) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name if name is not None else "").lower())


def map_columns(headers) -> ColumnMap:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    keys = [normalise_header(raw) for raw in headers]
    if "lastsaledate" in keys and "lastsaleprice" not in keys:
        keys = [
            "lastsaleprice" if _header_key(raw) in SALE_PRICE_HEADERS else key
            for raw, key in zip(headers, keys, strict=True)
        ]
    for index, (raw, key) in enumerate(zip(headers, keys, strict=True)):
        if not key:
            # A blank header over an empty column (a trailing delimiter) is nothing to report.
            continue
        if key in KNOWN_COLUMNS and key not in positions:
            positions[key] = index
        else:
            ignored.append(str(raw).strip())
    return ColumnMap(
        headers=tuple(str(h or "") for h in headers), positions=positions, ignored=tuple(ignored)
    )


def cells_by_column(column_map: ColumnMap, values) -> dict:
    return {
        name: values[index] if index < len(values) else None
        for name, index in column_map.positions.items()
    }
