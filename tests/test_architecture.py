"""Rules of the layout that review would otherwise have to catch: where jobs are queued and which
way the apps import each other. Both read the source with `ast`, so they hold for code added
later too."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "organizations", "properties", "imports", "backups", "integrity")


def _source_files(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _async_task_uses(tree: ast.Module) -> list[int]:
    """Lines that import or call django-q2's `async_task`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "async_task" for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "async_task":
                lines.append(node.lineno)
    return lines


def _imported_modules(tree: ast.Module) -> set[str]:
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


#: Modules of the other half of issue 12 (backups, integrity: branch wip-oth12) that still
#: queue jobs themselves on this branch. Each must still do so, so the list cannot go stale:
#: once that work is merged the test names the entries to delete.
NOT_YET_ON_TASKS = {"backups/admin.py", "integrity/admin.py", "integrity/services.py"}


def test_only_tasks_modules_queue_jobs():
    queuing = {
        str(path.relative_to(ROOT)): lines
        for app in APPS
        for path in _source_files(app)
        if path.name != "tasks.py" and (lines := _async_task_uses(_parsed(path)))
    }
    offenders = {name: lines for name, lines in queuing.items() if name not in NOT_YET_ON_TASKS}
    assert not offenders, (
        "Jobs are queued only by enqueue_* functions in an app's tasks.py (on commit); "
        f"these call async_task elsewhere (file: lines): {offenders}"
    )
    fixed = NOT_YET_ON_TASKS - set(queuing)
    assert not fixed, f"These no longer call async_task: delete them from NOT_YET_ON_TASKS: {fixed}"


def test_the_checker_sees_a_call_and_an_import():
    tree = ast.parse(
        "from django_q.tasks import async_task\nimport django_q.tasks as q\nq.async_task('x')\n"
    )
    assert _async_task_uses(tree) == [1, 3]


def test_properties_imports_no_app_built_on_it():
    # organizations <- properties <- imports / backups / integrity, never the other way.
    upward = ("imports", "backups", "integrity")
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in _source_files("properties")
        for module in sorted(_imported_modules(_parsed(path)))
        if module.split(".")[0] in upward
    ]
    assert not offenders, offenders
