"""Demo data: two organisations, a login per role, projects and realistic Australian properties.

Everything is derived from fixed seeds, so running it again creates nothing new.
"""

import random
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from simple_history.utils import bulk_create_with_history

from organizations.models import Organization, Profile
from organizations.services import member_create, organization_create

from .models import Project, Property, PropertyAnalysis

DEMO_PASSWORD = "property-demo"
#: The history reason of the demo rows (`manage.py seed_demo`).
DEMO_CHANGE_REASON = "demo data (seed_demo)"

# (suburb, state, postcode, latitude, longitude): real combinations, centres inside the state.
SUBURBS = [
    ("Richmond", "VIC", "3121", -37.8230, 144.9980),
    ("Abbotsford", "VIC", "3067", -37.8045, 144.9988),
    ("St. Kilda East", "VIC", "3183", -37.8650, 145.0000),
    ("Brunswick", "VIC", "3056", -37.7667, 144.9600),
    ("Fitzroy", "VIC", "3065", -37.7980, 144.9780),
    ("Geelong West", "VIC", "3218", -38.1390, 144.3420),
    ("Ballarat Central", "VIC", "3350", -37.5610, 143.8540),
    ("Surry Hills", "NSW", "2010", -33.8840, 151.2110),
    ("Paddington", "NSW", "2021", -33.8840, 151.2310),
    ("Parramatta", "NSW", "2150", -33.8150, 151.0010),
    ("Newtown", "NSW", "2042", -33.8980, 151.1790),
    ("Manly", "NSW", "2095", -33.7970, 151.2850),
    ("Wollongong", "NSW", "2500", -34.4250, 150.8930),
    ("New Farm", "QLD", "4005", -27.4670, 153.0500),
    ("Paddington", "QLD", "4064", -27.4600, 152.9980),
    ("Southport", "QLD", "4215", -27.9670, 153.4000),
    ("Toowong", "QLD", "4066", -27.4850, 152.9930),
    ("Norwood", "SA", "5067", -34.9210, 138.6300),
    ("Glenelg", "SA", "5045", -34.9800, 138.5150),
    ("Prospect", "SA", "5082", -34.8830, 138.6000),
    ("Fremantle", "WA", "6160", -32.0560, 115.7470),
    ("Subiaco", "WA", "6008", -31.9490, 115.8270),
    ("Scarborough", "WA", "6019", -31.8940, 115.7560),
    ("Sandy Bay", "TAS", "7005", -42.9030, 147.3280),
    ("Launceston", "TAS", "7250", -41.4360, 147.1370),
    ("Parap", "NT", "0820", -12.4310, 130.8420),
    ("Alice Springs", "NT", "0870", -23.6980, 133.8800),
    ("Braddon", "ACT", "2612", -35.2760, 149.1350),
    ("O'Connor", "ACT", "2602", -35.2560, 149.1200),
    ("Kingston", "ACT", "2604", -35.3150, 149.1450),
]
STREETS = [
    "Chapel St",
    "High St",
    "Church St",
    "Smith St",
    "Victoria Pde",
    "George St",
    "King St",
    "Queen St",
    "Station Rd",
    "Park Ave",
    "Beach Rd",
    "Hill St",
    "Wattle Cres",
    "Banksia Way",
]
ZONES = {
    "VIC": ["GRZ1", "NRZ1", "C1Z", "MUZ"],
    "NSW": ["R2", "R3", "B4", "E1"],
    "QLD": ["LDR", "MDR", "PC1"],
    "SA": ["GN", "SN", "UC"],
    "WA": ["R20", "R40", "MU"],
    "TAS": ["GR", "IR", "UMU"],
    "NT": ["LR", "MD", "CB"],
    "ACT": ["RZ1", "RZ2", "CZ5"],
}
# Each project covers a region; its properties are drawn from that region's suburbs.
ORGANISATIONS = [
    (
        "harbour",
        "Harbour Property Analytics",
        {"Victorian Portfolio": ["VIC", "TAS"], "Sydney & Canberra Growth": ["NSW", "ACT"]},
    ),
    (
        "southern-cross",
        "Southern Cross Valuers",
        {"Queensland & Top End Review": ["QLD", "NT"], "Western & Southern Holdings": ["WA", "SA"]},
    ),
]
DWELLINGS = ["house", "unit", "townhouse"]
ROLES = ["admin", "manager", "user", "viewer"]


@dataclass
class DemoSeedResult:
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (org, username, role)
    organizations_created: int = 0
    properties_created: int = 0
    analyses_created: int = 0


def demo_logins() -> list[tuple[str, str, str]]:
    """The demo logins that exist, as (organisation slug, username, role)."""
    return [
        (slug, profile.user.username, profile.role)
        for slug, _, _ in ORGANISATIONS
        for profile in Profile.objects.filter(
            organization__slug=slug, user__username__startswith=f"{slug}-"
        )
        .select_related("user")
        .order_by("user__username")
    ]


