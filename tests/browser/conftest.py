"""Browser tests: Debian's Chromium, driven by Playwright, using the admin on pytest-django's
`live_server` the way a person does.

They run in the PostgreSQL pass of `make test` (skipped, with the reason, on SQLite), after every
other test. Without Chromium they are skipped under a banner, and fail when `CI` is set. A failing
test's page is saved as var/browser-failures/<test>.png and the run says where.
`BROWSER_SCREENSHOTS=<folder>` saves the pages the flows name (the README's tour) into <folder>.
"""

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests.factories import MemberFactory, OrganizationFactory, ProjectFactory, PropertyFactory

BASE_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAILURES_DIR = BASE_DIR / "var" / "browser-failures"
PASSWORD = "pw"  # tests.factories.UserFactory's
#: How long a page may take to show what a step waits for; a loaded CI machine is slow.
STEP_TIMEOUT_MS = 15_000

_failure_screenshots = pytest.StashKey[list]()
_chromium_missing = pytest.StashKey[bool]()


def _is_browser_test(item) -> bool:
    return Path(__file__).parent in Path(item.path).parents


def pytest_collection_modifyitems(session, config, items):
    # Last, so that Playwright's event loop (it runs in the main thread for the whole session
    # once started) never surrounds a test that is not a browser test.
    items.sort(key=_is_browser_test)


@pytest.fixture(scope="session", autouse=True)
def _browser_session(pytestconfig):
    """Decides once whether the browser tests can run here, before any browser starts."""
    if connection.vendor != "postgresql":
        pytest.skip("browser flows run against PostgreSQL, in the PostgreSQL pass of make test")
    if not os.access(CHROMIUM, os.X_OK):
        pytestconfig.stash[_chromium_missing] = True
        message = (
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(or set CHROMIUM_PATH)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so browser tests may not be skipped.")
        pytest.skip(message)
    shutil.rmtree(FAILURES_DIR, ignore_errors=True)
    # Playwright's sync API keeps an asyncio loop running in the main thread, which makes
    # Django refuse ORM calls there ("async context"); the tests' own queries are synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, live_server):
    return {
        **browser_context_args,
        "base_url": live_server.url,
        "viewport": {"width": 1280, "height": 860},
        "accept_downloads": True,
    }


@pytest.fixture
def context(context):
    context.set_default_timeout(STEP_TIMEOUT_MS)
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    return context


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and _is_browser_test(item):
        pages = {}
        if "page" in item.funcargs:
            pages["page"] = item.funcargs["page"]
        if "log_in_as" in item.funcargs:
            pages.update(item.funcargs["log_in_as"].pages)
        for name, page in pages.items():
            _save_failure_screenshot(item, report, name, page)
    return report


def _save_failure_screenshot(item, report, name, page) -> None:
    if page.is_closed():
        return
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", item.nodeid.split("::", 1)[-1]).strip("-")
    path = FAILURES_DIR / f"{stem}{'' if name == 'page' else '-' + name}.png"
    FAILURES_DIR.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=path, full_page=True)
    except Exception as exc:  # a crashed page still leaves the failure itself to report
        line = f"{item.nodeid}: no screenshot of {page.url} ({exc})"
    else:
        line = f"{item.nodeid}: {path} (of {page.url})"
    report.sections.append(("browser screenshot", line))
    item.config.stash.setdefault(_failure_screenshots, []).append(line)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = config.stash.get(_failure_screenshots, [])
    if lines:
        terminalreporter.section("browser test failures: screenshots of their pages", sep="!")
        for line in lines:
            terminalreporter.write_line(line)
    if config.stash.get(_chromium_missing, False):
        bar = "!" * 78
        terminalreporter.write_line("")
        for line in (
            bar,
            f"!!! BROWSER TESTS {'FAILED' if os.environ.get('CI') else 'SKIPPED'}: "
            f"Chromium is not installed at {CHROMIUM}.",
            "!!! The admin was NOT tested in a browser. `apt-get install -y chromium`, or",
            "!!! run .ci/run, which installs it.",
            bar,
        ):
            terminalreporter.write_line(line, red=True, bold=True)


