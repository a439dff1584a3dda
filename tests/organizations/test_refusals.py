"""Permissions shown as they are: every role walks the admin and meets no link to a refusal; a
refused page is the admin's own and says which role it needs; a refusal is one log line."""

import io
import logging
import re
from collections import deque

import pytest
from django.urls import reverse

from backups.models import BackupConfig, BackupExecution, RestoreExecution
from imports.models import ImportJob
from integrity.services.reports import integrity_report_create
from tests.factories import ProjectFactory, PropertyAnalysisFactory, PropertyFactory, UserFactory

LINK = re.compile(r'href="(/admin/[^"?#]*)')
#: Not pages of the admin's data: leaving, the password form, "view on site" redirects.
NOT_WALKED = ("/admin/logout/", "/admin/password_change/", "/admin/r/")


@pytest.fixture
def estate(tenants):
    """One row of every kind in the owner organisation, created by its manager, and one
    property of the other organisation."""
    org, manager = tenants.owner_org, tenants.manager
    project = ProjectFactory(organization=org, created_by=manager)
    prop = PropertyFactory(project=project, created_by=manager)
    prop.status = "archived"
    prop._change_reason = "edited in admin"
    prop.save()
    PropertyAnalysisFactory(property=prop, created_by=manager)
    ImportJob.objects.create(organization=org, project=project, user=manager, file_name="a.csv")
    config = BackupConfig.objects.create(organization=org)
    backup = BackupExecution.objects.create(
        organization=org, config=config, created_by=manager, status="completed"
    )
    RestoreExecution.objects.create(organization=org, backup=backup, actor=manager, counts={})
    integrity_report_create(organization=org)
    other = PropertyFactory(project=ProjectFactory(organization=tenants.other_org))
    return {"property": prop, "other_property": other}


def _walk(client) -> dict[str, tuple[int, str]]:
    """Every admin page reachable by links from the index, one page per URL shape (ids
    replaced), with its status and the page that linked to it."""
    seen, statuses = set(), {}
    queue = deque([("/admin/", None)])
    while queue:
        url, found_on = queue.popleft()
        response = client.get(url)
        statuses[url] = (response.status_code, found_on)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        for link in LINK.findall(response.content.decode()):
            shape = re.sub(r"/\d+/", "/N/", link)
            if shape in seen or any(part in link for part in NOT_WALKED):
                continue
            seen.add(shape)
            queue.append((link, url))
    return statuses


@pytest.mark.parametrize("role", ["viewer", "member", "manager", "admin", "superuser"])
def test_no_role_is_shown_a_link_it_cannot_follow(client, tenants, estate, role):
    user = UserFactory(is_superuser=True) if role == "superuser" else getattr(tenants, role)
    client.force_login(user)
    statuses = _walk(client)
    refused = {url: found for url, found in statuses.items() if found[0] >= 400}
    assert not refused, refused
    # The walk reached a property's page and, for managers up, its history.
    shapes = {re.sub(r"/\d+/", "/N/", url) for url in statuses}
    assert "/admin/properties/property/N/change/" in shapes
    assert "/admin/backups/backupexecution/N/change/" in shapes
    has_history = "/admin/properties/property/N/history/" in shapes
    assert has_history == (role in ("manager", "admin", "superuser"))


def test_history_button_and_changed_by_links_follow_the_role(client, tenants, estate):
    prop = estate["property"]
    change = reverse("admin:properties_property_change", args=[prop.pk])
    history = reverse("admin:properties_property_history", args=[prop.pk])
    for user in (tenants.viewer, tenants.member):
        client.force_login(user)
        assert 'class="historylink"' not in client.get(change).content.decode()
    client.force_login(tenants.manager)
    assert 'class="historylink"' in client.get(change).content.decode()
    html = client.get(history).content.decode()
    # "Changed by" names the login, without a link to the user admin a manager cannot open.
    assert "/admin/auth/user/" not in html
    assert tenants.manager.username in html
    # A read-only "created by" links to the member page, which every role may open.
    job = ImportJob.objects.get()
    client.force_login(tenants.viewer)
    html = client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert "/admin/auth/user/" not in html
    member_url = reverse("admin:organizations_profile_change", args=[tenants.manager.profile.pk])
    assert member_url in html
    assert client.get(member_url).status_code == 200
    # An outsider is not shown the owner organisation's property at all.
    client.force_login(tenants.outsider)
    assert client.get(change).status_code == 404
    assert client.get(history).status_code == 404


def test_refused_page_is_the_admins_own_and_names_the_role(client, tenants, estate):
    prop = estate["property"]
    client.force_login(tenants.viewer)
    response = client.get(reverse("admin:properties_property_history", args=[prop.pk]))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="site-name"' in html  # the admin's header, from admin/base_site.html
    assert f"This needs the manager role or above; {tenants.viewer.username} is a viewer." in html
    # A bare PermissionDenied from Django's admin is worded from the URL's permission.
    response = client.get(reverse("admin:properties_property_add"))
    assert response.status_code == 403
    assert "This needs the manager role or above" in response.content.decode()
    client.force_login(tenants.manager)
    response = client.get(reverse("admin:backups_backupconfig_changelist"))
    assert response.status_code == 403
    assert f"This needs the admin role or above; {tenants.manager.username} is a manager." in (
        response.content.decode()
    )


def test_a_refusal_is_logged_as_one_line_without_traceback(client, tenants, estate, caplog):
    client.force_login(tenants.member)
    url = reverse("admin:properties_property_history", args=[estate["property"].pk])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(url).status_code == 403
    records = [record for record in caplog.records if record.name == "django.request"]
    assert len(records) == 1
    record = records[0]
    assert record.exc_info is None and record.exc_text is None
    line = logging.Formatter().format(record)
    assert "\n" not in line
    assert url in line
    assert f"user={tenants.member.username}" in line
    assert "This needs the manager role or above" in line
    # Other request warnings keep Django's wording.
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/admin/properties/property/999999/change/")
    assert all("user=" not in r.getMessage() for r in caplog.records[1:])


def test_logging_configured_twice_still_writes_the_refusal_once(client, tenants, estate):
    # runserver sets Django up a second time for its WSGI handler, attaching filters again.
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger("django.request").addHandler(handler)
    try:
        client.force_login(tenants.viewer)
        client.get(reverse("admin:properties_property_history", args=[estate["property"].pk]))
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].count("user=") == 1, lines
