import io
import re

import pytest
from django.core.management import CommandError, call_command

from integrity.checks import CHECKS
from integrity.models import DataIntegrityReport
from tests.factories import PropertyFactory

from .conftest import EXPECTED

REPORT_LINE = re.compile(
    r"^report=(\d+) org=([\w-]+) total=(\d+) errors=(\d+) warnings=(\d+) duration_ms=(\d+)"
    r" created_at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d tz=[\w/]+$"
)


def _run(*args):
    out = io.StringIO()
    call_command("integrity_check", *args, stdout=out)
    return out.getvalue().splitlines()


def test_prints_one_line_per_check_then_the_report_line(planted, tenants):
    lines = _run("other-org")
    expected = EXPECTED["other-org"]
    assert lines[: len(CHECKS)] == [
        f"check={check.slug} severity={check.severity} count={expected[check.slug]}"
        for check in CHECKS
    ]
    report_id, org, total, errors, warnings, _ = REPORT_LINE.match(lines[-1]).groups()
    assert len(lines) == len(CHECKS) + 1
    assert (org, total, errors, warnings) == ("other-org", "10", "4", "6")
    report = DataIntegrityReport.objects.get(pk=report_id)
    assert report.organization == tenants.other_org
    assert report.trigger == "command"
    assert not DataIntegrityReport.objects.filter(organization=tenants.owner_org).exists()


def test_all_stores_a_report_per_organisation(planted, tenants):
    lines = _run("--all")
    summaries = [REPORT_LINE.match(line).group(2) for line in lines if line.startswith("report=")]
    assert summaries == ["other-org", "owner-org"]
    assert len(lines) == 2 * (len(CHECKS) + 1)
    assert DataIntegrityReport.objects.count() == 2


def test_fail_on_error_exits_non_zero_when_an_error_check_has_issues(planted, tenants):
    with pytest.raises(CommandError) as raised:
        _run("owner-org", "--fail-on", "error")
    assert raised.value.returncode == 1
    assert "owner-org:missing_address" in str(raised.value)
    # The report was stored and printed before the exit.
    assert DataIntegrityReport.objects.filter(organization=tenants.owner_org).count() == 1


def test_fail_on_levels_on_warnings_only(tenants):
    PropertyFactory(
        project__organization=tenants.owner_org, financial_metrics={"estimated_value": 1}
    )
    lines = _run("owner-org", "--fail-on", "error")
    assert "check=unrealistic_value severity=WARNING count=1" in lines
    with pytest.raises(CommandError) as raised:
        _run("owner-org", "--fail-on", "warning")
    assert raised.value.returncode == 1
    assert "owner-org:unrealistic_value" in str(raised.value)


def test_clean_organisation_passes_fail_on_warning(tenants):
    PropertyFactory(project__organization=tenants.owner_org)
    lines = _run("owner-org", "--fail-on", "warning")
    assert REPORT_LINE.match(lines[-1]).group(3) == "0"


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "Give one or more organisation slugs, or --all."),
        (("owner-org", "--all"), "not both"),
        (("owner-org", "no-such-org"), "No organisation with slug no-such-org"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_checked(tenants, args, message):
    with pytest.raises(CommandError, match=message) as raised:
        _run(*args)
    assert raised.value.returncode == 2
    assert not DataIntegrityReport.objects.exists()
