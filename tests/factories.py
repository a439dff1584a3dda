import factory
from django.contrib.auth import get_user_model

from imports.models import ImportJob
from organizations.models import Organization, Profile
from properties.models import Project, Property, PropertyAnalysis


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save_password(user, create, extracted, **kwargs):
        if create:
            user.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Through the service, as the admin creates them: other apps' hooks (integrity's daily
        # schedule) run for every organisation a test makes.
        from organizations.services import organization_create

        existing = model_class.objects.filter(slug=kwargs.get("slug")).first()
        if existing is not None:
            return existing
        return organization_create(organization=model_class(*args, **kwargs))


class MemberFactory(factory.django.DjangoModelFactory):
    """A Profile, with its user and organisation."""

    class Meta:
        model = Profile

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = "user"
    full_name = factory.LazyAttribute(lambda profile: profile.user.username.title())


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class PropertyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Property

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"EXT-{n:06d}")
    basic_info = factory.Sequence(
        lambda n: {
            "address": f"{n + 1} Chapel St",
            "suburb": "Richmond",
            "state": "VIC",
            "postcode": "3121",
        }
    )
    planning_controls = factory.LazyFunction(lambda: {"zoning": {"primary": "GRZ1"}})
    financial_metrics = factory.LazyFunction(lambda: {"estimated_value": 850000})
    spatial_attributes = factory.LazyFunction(
        lambda: {"coordinates": {"type": "Point", "coordinates": [144.998, -37.823]}}
    )


class PropertyAnalysisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PropertyAnalysis

    property = factory.SubFactory(PropertyFactory)
    analysis_type = "financial"
    input_parameters = factory.LazyFunction(lambda: {"discount_rate": 0.06})


class ImportJobFactory(factory.django.DjangoModelFactory):
    """An import job row as the admin lists it; its organisation is its project's."""

    class Meta:
        model = ImportJob

    project = factory.SubFactory(ProjectFactory)
    organization = factory.SelfAttribute("project.organization")
    file_name = "sales.csv"


def migrate_to(targets):
    """Migrates the test database to `targets` ((app, migration) pairs; None: before the app's
    first) and returns the app registry of that state, or None when an app was unapplied."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    if any(name is None for _, name in targets):
        return None
    return executor.loader.project_state(targets).apps


def latest_migrations(app: str | None = None):
    """The newest migration of `app` (of every app when None), as migration targets."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    return MigrationExecutor(connection).loader.graph.leaf_nodes(app)


def historical_project(apps, *, slug: str):
    """An organisation `slug` and a project of it, in the historical models of `apps` (the
    state a migration test has migrated to)."""
    org = apps.get_model("organizations", "Organization").objects.create(
        name="Round trip", slug=slug
    )
    return org, apps.get_model("properties", "Project").objects.create(organization=org, name="P")
