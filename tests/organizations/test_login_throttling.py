"""Login throttling (django-axes): repeated wrong passwords lock out the user name from that
address for the cool-off, whatever the next password; superusers see and clear lockouts."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)


def _log_in(client, username, password):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
    )


def _logged_in(client) -> bool:
    return client.get(reverse("admin:index")).status_code == 200


def _lock_out(client, username):
    for _ in range(LIMIT - 1):
        assert _log_in(client, username, "wrong-password").status_code == 200  # the form again
    # The failure that reaches the limit is already answered with the lockout.
    assert _log_in(client, username, "wrong-password").status_code == 429


def test_the_right_password_is_refused_after_the_failure_limit(tenants):
    client = Client()
    _lock_out(client, tenants.manager.username)
    response = _log_in(client, tenants.manager.username, "pw")
    assert response.status_code == 429
    text = " ".join(response.content.decode().split())
    assert "Too many failed logins" in text
    assert f"After {LIMIT} failed logins for <strong>{tenants.manager.username}</strong>" in text
    assert "refused for 15 minutes" in text
    assert not _logged_in(client)
    # Another user name from the same address is not locked out.
    assert _log_in(client, tenants.viewer.username, "pw").status_code == 302


def test_fewer_failures_than_the_limit_do_not_lock_and_success_resets_them(tenants):
    client = Client()
    for _ in range(LIMIT - 1):
        _log_in(client, tenants.manager.username, "wrong-password")
    assert _log_in(client, tenants.manager.username, "pw").status_code == 302
    assert not AccessAttempt.objects.filter(username=tenants.manager.username).exists()


def test_the_lockout_ends_after_the_cool_off(tenants):
    client = Client()
    _lock_out(client, tenants.manager.username)
    assert _log_in(client, tenants.manager.username, "pw").status_code == 429
    AccessAttempt.objects.update(
        attempt_time=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=16)
    )
    assert _log_in(client, tenants.manager.username, "pw").status_code == 302


def test_a_superuser_sees_and_clears_a_lockout_in_the_admin(tenants):
    client = Client()
    _lock_out(client, tenants.manager.username)
    root = Client()
    root.force_login(UserFactory(username="root", is_superuser=True))
    changelist = root.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert tenants.manager.username in changelist.content.decode()
    attempt = AccessAttempt.objects.get(username=tenants.manager.username)
    response = root.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert _log_in(client, tenants.manager.username, "pw").status_code == 302
    assert _logged_in(client)


def test_an_organisation_admin_can_neither_see_nor_clear_lockouts(tenants):
    _lock_out(Client(), tenants.outsider.username)
    client = Client()
    client.force_login(tenants.admin)
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert client.get(changelist).status_code == 403
    attempt = AccessAttempt.objects.get()
    client.post(changelist, {"action": "delete_selected", "_selected_action": [attempt.pk]})
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
    assert (
        reverse("admin:axes_accessattempt_changelist").encode()
        not in client.get(reverse("admin:index")).content
    )
