"""The layout rules of docs/architecture.md, read from the source: jobs are queued only in
`tasks.py`, apps import only the layers below them, and modules and functions stay small."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What each app may import from the project's other apps (layers below it, or beside it
#: where docs/architecture.md says so).
ALLOWED_IMPORTS = {
    "organizations": set(),
    "properties": {"organizations"},
    "imports": {"organizations", "properties"},
    "backups": {"organizations", "properties"},
    "integrity": {"organizations", "properties", "backups", "imports"},
    # On top: into imports through sources/ingest.py; integrity's public-address check.
    "sources": {"organizations", "properties", "imports", "integrity"},
    # Readiness reads the database, broker and storage, never an app's data.
    "health": set(),
}
#: Apps whose modules these rules cover: every app of the project.
CHECKED_APPS = list(ALLOWED_IMPORTS)
PROJECT_APPS = set(ALLOWED_IMPORTS)

#: The packages whose modules are held to the size limits: every app and the project's config.
SIZED_PACKAGES = [*CHECKED_APPS, "config"]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


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


def _oversized(path: Path, tree) -> list[str]:
    """`path` if it is longer than MAX_MODULE_LINES, and each of its functions (methods and
    nested functions too) longer than MAX_FUNCTION_LINES, with their line counts."""
    name = str(path.relative_to(ROOT))
    found = []
    lines = len(path.read_text().splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name}: {lines} lines")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}(): {length} lines")
    return found


@pytest.mark.parametrize("package", SIZED_PACKAGES)
def test_modules_and_functions_stay_small(package):
    assert [found for path, tree in _sources(package) for found in _oversized(path, tree)] == []


def test_the_size_rule_names_a_long_module_and_a_long_function(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    body = "".join(f"    x{n} = {n}\n" for n in range(MAX_FUNCTION_LINES))
    source = "def long_one():\n" + body + "\n" * (MAX_MODULE_LINES - MAX_FUNCTION_LINES)
    path = tmp_path / "app" / "module.py"
    path.parent.mkdir()
    path.write_text(source)
    found = _oversized(path, ast.parse(source))
    assert found == [
        f"app/module.py: {MAX_MODULE_LINES + 1} lines",
        f"app/module.py:1 long_one(): {MAX_FUNCTION_LINES + 1} lines",
    ]


def test_every_project_app_has_its_layer():
    from django.conf import settings

    project_apps = {app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()}
    assert project_apps == PROJECT_APPS


def test_the_rules_see_a_queued_job_and_an_upward_import():
    tree = ast.parse(
        "import django_q.tasks as q\nfrom imports.models import ImportJob\nq.async_task('x')\n"
    )
    assert _calls_async_task(tree)
    assert "imports.models" in _imported_modules(tree)
