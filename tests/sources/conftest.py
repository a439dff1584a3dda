import re

import pytest
from pytest_httpserver import HTTPServer

from sources.portal_slots import portal_slots_close
from tests.factories import ProjectFactory

from .portal import Portal


@pytest.fixture(autouse=True)
def _sync_settings(settings):
    # The portal runs on 127.0.0.1; retries wait a few milliseconds, not seconds.
    settings.SYNC_ALLOW_PRIVATE_HOSTS = True
    settings.SYNC_BACKOFF_SECONDS = 0.001
    settings.SYNC_MAX_WAIT_SECONDS = 0.01
    settings.SYNC_RETRIES = 3
    settings.SYNC_READ_TIMEOUT = 2.0


@pytest.fixture(autouse=True)
def _close_portal_slots():
    # The advisory locks' own connection would keep the test database from being dropped.
    yield
    portal_slots_close()


@pytest.fixture(scope="session")
def portal_server():
    # One server for the session: stopping one waits out its poll interval (half a second).
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def portal(portal_server):
    """A fresh portal (resources, faults, call log) on the session's server."""
    portal = Portal(url=portal_server.url_for("").rstrip("/"), server=portal_server)
    portal_server.clear()
    portal_server.expect_request(re.compile(".*")).respond_with_handler(portal.handle)
    yield portal
    portal_server.clear()


@pytest.fixture
def project(tenants):
    return ProjectFactory(organization=tenants.owner_org, name="Valuations")


@pytest.fixture(params=["inline", "forked"])
def validation(request, settings):
    """Both places a sync's rules run: in the sync's own process, and in forked validators (a
    threshold of one record, pages of the test module's FORKED_PAGE_SIZE records, default 2,
    so a few records already span several pages)."""
    if request.param == "forked":
        settings.SYNC_PROCESS_THRESHOLD = 1
        settings.SYNC_PAGE_SIZE = getattr(request.module, "FORKED_PAGE_SIZE", 2)
    return request.param
