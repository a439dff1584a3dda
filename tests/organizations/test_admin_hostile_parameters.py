"""Every changelist of the admin site, walked with hostile filter, search, ordering and paging
parameters: never a server error, and nothing changes. The parameters are derived from each
admin's own `list_filter`, so a changelist or filter added later is walked too."""

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.admin import SimpleListFilter
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, QueryDict
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from properties.models import Property
from tests.factories import PropertyFactory, UserFactory

pytestmark = pytest.mark.django_db

#: Not a number, a NUL, a float overflow, past Python's 4,300-digit conversion limit, a lone
#: surrogate, an impossible date.
HOSTILE_VALUES = ["abc", "1\x00", "1e400", "9" * 5000, "\ud800", "2026-13-45"]
ALWAYS = ["q", "p", "o", "_to_field", "no_such_parameter"]


def _parameters(model_admin, request) -> list[str]:
    names = list(ALWAYS)
    # Every foreign key, filtered or not: a lookup the admin does not allow is a 400.
    names += [
        f"{field.name}__id__exact"
        for field in model_admin.model._meta.concrete_fields
        if field.many_to_one
    ]
    if model_admin.date_hierarchy:
        names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    # The filters the page shows this user, extensions' (the integrity check filter) included.
    for entry in model_admin.get_list_filter(request):
        if isinstance(entry, type) and issubclass(entry, SimpleListFilter):
            names.append(entry.parameter_name)
            continue
        field_name = entry[0] if isinstance(entry, (list, tuple)) else entry
        if not isinstance(field_name, str):
            continue
        names += [f"{field_name}__exact", f"{field_name}__isnull"]
        try:
            field = model_admin.model._meta.get_field(field_name.split("__")[0])
        except Exception:
            continue
        if field.is_relation:
            names.append(f"{field_name}__id__exact")
        if isinstance(field, (models.DateField, models.DateTimeField)):
            names.append(f"{field_name}__gte")
    return names


def _changelists():
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        try:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        except NoReverseMatch:
            continue
        yield pytest.param(model_admin, url, id=f"{opts.app_label}.{opts.model_name}")


@pytest.mark.parametrize(("model_admin", "url"), list(_changelists()))
def test_hostile_parameters_on_every_changelist_are_no_server_error(
    client, tenants, model_admin, url
):
    # A superuser reaches every changelist; tests/organizations/test_admin_parameters.py walks
    # the tenant-scoped ones as a manager.
    PropertyFactory(project__organization=tenants.owner_org)
    before = list(Property.objects.values_list("pk", "basic_info", "updated_at"))
    superuser = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(superuser)
    request = RequestFactory().get(url)
    request.user = superuser
    client.raise_request_exception = False

    failures = []
    for parameter in _parameters(model_admin, request):
        for value in HOSTILE_VALUES:
            # Percent-encoded by hand: a lone surrogate arrives as its raw UTF-8 bytes.
            query = f"{quote(parameter)}={quote(value, errors='surrogatepass')}"
            # A redirect (an ignored parameter, Django's ?e=1) goes to a plain changelist.
            response = client.get(f"{url}?{query}")
            if response.status_code >= 500:
                failures.append((parameter, value[:20], response.status_code))

    assert not failures
    assert list(Property.objects.values_list("pk", "basic_info", "updated_at")) == before


def test_an_outsiders_hostile_filter_shows_none_of_the_owners_rows(client, tenants):
    owned = PropertyFactory(project__organization=tenants.owner_org, external_id="OWNED-1")
    url = reverse("admin:properties_property_changelist")
    # The owner's manager, with a normal filter value, sees the row: the check below can fail.
    client.force_login(tenants.manager)
    response = client.get(url, {"project__id__exact": str(owned.project_id)})
    assert [row.pk for row in response.context["cl"].result_list] == [owned.pk]

    client.force_login(tenants.outsider)
    for value in (str(owned.project_id), f"{owned.project_id}\x00", "abc"):
        response = client.get(url, {"project__id__exact": value}, follow=True)
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == []


# Forms ---------------------------------------------------------------------------------------

#: As typed into a form field: raw text, and JSON texts holding what JSON columns refuse. (A
#: raw lone surrogate cannot arrive in a POST: Django decodes the body with replacement.)
HOSTILE_INPUTS = [
    "1\x00",
    "1e400",
    "NaN",
    "9" * 5000,
    "[" * 5000 + "]" * 5000,
    '{"a": ' * 5000 + "1" + "}" * 5000,
    '"\\ud800"',
    '{"address": "1 Nul\\u0000 St"}',
    '{"address": 1e400}',
    '["a list", "not an object"]',
]
EXCEPTION_NAMES = ("Error:", "Exception", "Traceback", "Exceeds the limit")


def _admin_forms():
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        yield pytest.param(model_admin, id=f"{opts.app_label}.{opts.model_name}")


@pytest.mark.parametrize("model_admin", list(_admin_forms()))
def test_every_admin_form_answers_hostile_input_in_words(rf, model_admin):
    """Each field of each admin's add form, given each hostile input: validated and shown
    again without an exception, and any error is a sentence, not an exception's name."""
    superuser = UserFactory(is_superuser=True, is_staff=True)
    request = rf.get("/")
    request.user = superuser
    if not model_admin.has_add_permission(request):
        # A read-only admin (records the application writes), or one whose rows belong to the
        # acting member's organisation, offers this superuser no form to type into: its add
        # page refuses.
        with pytest.raises((PermissionDenied, Http404)):
            model_admin.add_view(request)
        return
    form_class = model_admin.get_form(request)

    for name in form_class.base_fields:
        for value in HOSTILE_INPUTS:
            data = QueryDict(mutable=True)
            data[name] = value  # as a POST body arrives
            form = form_class(data=data)
            form.is_valid()
            rendered = "".join(str(bound) for bound in form)
            errors = " ".join(str(message) for message in form.errors.get(name, []))
            assert not any(word in errors for word in EXCEPTION_NAMES), (name, errors)
            assert rendered


def test_a_dropped_parameter_redirects_to_a_local_path_only(client, tenants):
    # The middleware sends the request back to its own path without the parameter; a path that
    # starts with `//` must not become a redirect to another host.
    client.force_login(tenants.manager)

    response = client.get("/x", {"q": "a\x00b"}, PATH_INFO="//evil.example/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/%2F")
    assert "q=" not in response["Location"]

    followed = client.get(reverse("admin:properties_property_changelist"), {"q": "a\x00b"})
    assert followed.status_code == 302
    assert followed["Location"] == reverse("admin:properties_property_changelist") + "?"
