import pytest

from sources import selectors
from sources.models import DataSource, SyncRun

from .helpers import ckan_source, sync
from .portal import make_record


@pytest.fixture
def synced(tenants, project, portal):
    portal.load([make_record(1)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    return source, sync(source, tenants.admin)


@pytest.mark.django_db
class TestSelectors:
    def test_owner_and_member_see_the_source_outsider_sees_nothing(self, tenants, synced):
        source, run = synced
        for user in (tenants.admin, tenants.viewer):
            assert list(selectors.source_list(actor=user)) == [source]
            assert list(selectors.run_list(actor=user, source=source)) == [run]
        assert not selectors.source_list(actor=tenants.outsider).exists()
        assert not selectors.run_list(actor=tenants.outsider).exists()
        with pytest.raises(DataSource.DoesNotExist):
            selectors.source_get(actor=tenants.outsider, pk=source.pk)
        with pytest.raises(SyncRun.DoesNotExist):
            selectors.run_get(actor=tenants.outsider, pk=run.pk)

    def test_provenance_of_a_property(self, tenants, synced):
        source, run = synced
        prop = source.project.properties.get()
        records = list(selectors.property_provenance(actor=tenants.viewer, property_id=prop.pk))
        assert [(r.source, r.first_run) for r in records] == [(source, run)]
        assert not selectors.property_provenance(
            actor=tenants.outsider, property_id=prop.pk
        ).exists()
