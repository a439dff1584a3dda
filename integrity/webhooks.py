"""Alert webhooks: which addresses the server may POST to, and the POST itself."""

import ipaddress
import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings

WEBHOOK_TIMEOUT_SECONDS = 5


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers; it does not send the server elsewhere (another scheme, an internal
    host) after the address was checked."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl} refused", headers, fp)


_WEBHOOK_OPENER = urllib.request.build_opener(_NoRedirects)


def webhook_refusal(url: str) -> str | None:
    """Why the server must not POST to `url`, or None. An organisation's setting must not make
    the server read its own files (file://) or reach hosts inside its network."""
    return public_address_refusal(url, allow_private=settings.ALERT_WEBHOOK_ALLOW_PRIVATE)


def public_address_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the server must not connect to `url` (not http(s), unresolvable, or resolving to a
    private or local address unless `allow_private`), or None. Also used by open-data sources."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    if allow_private:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError) as error:
        return f"cannot resolve {parts.hostname}: {error}"
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            return f"{parts.hostname} resolves to a private or local address ({address})"
    return None


def webhook_post(url: str, payload: dict) -> int:
    """POST `payload` as JSON to `url` (no redirects followed); the response status. Raises
    URLError, OSError or ValueError when the webhook cannot be reached."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _WEBHOOK_OPENER.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        return response.status