def _demo_attributes(slug: str, number: int, states: list[str]) -> dict:
    rng = random.Random(f"{slug}:{number}")
    suburb, state, postcode, lat, lng = rng.choice([s for s in SUBURBS if s[1] in states])
    unit = f"{rng.randint(1, 30)}/" if rng.random() < 0.25 else ""
    address = f"{unit}{rng.randint(1, 399)} {rng.choice(STREETS)}"
    land_area = rng.choice([0, rng.randint(120, 1200)])
    value = rng.randint(45, 420) * 10_000
    return {
        "basic_info": {
            "address": address,
            "suburb": suburb,
            "state": state,
            "postcode": postcode,
            "description": f"{rng.randint(1, 5)} bedroom {rng.choice(DWELLINGS)}",
        },
        "planning_controls": {
            "zoning": {"primary": rng.choice(ZONES[state])},
            **({"land_area": land_area} if land_area else {}),
        },
        "financial_metrics": {
            "estimated_value": value,
            "last_sale_price": round(value * rng.uniform(0.7, 1.0), -3),
            "last_sale_date": f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-15",
        },
        "spatial_attributes": {
            "coordinates": {
                "type": "Point",
                "coordinates": [
                    round(lng + rng.uniform(-0.01, 0.01), 6),
                    round(lat + rng.uniform(-0.01, 0.01), 6),
                ],
            }
        },
    }


@transaction.atomic
def demo_data_seed(*, properties: int = 2000) -> DemoSeedResult:
    """Create the demo organisations with `properties` properties each, or top them up."""
    result = DemoSeedResult()
    User = get_user_model()
    for slug, name, project_regions in ORGANISATIONS:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            # Through the service, so the apps' hooks (integrity schedules) run for it.
            organization = organization_create(
                organization=Organization(slug=slug, name=name, subscription_tier="professional")
            )
            result.organizations_created += 1
        for role in ROLES:
            username = f"{slug}-{role}"
            if not User.objects.filter(username=username).exists():
                member_create(
                    organization=organization,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    full_name=f"{name.split()[0]} {role.title()}",
                    email=f"{username}@example.com",
                )
            result.logins.append((slug, username, role))
        admin_user = Profile.objects.get(user__username=f"{slug}-admin").user
        projects = [
            (
                Project.objects.get_or_create(
                    organization=organization,
                    name=project_name,
                    defaults={
                        "description": f"Demo project of {name}: {', '.join(states)}",
                        "created_by": admin_user,
                    },
                )[0],
                states,
            )
            for project_name, states in project_regions.items()
        ]
        result.properties_created += _seed_properties(
            organization, projects, admin_user, properties
        )
        result.analyses_created += _seed_analyses(organization, admin_user)
    return result


def _seed_properties(organization, projects, user, count: int) -> int:
    wanted = {f"DEMO-{organization.slug}-{n:06d}": n for n in range(1, count + 1)}
    existing = set(
        Property.objects.filter(organization=organization, external_id__in=list(wanted))
        .values_list("external_id", flat=True)
        .iterator(chunk_size=5000)
    )
    new = []
    for external_id, n in wanted.items():
        if external_id in existing:
            continue
        project, states = projects[n % len(projects)]
        new.append(
            Property(
                project=project,
                organization=organization,
                external_id=external_id,
                created_by=user,
                **_demo_attributes(organization.slug, n, states),
            )
        )
    bulk_create_with_history(
        new, Property, batch_size=1000, default_user=user, default_change_reason=DEMO_CHANGE_REASON
    )
    return len(new)


def _seed_analyses(organization, user) -> int:
    # Every seventh demo property gets a financial analysis, once.
    candidates = (
        Property.objects.filter(organization=organization, external_id__startswith="DEMO-")
        .exclude(analyses__isnull=False)
        .only("id", "external_id", "financial_metrics")
    )
    new = []
    for prop in candidates.iterator(chunk_size=2000):
        number = int(prop.external_id.rsplit("-", 1)[1])
        if number % 7:
            continue
        value = prop.financial_metrics.get("estimated_value", 0)
        new.append(
            PropertyAnalysis(
                property=prop,
                organization=organization,
                analysis_type="financial",
                input_parameters={"discount_rate": 0.065, "holding_years": 10},
                results={"net_present_value": round(value * 0.12), "yield": 0.041},
                status="completed",
                created_by=user,
            )
        )
    bulk_create_with_history(
        new,
        PropertyAnalysis,
        batch_size=1000,
        default_user=user,
        default_change_reason=DEMO_CHANGE_REASON,
    )
    return len(new)