@pytest.fixture
def snapshot():
    """Saves a named page for the README's tour when BROWSER_SCREENSHOTS names a folder."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")

    def take(page, name: str, max_height: int = 900) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            # Down to the end of the page's content, not the empty window below it.
            content = page.locator("#content").bounding_box()
            height = min(max_height, int(content["y"] + content["height"]) + 24)
            width = page.viewport_size["width"]
            page.screenshot(
                path=Path(folder) / f"{name}.png",
                full_page=True,
                clip={"x": 0, "y": 0, "width": width, "height": height},
            )

    return take


def log_in(page, user, password: str = PASSWORD) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_contain_text(user.username)


class BrowserSessions:
    """Fresh browser sessions (each with its own cookies), each logged in as one user."""

    def __init__(self, browser, context_args):
        self.browser = browser
        self.context_args = context_args
        self.pages: dict[str, object] = {}

    def __call__(self, user):
        context = self.browser.new_context(**self.context_args)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        if os.environ.get("BROWSER_SCREENSHOTS"):
            # The tour's pictures show the page itself, without the admin's navigation sidebar.
            context.add_init_script(
                "localStorage.setItem('django.admin.navSidebarIsOpen', 'false')"
            )
        page = context.new_page()
        self.pages[user.username] = page
        log_in(page, user)
        return page

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()


@pytest.fixture
def log_in_as(browser, browser_context_args):
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    sessions = BrowserSessions(browser, browser_context_args)
    yield sessions
    sessions.close()


@pytest.fixture
def estate(transactional_db):
    """Two organisations as the demo has them: Harbour with a member of each role and a few
    properties, Southern Cross with its own manager and property."""
    harbour = OrganizationFactory(slug="harbour", name="Harbour Property Analytics")
    southern = OrganizationFactory(slug="southern-cross", name="Southern Cross Valuers")
    members = {
        role: MemberFactory(
            organization=harbour,
            role=role,
            user__username=f"harbour-{role}",
            full_name=f"Harbour {role.title()}",
        ).user
        for role in ("manager", "user", "viewer")
    }
    outsider = MemberFactory(
        organization=southern, role="manager", user__username="southern-cross-manager"
    ).user
    project = ProjectFactory(organization=harbour, name="Inner Melbourne")
    streets = ["Chapel Street", "Swan Street", "Bridge Road", "Church Street"]
    properties = [
        PropertyFactory(
            project=project,
            external_id=f"HPA-{n:03d}",
            basic_info={
                "address": f"{n * 10} {street}",
                "suburb": "Richmond",
                "state": "VIC",
                "postcode": "3121",
            },
            financial_metrics={"estimated_value": 850_000 + n * 25_000},
        )
        for n, street in enumerate(streets, start=1)
    ]
    other_project = ProjectFactory(organization=southern, name="Sydney Valuations")
    other_property = PropertyFactory(
        project=other_project,
        external_id="SCV-001",
        basic_info={
            "address": "1 Macquarie Street",
            "suburb": "Sydney",
            "state": "NSW",
            "postcode": "2000",
        },
        spatial_attributes={"coordinates": {"type": "Point", "coordinates": [151.21, -33.86]}},
    )
    return SimpleNamespace(
        harbour=harbour,
        southern=southern,
        outsider=outsider,
        project=project,
        properties=properties,
        other_project=other_project,
        other_property=other_property,
        **members,
    )


def open_from_index(page, model: str, name: str) -> None:
    """Clicks a model's link in the admin index's app list, as a person starts a task."""
    if not page.url.endswith("/admin/"):  # logging in ends on the index already
        page.goto("/admin/")
    page.locator(f"#content-main tr.model-{model}").get_by_role("link", name=name).first.click()
    expect(page.locator("#content h1")).to_be_visible()


def run_changelist_action(page, action: str, *pks) -> None:
    """Ticks the rows `pks` on the open changelist and runs the action (Django's "Go")."""
    for pk in pks:
        page.locator(f"#result_list input.action-select[value='{pk}']").check()
    page.locator("select[name='action']").select_option(action)
    page.get_by_role("button", name="Go").click()
