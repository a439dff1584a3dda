"""The admin works under the Content-Security-Policy: every script it runs is either a file
of this site or carries the page's nonce, and no page relies on inline event handlers."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from imports.models import ImportJob
from tests.factories import ProjectFactory, PropertyFactory, UserFactory

pytestmark = pytest.mark.django_db


class _ScriptAudit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_nonces: list[str | None] = []
        self.external: list[str] = []
        self.handlers: list[str] = []
        self.javascript_urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.handlers += [f"<{tag} {name}>" for name, _ in attrs if name.startswith("on")]
        self.javascript_urls += [
            value
            for name, value in attrs
            if name in {"href", "src", "action"} and (value or "").lower().startswith("javascript:")
        ]
        if tag == "script":
            if attributes.get("src"):
                self.external.append(attributes["src"])
            elif attributes.get("type") != "application/json":  # data, never executed
                self.inline_nonces.append(attributes.get("nonce"))


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in directives}


def _audit(response):
    assert response.status_code == 200, response
    policy = _policy(response)
    audit = _ScriptAudit()
    audit.feed(response.content.decode())
    nonces = {word[len("'nonce-") : -1] for word in policy["script-src"] if "nonce-" in word}
    for nonce in audit.inline_nonces:
        assert nonce in nonces, f"inline script without the page's nonce on {response.request}"
    # Same origin: a path of this site (static files, the admin's translation catalogue).
    assert all(src.startswith("/") and not src.startswith("//") for src in audit.external)
    assert audit.handlers == []
    assert audit.javascript_urls == []
    return policy, audit


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


def test_the_policy_allows_scripts_from_this_site_only(client):
    policy = _policy(client.get(reverse("admin:login")))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no nonce: the login page has no inline script
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]


def test_every_script_of_the_admin_pages_runs_under_the_policy(client, superuser, tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    prop = PropertyFactory(project=project)
    job = ImportJob.objects.create(
        organization=tenants.owner_org,
        project=project,
        file_name="running.csv",
        status=ImportJob.Status.IMPORTING,
        expected_rows=100,
    )
    client.force_login(superuser)
    pages = [
        reverse("admin:index"),
        reverse("admin:properties_property_changelist"),
        reverse("admin:properties_property_change", args=[prop.pk]),
        reverse("admin:properties_property_add"),
        reverse("admin:imports_importjob_changelist"),
    ]
    for page in pages:
        _audit(client.get(page))
    # The import page polls its progress from an inline script: it carries the nonce.
    policy, audit = _audit(client.get(reverse("admin:imports_importjob_change", args=[job.pk])))
    assert len(audit.inline_nonces) == 1
    assert any(re.fullmatch(r"'nonce-[\w+/=-]+'", word) for word in policy["script-src"])


def test_an_outsider_sees_no_other_organisations_page_under_the_policy(client, tenants):
    job = ImportJob.objects.create(
        organization=tenants.owner_org,
        project=ProjectFactory(organization=tenants.owner_org),
        file_name="theirs.csv",
    )
    client.force_login(tenants.outsider)
    response = client.get(reverse("admin:imports_importjob_change", args=[job.pk]))
    assert response.status_code in (302, 404)
    assert b"theirs.csv" not in response.content
