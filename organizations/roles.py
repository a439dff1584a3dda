"""Roles and the permission groups that carry them.

Each role is a Django group with the same name; a member's groups are set from their profile's
role. The grants are cumulative: each role has everything of the role below it.
"""

from django.contrib.auth.management import create_permissions

VIEWER = [
    "organizations.view_organization",
    "organizations.view_profile",
    "properties.view_project",
    "properties.view_property",
    "properties.view_propertyanalysis",
    "imports.view_importjob",
    "backups.view_backupexecution",
    "integrity.view_dataintegrityreport",
    "sources.view_sourcerecord",
]
USER = VIEWER + [
    "properties.change_property",
    "properties.change_propertyanalysis",
]
MANAGER = USER + [
    "properties.add_project",
    "properties.change_project",
    "properties.delete_project",
    "properties.add_property",
    "properties.delete_property",
    "properties.add_propertyanalysis",
    "properties.delete_propertyanalysis",
    "properties.import_property",
    "properties.export_property",
    "properties.view_historicalproperty",
    "properties.change_historicalproperty",
    "properties.view_historicalproject",
    "properties.change_historicalproject",
    "properties.view_historicalpropertyanalysis",
    "properties.change_historicalpropertyanalysis",
    "imports.add_importjob",
    "imports.change_importjob",
    "backups.add_backupexecution",
    "backups.change_backupexecution",
    "backups.restore_backupexecution",
    "integrity.add_dataintegrityreport",
    "integrity.view_integrityalert",
]
ADMIN = MANAGER + [
    "organizations.change_organization",
    "organizations.view_historicalorganization",
    "organizations.change_historicalorganization",
    "organizations.add_profile",
    "organizations.change_profile",
    "organizations.delete_profile",
    "backups.view_backupconfig",
    "backups.add_backupconfig",
    "backups.change_backupconfig",
    "backups.delete_backupconfig",
    "sources.view_datasource",
    "sources.add_datasource",
    "sources.change_datasource",
    "sources.delete_datasource",
    "sources.view_syncrun",
]

ROLE_PERMISSIONS = {"viewer": VIEWER, "user": USER, "manager": MANAGER, "admin": ADMIN}


def create_all_permissions(apps, using="default") -> None:
    """Create model permissions inside a migration, where post_migrate has not run yet."""
    for app_config in apps.get_app_configs():
        # The historical registry's app configs have no models module; create_permissions
        # skips such apps unless told otherwise.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None


def sync_role_groups(apps, using="default") -> None:
    """Create the role groups and give each exactly its permissions.

    Works with the live app registry and with a migration's historical one. Permissions of apps
    that are not installed (yet) are left out; running it again after they migrate adds them.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # One query for every permission the roles name: this runs after each app's post_migrate,
    # and so after every flush of a transactional test.
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using)
        .filter(
            codename__in={
                perm.split(".")[1] for perms in ROLE_PERMISSIONS.values() for perm in perms
            }
        )
        .values_list("pk", "content_type__app_label", "codename")
    }
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([existing[perm] for perm in perms if perm in existing])
