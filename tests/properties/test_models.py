import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from properties.models import Property, derive_external_id
from tests.factories import MemberFactory, OrganizationFactory, ProjectFactory, PropertyFactory

pytestmark = pytest.mark.django_db


def test_property_takes_its_organisation_from_its_project(tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    prop = Property(project=project, external_id="A", organization=tenants.other_org)
    prop.save()
    prop.refresh_from_db()
    assert prop.organization == tenants.owner_org


def test_moving_a_property_to_another_project_moves_its_organisation(tenants):
    prop = PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    prop.project = ProjectFactory(organization=tenants.other_org)
    prop.save(update_fields=["project"])
    prop.refresh_from_db()
    assert prop.organization == tenants.other_org


def test_a_project_cannot_move_to_another_organisation(tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    project.organization = tenants.other_org
    with pytest.raises(ValidationError):
        project.save()
    project.refresh_from_db()
    assert project.organization == tenants.owner_org


def test_updated_at_changes_on_every_save_even_with_update_fields(tenants):
    prop = PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    first = prop.updated_at
    time.sleep(0.01)
    prop.status = "archived"
    prop.save(update_fields=["status"])
    prop.refresh_from_db()
    assert prop.updated_at > first


def test_external_id_is_unique_per_project_but_not_across_projects(tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    PropertyFactory(project=project, external_id="SAME")
    PropertyFactory(project=ProjectFactory(organization=tenants.owner_org), external_id="SAME")
    with pytest.raises(IntegrityError), transaction.atomic():
        PropertyFactory(project=project, external_id="SAME")


def test_a_property_cannot_claim_another_organisation_than_its_projects(tenants, on_postgres):
    # The (project, organisation) foreign key: not even a raw UPDATE, which skips save().
    prop = PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    with pytest.raises(IntegrityError), transaction.atomic():
        Property.objects.filter(pk=prop.pk).update(organization=tenants.other_org)
        connection.check_constraints()  # the key is deferred, like Django's: check it now
    prop.refresh_from_db()
    assert prop.organization == tenants.owner_org


def test_deleting_a_user_clears_their_properties_creator_without_a_database_key(tenants):
    # property.created_by has no key constraint (a bulk import checked it per row); Django's
    # SET_NULL still clears it, and the property and its history stay.
    creator = MemberFactory(organization=tenants.owner_org, role="user").user
    prop = PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    Property.objects.filter(pk=prop.pk).update(created_by=creator)
    creator.delete()
    prop.refresh_from_db()
    assert prop.created_by is None
    assert prop.history.exists()


def test_derived_external_id_is_stable_and_ignores_case_and_punctuation():
    one = derive_external_id(
        {"address": "12/3 Chapel St.", "suburb": "St Kilda", "postcode": "3182"}
    )
    two = derive_external_id(
        {"address": "12/3  chapel st", "suburb": "ST KILDA", "postcode": "3182"}
    )
    other = derive_external_id(
        {"address": "12/4 Chapel St", "suburb": "St Kilda", "postcode": "3182"}
    )
    assert one == two != other


def test_estimated_value_must_be_a_number():
    prop = Property(financial_metrics={"estimated_value": "lots"})
    with pytest.raises(ValidationError):
        prop.clean()
    Property(financial_metrics={"estimated_value": 1.5e6}).clean()


def test_analysis_takes_its_property_organisation(tenants):
    from tests.factories import PropertyAnalysisFactory

    org = OrganizationFactory()
    analysis = PropertyAnalysisFactory(
        property=PropertyFactory(project=ProjectFactory(organization=org))
    )
    assert analysis.organization == org
