"""How sources talk to portals: the public-address check, timeouts, retries with exponential
backoff that honour Retry-After, one request at a time per portal (portal_slots), and the
run's counters."""

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils import timezone

from integrity.webhooks import public_address_refusal

from .portal_slots import portal_slot

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SourceUnreachable(Exception):
    """The portal could not be read; the message is a sentence for the run's error."""


class AddressRefused(SourceUnreachable):
    """The URL leads to a private or local address, or is not http(s)."""


def address_refusal(url: str) -> str | None:
    """Why the server must not connect to `url`, or None: the alert webhooks' test, so a source
    cannot make the server read its own network. SYNC_ALLOW_PRIVATE_HOSTS allows private hosts."""
    return public_address_refusal(url, allow_private=settings.SYNC_ALLOW_PRIVATE_HOSTS)


class GuardedSession(requests.Session):
    """A requests session that checks every URL it connects to, never follows redirects
    (a redirect could lead past the check), keeps one request in flight per portal across
    processes and clusters (`portal_slots`), and counts requests and bytes for the run."""

    def __init__(self):
        super().__init__()
        self.requests_made = 0
        self.bytes_received = 0
        self.last_response: requests.Response | None = None
        self.max_redirects = 0

    def send(self, request, **kwargs):
        refusal = address_refusal(request.url)
        if refusal:
            raise AddressRefused(f"Refused to connect to {request.url}: {refusal}.")
        kwargs["allow_redirects"] = False
        kwargs.setdefault("timeout", timeouts())
        with portal_slot(request.url):
            self.requests_made += 1
            response = super().send(request, **kwargs)
            if not kwargs.get("stream"):
                self.bytes_received += len(response.content)
        self.last_response = response
        return response


class MeteredClient:
    """A source client over one GuardedSession; the run records what the session cost."""

    session: GuardedSession

    @property
    def requests_made(self) -> int:
        return self.session.requests_made

    @property
    def bytes_received(self) -> int:
        return self.session.bytes_received


def timeouts() -> tuple[float, float]:
    return (settings.SYNC_CONNECT_TIMEOUT, settings.SYNC_READ_TIMEOUT)


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), or None."""
    if response is None:
        return None
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


class Retrier:
    """Calls `attempt` until it succeeds, retrying connection errors, timeouts, 429 and 5xx
    with exponential backoff, or what the server's Retry-After asks (capped). `sleep` is
    swappable so tests record the waits instead of sleeping them."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep):
        self.sleep = sleep
        self.waits: list[float] = []

    def call(self, attempt: Callable[[], object], *, retryable: Callable[[Exception], bool]):
        retries = settings.SYNC_RETRIES
        for number in range(retries + 1):
            try:
                return attempt()
            except AddressRefused:
                raise
            except Exception as error:
                if number >= retries or not retryable(error):
                    raise
                wait = getattr(error, "retry_after", None)
                if wait is None:
                    wait = settings.SYNC_BACKOFF_SECONDS * (2**number)
                wait = min(wait, settings.SYNC_MAX_WAIT_SECONDS)
                self.waits.append(wait)
                self.sleep(wait)
        raise AssertionError("unreachable")


def is_transient_network_error(error: Exception) -> bool:
    # A body cut off mid-way (ChunkedEncodingError) is as transient as a refused connection.
    return isinstance(
        error,
        (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError),
    )
