from django.db import migrations

ROLE_NAMES = ("admin", "manager", "user", "viewer")


def create_role_groups(apps, schema_editor):
    from organizations.roles import create_all_permissions, sync_role_groups

    db = schema_editor.connection.alias
    create_all_permissions(apps, using=db)
    sync_role_groups(apps, using=db)


def delete_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLE_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0001_initial"),
        ("properties", "0002_property_analysis"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, delete_role_groups)]
