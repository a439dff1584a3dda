"""One request in flight per portal across processes: a forked process holding a portal's slot
keeps this process out of it (on every backend: advisory lock, Redis, file lock)."""

import os

import pytest

from sources.portal_slots import portal_slot, portal_slot_free

pytestmark = pytest.mark.django_db

PORTAL = "http://portal.example.gov.au/api/3/action/datastore_search"
OTHER_PORTAL = "http://data.other.gov.au/api/3/action/datastore_search"


@pytest.fixture(params=["database", "redis"])
def backend(request, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/6" if request.param == "redis" else ""
    return request.param


def _hold_in_a_child(url: str):
    """A forked process that takes the portal's slot and keeps it until told to stop."""
    taken_r, taken_w = os.pipe()
    stop_r, stop_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with portal_slot(url):
                os.write(taken_w, b"+")
                os.read(stop_r, 1)
            code = 0
        finally:
            os._exit(code)
    os.read(taken_r, 1)
    return pid, stop_w


def test_a_portal_held_by_another_process_is_not_free_until_it_lets_go(backend):
    pid, stop = _hold_in_a_child(PORTAL)
    try:
        assert not portal_slot_free(PORTAL)
        assert portal_slot_free(OTHER_PORTAL)  # other portals are not held up
    finally:
        os.write(stop, b"+")
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert portal_slot_free(PORTAL)


def test_the_slot_is_given_back_when_the_request_fails(backend):
    with pytest.raises(RuntimeError), portal_slot(PORTAL):
        raise RuntimeError("connection reset")
    assert portal_slot_free(PORTAL)


def test_a_process_killed_while_holding_a_portal_does_not_keep_it(settings):
    settings.REDIS_URL = ""  # the advisory lock or file lock dies with its process
    pid, _ = _hold_in_a_child(PORTAL)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert portal_slot_free(PORTAL)
