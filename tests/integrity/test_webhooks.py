"""Alert webhooks under attack: every spelling of a non-public address refused at save and at
delivery, DNS rebinding, TLS checked against the URL's host, failures stored in words."""

import socket
import subprocess
from itertools import count

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from integrity import webhooks
from integrity.models import IntegrityAlert
from integrity.services.alerts import alert_deliver
from organizations.models import Organization

from .webhook import WebhookReceiver

pytestmark = pytest.mark.django_db

NON_PUBLIC_HOSTS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "0x7f.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "localhost",
    "LOCALHOST.",
    "0.0.0.0",
    "0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "[fe80::1]",
    "[fd00::1]",
    "[fc00::1]",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "198.18.0.1",
]


@pytest.fixture
def public_only(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def _alert(organization, url) -> IntegrityAlert:
    return IntegrityAlert.objects.create(
        organization=organization,
        kind="check",
        condition="check:missing_address",
        subject="Missing addresses",
        message="3 properties have no address.",
        webhook_url=url,
    )


@pytest.mark.parametrize("host", NON_PUBLIC_HOSTS)
def test_every_spelling_of_a_non_public_address_is_refused_when_saved(public_only, tenants, host):
    organization = tenants.owner_org
    organization.settings = {"alert_webhook_url": f"http://{host}:8080/hook"}

    with pytest.raises(ValidationError, match="does not resolve to a public internet address"):
        organization.full_clean()


@pytest.mark.parametrize("host", NON_PUBLIC_HOSTS)
def test_every_spelling_of_a_non_public_address_is_refused_at_delivery(
    public_only, tenants, receiver, host
):
    # Saved before the check existed, or by code that skipped it: delivery checks again.
    alert = _alert(tenants.owner_org, f"http://{host}:{receiver.port}/hooks/integrity")

    alert_deliver(alert=alert)

    alert.refresh_from_db()
    assert alert.webhook_status.startswith("refused: ")
    assert receiver.received == []


def test_public_addresses_pass_the_check(public_only):
    for url in ("http://8.8.8.8/hook", "https://[2606:4700:4700::1111]/hook", "http://1.1.1.1:81"):
        assert webhooks.webhook_refusal(url) is None, url


def test_admin_refuses_a_private_webhook_and_keeps_the_old_settings(public_only, client, tenants):
    tenants.owner_org.settings = {"alert_webhook_url": "https://8.8.8.8/hook"}
    tenants.owner_org.save()
    client.force_login(tenants.admin)
    url = reverse("admin:organizations_organization_change", args=[tenants.owner_org.pk])

    response = client.post(
        url,
        {
            "name": tenants.owner_org.name,
            "settings": '{"alert_webhook_url": "http://[::ffff:169.254.169.254]/latest"}',
            "profiles-TOTAL_FORMS": "0",
            "profiles-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "alert_webhook_url is refused" in response.content.decode()
    assert Organization.objects.get(pk=tenants.owner_org.pk).settings == {
        "alert_webhook_url": "https://8.8.8.8/hook"
    }
    # An outsider cannot even open the page.
    client.force_login(tenants.outsider)
    assert client.get(url).status_code in (302, 403, 404)


def test_dns_rebinding_cannot_move_the_post_to_a_loopback_listener(
    public_only, tenants, receiver, monkeypatch
):
    """The resolver answers a public address to the check and 127.0.0.1 to any later lookup:
    the host is resolved once and the connection goes to the address checked."""
    lookups = count()

    def rebinding_dns(host, port):
        return ["93.184.216.34"] if next(lookups) == 0 else ["127.0.0.1"]

    monkeypatch.setattr(webhooks, "resolve_host", rebinding_dns)
    monkeypatch.setattr(webhooks, "WEBHOOK_TIMEOUT_SECONDS", 1)
    alert = _alert(tenants.owner_org, f"http://rebind.example.test:{receiver.port}/hooks/integrity")

    alert_deliver(alert=alert)

    assert receiver.received == []
    assert next(lookups) == 1  # one lookup only
    alert.refresh_from_db()
    assert "127.0.0.1" not in alert.webhook_status


def test_delivery_connects_to_the_first_answer_with_the_urls_host(tenants, receiver, monkeypatch):
    """Private addresses allowed (tests' default): a second lookup would answer an address
    nothing listens on; the POST reaching the listener shows the first answer was used."""
    lookups = count()

    def rebinding_dns(host, port):
        return ["127.0.0.1"] if next(lookups) == 0 else ["10.255.255.1"]

    monkeypatch.setattr(webhooks, "resolve_host", rebinding_dns)
    alert = _alert(tenants.owner_org, f"http://hooks.example.test:{receiver.port}/hooks/integrity")

    alert_deliver(alert=alert)

    alert.refresh_from_db()
    assert alert.webhook_status == "sent (204)"
    assert receiver.received[0]["host"] == f"hooks.example.test:{receiver.port}"
    assert receiver.received[0]["json"]["subject"] == "Missing addresses"


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for hooks.example.test, trusted as the webhook CA."""
    key_and_cert = tmp_path / "hooks.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test",
            "-keyout", str(key_and_cert), "-out", str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key_and_cert.write_text(key_and_cert.read_text() + (tmp_path / "cert.pem").read_text())
    return key_and_cert


def test_tls_is_checked_against_the_urls_host_not_the_address(
    settings, tenants, certificate, monkeypatch
):
    settings.ALERT_WEBHOOK_CA_FILE = str(certificate)
    monkeypatch.setattr(webhooks, "resolve_host", lambda host, port: ["127.0.0.1"])
    with WebhookReceiver(certificate=str(certificate)) as receiver:
        good = _alert(tenants.owner_org, f"https://hooks.example.test:{receiver.port}/h")
        alert_deliver(alert=good)
        good.refresh_from_db()
        good.cleared_at = good.delivered_at
        good.save()
        wrong = _alert(tenants.owner_org, f"https://other.example.test:{receiver.port}/h")
        alert_deliver(alert=wrong)

    assert good.webhook_status == "sent (204)"
    wrong.refresh_from_db()
    assert wrong.webhook_status == "failed: the webhook could not be reached"
    assert len(receiver.received) == 1


def test_stored_failures_do_not_tell_whether_a_port_is_open(tenants, receiver):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
    alert = _alert(tenants.owner_org, f"http://127.0.0.1:{closed_port}/hook")

    alert_deliver(alert=alert)

    alert.refresh_from_db()
    assert alert.webhook_status == "failed: the webhook could not be reached"
