"""/healthz and /readyz: plain JSON, no login, no data; /readyz fails when a dependency does."""

import json

import pytest
from django.urls import reverse

from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_every_dependency_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok", "migrations": "ok"},
    }


def test_readyz_is_unavailable_when_the_backups_storage_cannot_be_written(client, backups_storage):
    backups_storage(writable=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["storage"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    # The reason goes to the log, not to whoever asks.
    assert "not-a-directory" not in response.content.decode()


def test_readyz_is_unavailable_when_the_broker_is_unreachable(client, settings, monkeypatch):
    from django_q.conf import Conf

    # A Redis port nothing listens on.
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:9/0")
    monkeypatch.setattr(Conf, "ORM", None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"


def test_health_answers_carry_no_tenant_data(client, tenants):
    ProjectFactory(organization=tenants.owner_org, name="Secret project")
    client.force_login(tenants.outsider)
    for url in ("/healthz", "/readyz"):
        text = client.get(url).content.decode()
        assert set(json.loads(text)) <= {"status", "checks"}
        for word in ("owner-org", "Owner Org", "Secret project", tenants.outsider.username):
            assert word not in text


def test_health_urls_need_no_admin_login(client):
    assert reverse("healthz") == "/healthz"
    assert client.get(reverse("admin:index")).status_code == 302  # the admin still does
    assert client.get(reverse("readyz")).status_code == 200
