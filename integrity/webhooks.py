"""Alert webhooks: which addresses the server may POST to, and the POST itself.

The host is resolved once; every address it resolves to must be public (in any spelling:
`127.1`, `2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`, NAT64 and 6to4 forms of private
IPv4 addresses), and the connection goes to the address that was checked, with the URL's host
in the Host header and, for https, in TLS's SNI and certificate check. A DNS answer that
changes between the check and the connection (rebinding) therefore cannot move the POST.

What is stored for an organisation's admins says "refused" or "failed" in words; the
connection's own error (which would tell whether a port is open) goes to the server log only.
"""

import http.client
import ipaddress
import json
import logging
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class WebhookRefused(Exception):
    """The URL must not be posted to; nothing was sent."""


class WebhookFailed(Exception):
    """The POST was attempted and did not succeed."""


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to: the one DNS lookup of a delivery."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _literal_address(host: str):
    """`host` as an IP address if it is one in any spelling the C resolver accepts (`127.1`,
    `0x7f000001`, `2130706433`, `0177.0.0.1`), so no DNS server is asked about it."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address):
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address) -> bool:
    """Whether `address` is on the public internet: not loopback, private, link-local (the
    cloud metadata service 169.254.169.254), shared, reserved, multicast or unspecified."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%")[0])
    if address.version == 6:
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    elif address.is_reserved:
        return False
    return address.is_global and not address.is_multicast


def _target(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookRefused("the URL's port is not a number") from exc
    return parts.scheme, parts.hostname, port


def checked_addresses(
    url: str, *, allow_private: bool | None = None
) -> tuple[str, str, int, list[str]]:
    """The URL's scheme, host, port and the addresses it may be posted to (resolved once).
    Raises WebhookRefused when any address is not public (unless `allow_private`, by default
    ALERT_WEBHOOK_ALLOW_PRIVATE)."""
    if allow_private is None:
        allow_private = settings.ALERT_WEBHOOK_ALLOW_PRIVATE
    scheme, host, port = _target(url)
    literal = _literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve_host(host.encode("idna").decode("ascii"), port)
        except (OSError, UnicodeError):
            addresses = []
    refusal = f"{host} does not resolve to a public internet address"
    if not addresses:
        raise WebhookRefused(refusal)
    if not allow_private and not all(map(is_public_address, addresses)):
        raise WebhookRefused(refusal)
    return scheme, host, port, addresses


def webhook_refusal(url: str) -> str | None:
    """Why the server must not POST to `url`, or None."""
    return public_address_refusal(url, allow_private=settings.ALERT_WEBHOOK_ALLOW_PRIVATE)


def public_address_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the server must not connect to `url` (not http(s), unresolvable, or resolving to a
    non-public address unless `allow_private`), or None. Also used by open-data sources."""
    try:
        checked_addresses(url or "", allow_private=allow_private)
    except WebhookRefused as exc:
        return str(exc)
    return None


def webhook_settings_problem(organization_settings: dict) -> str | None:
    """The organisation settings check (registered with organizations): the alert webhook's
    address is checked when it is saved, not only when an alert is sent."""
    url = organization_settings.get("alert_webhook_url")
    if not url:
        return None
    refusal = webhook_refusal(str(url))
    return f"alert_webhook_url is refused: {refusal}." if refusal else None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to `address`; the Host header keeps the URL's host."""

    def __init__(self, address: str, host: str, port: int, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to `address`; SNI and the certificate check use the URL's host."""

    def __init__(self, address: str, host: str, port: int, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    # A deployment whose receivers use a private CA names its bundle; else the system's.
    return ssl.create_default_context(cafile=settings.ALERT_WEBHOOK_CA_FILE or None)


def webhook_post(url: str, payload: dict) -> int:
    """POST `payload` as JSON to `url`, connecting to the address that was checked; the
    response status (2xx). Raises WebhookRefused (nothing sent) or WebhookFailed, each with
    a sentence fit for an organisation's admin; redirects are not followed."""
    scheme, host, port, addresses = checked_addresses(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if scheme == "https":
        connection = _PinnedHTTPSConnection(
            addresses[0], host, port, timeout=WEBHOOK_TIMEOUT_SECONDS, context=_tls_context()
        )
    else:
        connection = _PinnedHTTPConnection(
            addresses[0], host, port, timeout=WEBHOOK_TIMEOUT_SECONDS
        )
    try:
        connection.request(
            "POST",
            path,
            body=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        logger.warning("Webhook POST to %s (%s) failed: %r", host, addresses[0], error)
        raise WebhookFailed("the webhook could not be reached") from error
    finally:
        connection.close()
    if 300 <= status < 400:
        raise WebhookFailed(f"the webhook answered {status}, a redirect, which is not followed")
    if not 200 <= status < 300:
        raise WebhookFailed(f"the webhook answered {status}")
    return status
