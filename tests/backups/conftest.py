from types import SimpleNamespace

import pytest

from tests.factories import ProjectFactory, PropertyAnalysisFactory, PropertyFactory


@pytest.fixture
def estate(tenants):
    """Rows of both organisations: the owner's are backed up, the other's must never move."""
    # Text that needs escaping in the archive: tab, backslash, newline, quote, non-ASCII.
    project = ProjectFactory(
        organization=tenants.owner_org,
        name="Richmond",
        description='Tab\tback\\slash\nnew line "quoted" café',
        config={
            "notes": "multi\nline\t\\",
            "ratio": 0.1,
            "big": 1e21,
            "nested": {"b": [], "a": None},
        },
        created_by=tenants.admin,
    )
    second_project = ProjectFactory(organization=tenants.owner_org, name="Fitzroy")
    properties = [PropertyFactory(project=project, created_by=tenants.manager) for _ in range(3)]
    other_project = ProjectFactory(organization=tenants.other_org, name="Elsewhere")
    other_property = PropertyFactory(project=other_project)
    return SimpleNamespace(
        project=project,
        second_project=second_project,
        properties=properties,
        spare=PropertyFactory(project=second_project),
        analysis=PropertyAnalysisFactory(property=properties[0], results={"score": 0.5}),
        other_project=other_project,
        other_property=other_property,
        other_analysis=PropertyAnalysisFactory(property=other_property),
    )
