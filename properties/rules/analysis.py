"""The rules of a property analysis, as the admin's analysis form writes one.

Its parameters and results are JSON objects whose every value a database can store: the
`plain_value` and `storable_value` rules of the property rules, read by the same limits
(`properties.limits`). Its status agrees with its results and times. Pure functions; the
form shows each finding beside its field and saves nothing while one stands.
"""

from ..limits import json_value_problem
from .findings import ERROR, Finding

COMPLETED = "completed"
FAILED = "failed"


def _json_object(name: str, value, findings: list) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        findings.append(
            Finding(
                0,
                name,
                "must be a JSON object ({...}), not a list or a single value",
                ERROR,
                "plain_value",
            )
        )
    elif (problem := json_value_problem(value)) is not None:
        findings.append(Finding(0, name, f"The value {problem}.", ERROR, "storable_value"))


def validate_analysis(
    *, input_parameters, results, status, started_at=None, completed_at=None, error_message=""
) -> list[Finding]:
    """Every finding on an analysis, keyed by its field name (all errors: nothing is kept
    with a warning)."""
    findings: list[Finding] = []
    _json_object("input_parameters", input_parameters, findings)
    _json_object("results", results, findings)
    if status == COMPLETED and not results:
        findings.append(
            Finding(0, "results", "A completed analysis has results.", ERROR, "analysis_status")
        )
    if status == FAILED and not (error_message or "").strip():
        findings.append(
            Finding(
                0,
                "error_message",
                "A failed analysis says why it failed.",
                ERROR,
                "analysis_status",
            )
        )
    if started_at and completed_at and completed_at < started_at:
        findings.append(
            Finding(
                0,
                "completed_at",
                "Completed before it started: check the times.",
                ERROR,
                "analysis_times",
            )
        )
    return findings
