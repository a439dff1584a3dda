"""Property, project and analysis admin: tenancy on every page, roles, the changelist."""

import csv
import io

import pytest
from django.urls import reverse

from properties.models import Project, Property, PropertyAnalysis
from tests.factories import (
    ProjectFactory,
    PropertyAnalysisFactory,
    PropertyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

OWN_ADDRESS = "12 Owner Street"
SECRET_ADDRESS = "99 Secret Avenue"


@pytest.fixture
def data(tenants):
    class Data:
        own_project = ProjectFactory(organization=tenants.owner_org, name="Own Project")
        other_project = ProjectFactory(organization=tenants.other_org, name="Secret Project")
        own_property = PropertyFactory(
            project=own_project,
            basic_info={
                "address": OWN_ADDRESS,
                "suburb": "Richmond",
                "state": "VIC",
                "postcode": "3121",
            },
        )
        other_property = PropertyFactory(
            project=other_project,
            basic_info={
                "address": SECRET_ADDRESS,
                "suburb": "Manly",
                "state": "NSW",
                "postcode": "2095",
            },
        )
        own_analysis = PropertyAnalysisFactory(property=own_property)
        other_analysis = PropertyAnalysisFactory(property=other_property)

    return Data


OWNER_ROLES = ["admin", "manager", "member", "viewer"]
CHANGELISTS = [
    ("properties", "property"),
    ("properties", "project"),
    ("properties", "propertyanalysis"),
]


@pytest.mark.parametrize("role", OWNER_ROLES)
@pytest.mark.parametrize(("app", "model"), CHANGELISTS)
def test_changelist_shows_own_rows_and_nothing_of_another_organisation(
    client, tenants, data, role, app, model
):
    client.force_login(getattr(tenants, role))
    response = client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Secret" not in page and SECRET_ADDRESS not in page
    assert ("Own Project" in page) or (OWN_ADDRESS in page)


@pytest.mark.parametrize("role", OWNER_ROLES)
def test_other_organisations_objects_are_404_on_every_object_page(client, tenants, data, role):
    client.force_login(getattr(tenants, role))
    urls = [
        reverse("admin:properties_property_change", args=[data.other_property.pk]),
        reverse("admin:properties_property_history", args=[data.other_property.pk]),
        reverse("admin:properties_property_delete", args=[data.other_property.pk]),
        reverse("admin:properties_project_change", args=[data.other_project.pk]),
        reverse("admin:properties_project_history", args=[data.other_project.pk]),
        reverse("admin:properties_propertyanalysis_change", args=[data.other_analysis.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code in (403, 404), url
    history_id = data.other_property.history.first().history_id
    version_url = reverse(
        "admin:properties_property_simple_history", args=[data.other_property.pk, history_id]
    )
    assert client.get(version_url).status_code in (403, 404)


def test_a_missing_object_and_another_organisations_object_answer_the_same(client, tenants, data):
    client.force_login(tenants.manager)
    other = client.get(reverse("admin:properties_property_change", args=[data.other_property.pk]))
    missing = client.get(reverse("admin:properties_property_change", args=[10**9]))
    assert other.status_code == missing.status_code == 404


def test_outsider_sees_none_of_the_owner_organisation(client, tenants, data):
    client.force_login(tenants.outsider)
    page = client.get(reverse("admin:properties_property_changelist")).content.decode()
    assert SECRET_ADDRESS in page and OWN_ADDRESS not in page
    response = client.get(reverse("admin:properties_property_change", args=[data.own_property.pk]))
    assert response.status_code == 404


def test_staff_user_without_a_profile_sees_nothing(client, data):
    stranger = UserFactory(username="stranger", is_staff=True)
    client.force_login(stranger)
    assert client.get(reverse("admin:properties_property_changelist")).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert "Properties" not in index


def test_delete_action_never_touches_another_organisations_rows(client, tenants, data):
    client.force_login(tenants.manager)
    response = client.post(
        reverse("admin:properties_property_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [data.other_property.pk, data.own_property.pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert Property.objects.filter(pk=data.other_property.pk).exists()
    assert not Property.objects.filter(pk=data.own_property.pk).exists()


def test_autocomplete_offers_only_own_projects(client, tenants, data):
    client.force_login(tenants.manager)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "properties", "model_name": "property", "field_name": "project", "term": ""},
    )
    assert response.status_code == 200
    names = [item["text"] for item in response.json()["results"]]
    assert names == ["Own Project"]


def test_foreign_key_choices_offer_only_own_rows(client, tenants, data):
    client.force_login(tenants.manager)
    page = client.get(reverse("admin:properties_propertyanalysis_add")).content.decode()
    assert "Secret" not in page and SECRET_ADDRESS not in page
    page = client.get(reverse("admin:properties_property_add")).content.decode()
    assert "Secret Project" not in page
    assert 'name="organization"' not in page


def test_export_contains_only_own_organisation_and_is_formula_safe(client, tenants, data):
    data.own_property.basic_info["address"] = '=HYPERLINK("http://evil")'
    data.own_property.save()
    client.force_login(tenants.manager)
    response = client.post(
        reverse("admin:properties_property_export"),
        {
            "format": "0",
            "resource": "0",
            **{
                f"propertyexportresource_{name}": "on"
                for name in ("external_id", "project", "address", "suburb", "estimated_value")
            },
        },
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["project"] for row in rows] == ["Own Project"]
    assert not rows[0]["address"].startswith("=")


def test_viewer_cannot_export_or_change(client, tenants, data):
    client.force_login(tenants.viewer)
    assert client.get(reverse("admin:properties_property_export")).status_code == 403
    url = reverse("admin:properties_property_change", args=[data.own_property.pk])
    response = client.post(url, {"project": data.own_project.pk, "external_id": "changed"})
    assert response.status_code == 403
    data.own_property.refresh_from_db()
    assert data.own_property.external_id != "changed"


def _property_form(project, **overrides):
    form = {
        "project": project.pk,
        "external_id": "NEW-1",
        "status": "active",
        "address": "5 New Road",
        "suburb": "Fitzroy",
        "state": "VIC",
        "postcode": "3065",
        "estimated_value": "990000",
        "analyses-TOTAL_FORMS": "0",
        "analyses-INITIAL_FORMS": "0",
    }
    form.update(overrides)
    return form


def test_user_role_can_edit_properties_but_not_add_or_delete(client, tenants, data):
    client.force_login(tenants.member)
    assert client.get(reverse("admin:properties_property_add")).status_code == 403
    delete_url = reverse("admin:properties_property_delete", args=[data.own_property.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    change_url = reverse("admin:properties_property_change", args=[data.own_property.pk])
    form = _property_form(
        data.own_project,
        external_id=data.own_property.external_id,
        address=OWN_ADDRESS,
        suburb="Richmond",
        postcode="3121",
        estimated_value="1000000",
    )
    form["analyses-TOTAL_FORMS"] = "1"
    form["analyses-INITIAL_FORMS"] = "1"
    form["analyses-0-id"] = str(data.own_analysis.pk)
    form["analyses-0-property"] = str(data.own_property.pk)
    response = client.post(change_url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    data.own_property.refresh_from_db()
    assert data.own_property.financial_metrics == {"estimated_value": 1000000}


def test_manager_adds_a_property_that_takes_the_organisation_and_creator(client, tenants, data):
    client.force_login(tenants.manager)
    response = client.post(
        reverse("admin:properties_property_add"), _property_form(data.own_project)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = Property.objects.get(external_id="NEW-1")
    assert created.organization == tenants.owner_org
    assert created.created_by == tenants.manager
    record = created.history.get()
    assert record.history_user == tenants.manager


def test_manager_cannot_add_a_property_to_another_organisations_project(client, tenants, data):
    client.force_login(tenants.manager)
    response = client.post(
        reverse("admin:properties_property_add"), _property_form(data.other_project)
    )
    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    assert not Property.objects.filter(external_id="NEW-1").exists()


def test_manager_adds_a_project_in_their_organisation(client, tenants):
    client.force_login(tenants.manager)
    response = client.post(
        reverse("admin:properties_project_add"),
        {"name": "Fresh", "description": "", "config": "{}", "status": "active"},
    )
    assert response.status_code == 302
    project = Project.objects.get(name="Fresh")
    assert project.organization == tenants.owner_org
    assert project.created_by == tenants.manager


def test_property_without_external_id_gets_a_stable_derived_one(client, tenants, data):
    client.force_login(tenants.manager)
    client.post(
        reverse("admin:properties_property_add"), _property_form(data.own_project, external_id="")
    )
    created = Property.objects.get(basic_info__address="5 New Road")
    assert created.external_id.startswith("addr-")


def test_property_changelist_columns_filters_and_search(client, tenants, data):
    PropertyFactory(
        project=data.own_project,
        basic_info={"address": "7 Beach Rd", "suburb": "Manly", "state": "NSW", "postcode": "2095"},
        planning_controls={"zoning": {"primary": "R2"}},
        financial_metrics={"estimated_value": 1234567},
    )
    client.force_login(tenants.manager)
    url = reverse("admin:properties_property_changelist")
    page = client.get(url).content.decode()
    for header in (
        "Address",
        "Suburb",
        "State",
        "Postcode",
        "Zoning",
        "Estimated value",
        "Status",
        "Project",
    ):
        assert header in page
    assert "$1,234,567" in page
    # The project filter lists only own projects.
    assert "Own Project" in page and "Secret Project" not in page

    def addresses(params):
        body = client.get(url, params).content.decode()
        return {a for a in (OWN_ADDRESS, "7 Beach Rd", SECRET_ADDRESS) if a in body}

    assert addresses({"state": "NSW"}) == {"7 Beach Rd"}
    assert addresses({"zoning": "R2"}) == {"7 Beach Rd"}
    assert addresses({"q": "beach"}) == {"7 Beach Rd"}
    assert addresses({"q": "2095"}) == {"7 Beach Rd"}  # the other org's Manly never shows
    assert addresses({"q": "manly"}) == {"7 Beach Rd"}
    assert addresses({"q": data.own_property.external_id}) == {OWN_ADDRESS}
    assert addresses({"project__id__exact": data.own_project.pk}) == {OWN_ADDRESS, "7 Beach Rd"}


def test_suburb_and_estimated_value_filters_list_and_narrow_own_rows_only(client, tenants, data):
    PropertyFactory(
        project=data.own_project,
        basic_info={"address": "7 Beach Rd", "suburb": "Manly", "state": "NSW"},
        financial_metrics={"estimated_value": 1234567},
    )
    PropertyFactory(
        project=data.own_project,
        basic_info={"address": "3 Low St", "suburb": "Richmond"},
        financial_metrics={"estimated_value": 420000},
    )
    url = reverse("admin:properties_property_changelist")

    def addresses(user, params):
        client.force_login(user)
        body = client.get(url, params).content.decode()
        return {a for a in (OWN_ADDRESS, "7 Beach Rd", "3 Low St", SECRET_ADDRESS) if a in body}

    client.force_login(tenants.manager)
    page = client.get(url).content.decode()
    assert "?suburb=Manly" in page and "?suburb=Richmond" in page and "?value=1m-2m" in page
    assert addresses(tenants.manager, {"suburb": "Manly"}) == {"7 Beach Rd"}
    assert addresses(tenants.manager, {"suburb": "Richmond"}) == {OWN_ADDRESS, "3 Low St"}
    assert addresses(tenants.manager, {"value": "1m-2m"}) == {"7 Beach Rd"}
    assert addresses(tenants.manager, {"value": "lt500k"}) == {"3 Low St"}
    assert addresses(tenants.manager, {"value": "500k-1m"}) == {OWN_ADDRESS}
    assert addresses(tenants.manager, {"value": "2m+"}) == set()
    # The outsider (the other organisation's admin) gets its own Manly row, none of the owner's.
    assert addresses(tenants.outsider, {"suburb": "Manly"}) == {SECRET_ADDRESS}
    assert addresses(tenants.outsider, {"value": "1m-2m"}) == set()


def test_changelist_runs_no_count_over_the_whole_table(
    client, tenants, data, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(tenants.manager)
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("admin:properties_property_changelist"))
    counts = [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper() and "properties_property" in q["sql"]
    ]
    # Django would add a second, unfiltered COUNT for "N total"; it is switched off.
    assert all("organization_id" in sql for sql in counts), counts


def test_superuser_sees_every_organisation(client, data):
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    page = client.get(reverse("admin:properties_property_changelist")).content.decode()
    assert OWN_ADDRESS in page and SECRET_ADDRESS in page


def test_analysis_admin_is_scoped(client, tenants, data):
    client.force_login(tenants.outsider)
    response = client.get(
        reverse("admin:properties_propertyanalysis_change", args=[data.own_analysis.pk])
    )
    assert response.status_code == 404
    assert PropertyAnalysis.objects.filter(pk=data.own_analysis.pk).exists()


def test_large_changelists_use_the_planner_estimate_instead_of_count(
    client, tenants, data, on_postgres, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from properties import pagination

    Property.objects.bulk_create(
        Property(project=data.own_project, organization=tenants.owner_org, external_id=f"B{n}")
        for n in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE properties_property")
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 100)
    client.force_login(tenants.manager)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:properties_property_changelist"))
    assert response.status_code == 200
    assert not [
        q for q in queries if "COUNT(" in q["sql"].upper() and "properties_property" in q["sql"]
    ]
    estimate = response.context["cl"].result_count
    assert 200 <= estimate <= 400  # the planner's figure for the 302 rows


def test_the_changelists_compose_the_extensions_other_apps_register(
    client, tenants, data, monkeypatch
):
    # imports and integrity register the Import button and the check filter from their own
    # admin modules; one more extension shows up the same way, for the roles it chooses.
    from django.contrib.admin import SimpleListFilter

    from organizations.tenancy import scope_of
    from properties import admin as property_admin
    from properties.admin import ChangelistExtension, ObjectTool

    class ExtensionFilter(SimpleListFilter):
        title = "extension filter"
        parameter_name = "extension"

        def lookups(self, request, model_admin):
            return [("yes", "Yes")]

        def queryset(self, request, queryset):
            return queryset.none() if self.value() else queryset

    def managers_only(request, model_admin):
        if not scope_of(request).can("properties.import_property"):
            return []
        return [ObjectTool(label="Extension link", url="/extension/")]

    extension = ChangelistExtension(list_filters=(ExtensionFilter,), object_tools=managers_only)
    registered = property_admin.changelist_extensions(Property)
    monkeypatch.setitem(property_admin._CHANGELIST_EXTENSIONS, Property, [*registered, extension])
    url = reverse("admin:properties_property_changelist")

    client.force_login(tenants.manager)
    page = client.get(url).content.decode()
    assert 'href="/extension/"' in page and "By extension filter" in page
    assert reverse("admin:properties_property_import") in page  # imports' button
    assert "By integrity check" in page  # integrity's filter
    assert client.get(url, {"extension": "yes"}).context["cl"].result_count == 0

    client.force_login(tenants.viewer)
    page = client.get(url).content.decode()
    assert 'href="/extension/"' not in page and "By extension filter" in page
    assert OWN_ADDRESS in page and SECRET_ADDRESS not in page


def test_a_filter_that_matches_nothing_lists_nothing(client, tenants, data):
    # An unknown check slug makes the integrity filter return `none()`, which has no SQL for
    # the paginator's planner estimate on PostgreSQL: the page lists nothing, without an error.
    client.force_login(tenants.manager)
    url = reverse("admin:properties_property_changelist")
    response = client.get(url, {"integrity_check": "no-such-check"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
    assert OWN_ADDRESS not in response.content.decode()


def _seed(project, first: int, last: int, **fields):
    """Rows `first`..`last` of `project` in one INSERT ... SELECT (PostgreSQL), numbered so
    their ids rise with n."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO properties_property (project_id, organization_id, external_id,
                basic_info, planning_controls, environmental_factors, financial_metrics,
                spatial_attributes, status, created_at, updated_at)
            SELECT %(project)s, %(org)s, 'S' || n,
                jsonb_build_object('address', n || ' Seed St', 'state', %(state)s),
                jsonb_build_object('zoning', jsonb_build_object('primary', %(zoning)s)),
                '{}', '{}', '{}', 'active', now(), now()
            FROM generate_series(%(first)s, %(last)s) AS n
            """,
            {
                "project": project.pk,
                "org": project.organization_id,
                "first": first,
                "last": last,
                "state": fields.get("state", "VIC"),
                "zoning": fields.get("zoning", "GRZ1"),
            },
        )
        cursor.execute("ANALYZE properties_property")


def test_the_changelist_lists_newest_first_and_a_column_sort_still_applies(client, tenants, data):
    older = PropertyFactory(
        project=data.own_project,
        basic_info={"address": "1 Older Lane"},
        financial_metrics={"estimated_value": 900_000},
    )
    newer = PropertyFactory(
        project=data.own_project,
        basic_info={"address": "2 Newer Lane"},
        financial_metrics={"estimated_value": 100_000},
    )
    PropertyFactory(project=data.other_project, basic_info={"address": "3 Newest Secret Lane"})
    url = reverse("admin:properties_property_changelist")

    def order(user, params=None):
        client.force_login(user)
        page = client.get(url, params or {}).content.decode()
        shown = [a for a in ("1 Older Lane", "2 Newer Lane", "3 Newest Secret Lane") if a in page]
        return sorted(shown, key=page.index)

    assert order(tenants.manager) == [newer.address, older.address]
    # Each row's selection checkbox, as Django's widget writes it, selects for an action.
    page = client.get(url).content.decode()
    assert (
        f'<input type="checkbox" name="_selected_action" value="{newer.pk}" '
        f'class="action-select" aria-label="Select this object for an action - {newer.address}">'
    ) in page
    response = client.post(
        url, {"action": "delete_selected", "_selected_action": [newer.pk]}, follow=True
    )
    assert response.status_code == 200 and newer.address in response.content.decode()
    assert order(tenants.manager, {"o": "-6"}) == [older.address, newer.address]  # value, desc
    assert order(tenants.manager, {"o": "6"}) == [newer.address, older.address]
    # The other organisation's newest row never shows; its own member sees only it.
    assert order(tenants.outsider) == ["3 Newest Secret Lane"]


def test_the_first_page_reads_the_tenant_index_past_other_tenants_newer_rows(
    client, tenants, data, on_postgres
):
    # The big tenant's rows are older than the other tenant's: read through the primary key
    # backwards, the first page would first skip every one of the other tenant's rows.
    from django.db import connection

    _seed(data.own_project, 1, 30_000)
    _seed(data.other_project, 30_001, 36_000)
    client.force_login(tenants.manager)
    response = client.get(reverse("admin:properties_property_changelist"))
    shown = response.context["cl"].result_list
    assert [p.external_id for p in shown[:2]] == ["S30000", "S29999"]
    assert {p.organization_id for p in shown} == {tenants.owner_org.pk}
    sql, params = response.context["cl"].queryset[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "property_org_recent_idx" in plan, plan
    assert "properties_property_pkey" not in plan, plan


def test_the_planner_estimates_the_state_and_zoning_filters_from_statistics(
    tenants, data, on_postgres
):
    # Without statistics on the state the planner guessed 0.5% of rows for any state, so the
    # paginator counted hundreds of thousands of rows it believed were a few hundred.
    from properties.models import STATE, ZONING
    from properties.pagination import planner_row_estimate

    _seed(data.own_project, 1, 20_000, state="VIC", zoning="C1Z")
    _seed(data.own_project, 20_001, 30_000, state="NSW", zoning="GRZ1")
    filtered = (
        Property.objects.filter(organization=tenants.owner_org)
        .alias(state_code=STATE, zone=ZONING)
        .filter(state_code="VIC", zone="C1Z")
    )
    assert filtered.count() == 20_000
    assert 10_000 <= planner_row_estimate(filtered) <= 40_000
