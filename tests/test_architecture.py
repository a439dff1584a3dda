"""The layout rules of docs/architecture.md, read from the source: jobs are queued only in
`tasks.py`, and apps import only the layers below them."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Apps whose modules these rules cover.
CHECKED_APPS = ["organizations", "properties", "imports", "backups", "integrity"]

#: What each app may import from the project's other apps (layers below it, or beside it
#: where docs/architecture.md says so).
ALLOWED_IMPORTS = {
    "organizations": set(),
    "properties": {"organizations"},
    "imports": {"organizations", "properties"},
    "backups": {"organizations", "properties"},
    "integrity": {"organizations", "properties", "backups", "imports"},
}
PROJECT_APPS = {"organizations", "properties", "imports", "backups", "integrity"}


def _sources(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _calls_async_task(tree) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = getattr(function, "id", None) or getattr(function, "attr", None)
            if name == "async_task":
                return True
    return False


@pytest.mark.parametrize("app", CHECKED_APPS)
def test_only_tasks_modules_queue_jobs(app):
    queuing = [
        str(path.relative_to(ROOT))
        for path, tree in _sources(app)
        if path.name != "tasks.py" and _calls_async_task(tree)
    ]
    assert queuing == []


@pytest.mark.parametrize("app", CHECKED_APPS)
def test_apps_import_only_the_layers_below(app):
    wrong = set()
    for path, tree in _sources(app):
        for module in _imported_modules(tree):
            top = module.split(".")[0]
            if top in PROJECT_APPS and top != app and top not in ALLOWED_IMPORTS[app]:
                wrong.add(f"{path.relative_to(ROOT)} imports {module}")
    assert sorted(wrong) == []


def test_the_rules_see_a_queued_job_and_an_upward_import():
    tree = ast.parse(
        "import django_q.tasks as q\nfrom imports.models import ImportJob\nq.async_task('x')\n"
    )
    assert _calls_async_task(tree)
    assert "imports.models" in _imported_modules(tree)
