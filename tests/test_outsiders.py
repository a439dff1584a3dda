"""Every public selector and service of imports and properties that takes an actor refuses an
outsider (a member of another organisation): a row of theirs is `DoesNotExist` like a missing
one, a list holds none of their rows, an action is `AccessDenied`; nothing is written.

The functions are found by walking the modules, so one added later without a case here fails
`test_every_function_that_takes_an_actor_has_a_case`."""

import inspect
import io
from functools import partial

import pytest
from django.core.exceptions import ValidationError

from imports import selectors as import_selectors
from imports.models import ImportJob
from imports.services import jobs
from organizations.access import AccessDenied
from properties import exports
from properties import selectors as property_selectors
from properties.models import Project, Property
from tests.factories import ProjectFactory, PropertyFactory
from tests.imports.conftest import csv_bytes, valid_row

pytestmark = pytest.mark.django_db

MODULES = (import_selectors, jobs, property_selectors, exports)


def _takes_an_actor():
    found = {}
    for module in MODULES:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            parameters = inspect.signature(function).parameters
            if "actor" in parameters or "user" in parameters:
                found[f"{module.__name__}.{name}"] = function
    return found


@pytest.fixture
def estate(tenants):
    """The owner organisation's project, property and pending job."""
    project = ProjectFactory(organization=tenants.owner_org)
    prop = PropertyFactory(project=project, planning_controls={"zoning": {"primary": "OWNER-ZONE"}})
    job = jobs.import_job_create(
        actor=tenants.manager,
        project=project,
        file=io.BytesIO(csv_bytes(valid_row(1))),
        file_name="owner.csv",
    )
    return project, prop, job


def _refused(error):
    def check(call):
        with pytest.raises(error):
            call()

    return check


def _sees_none_of(rows_of):
    def check(call):
        result = call()
        assert not set(rows_of()) & set(result), result

    return check


# name -> (the arguments besides the actor, given the estate; how the refusal shows)
CASES = {
    "imports.selectors.import_job_list": (
        lambda project, prop, job: {},
        _sees_none_of(lambda: ImportJob.objects.all()),
    ),
    "imports.selectors.import_job_get": (
        lambda project, prop, job: {"job_id": job.pk},
        _refused(ImportJob.DoesNotExist),
    ),
    "imports.services.jobs.import_job_create": (
        lambda project, prop, job: {"project": project, "file": io.BytesIO(b"address\n")},
        _refused(AccessDenied),
    ),
    **{
        f"imports.services.jobs.{verb}": (
            lambda project, prop, job: {"job": job},
            _refused(AccessDenied),
        )
        for verb in ("import_preview", "import_run", "import_resume", "import_cancel")
    },
    "properties.selectors.project_list": (
        lambda project, prop, job: {},
        _sees_none_of(lambda: Project.objects.all()),
    ),
    "properties.selectors.project_get": (
        lambda project, prop, job: {"project_id": project.pk},
        _refused(Project.DoesNotExist),
    ),
    "properties.selectors.property_list": (
        lambda project, prop, job: {"project": project},
        _sees_none_of(lambda: Property.objects.all()),
    ),
    "properties.selectors.zoning_values": (
        lambda project, prop, job: {},
        _sees_none_of(lambda: ["OWNER-ZONE"]),
    ),
    "properties.exports.property_export": (
        lambda project, prop, job: {"project": project},
        _refused(AccessDenied),
    ),
}


def test_every_function_that_takes_an_actor_has_a_case():
    assert sorted(_takes_an_actor()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_outsider_is_refused(name, tenants, estate):
    project, prop, job = estate
    function = _takes_an_actor()[name]
    arguments, check = CASES[name]
    parameter = "actor" if "actor" in inspect.signature(function).parameters else "user"
    before = (ImportJob.objects.count(), Property.objects.count(), Project.objects.count())

    check(lambda: function(**{parameter: tenants.outsider}, **arguments(project, prop, job)))

    job.refresh_from_db()
    assert job.status == ImportJob.Status.PENDING and job.user == tenants.manager
    assert (ImportJob.objects.count(), Property.objects.count(), Project.objects.count()) == before


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_owner_is_not_refused(name, tenants, estate):
    # The same calls as the owner's manager succeed: the refusals above are about the tenant.
    project, prop, job = estate
    function = _takes_an_actor()[name]
    arguments, _ = CASES[name]
    call = partial(function, actor=tenants.manager, **arguments(project, prop, job))
    if name.endswith("import_resume"):
        # Past the access check, a pending job is refused for what it is.
        with pytest.raises(ValidationError, match="only an interrupted or failed import"):
            call()
    else:
        call()
