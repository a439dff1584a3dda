from django.apps import apps as global_apps
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate, post_save
from django.dispatch import receiver
from django.utils import timezone
from simple_history.signals import pre_create_historical_record

from .change_reasons import fill_change_reason
from .models import Profile
from .roles import sync_role_groups


@receiver(post_migrate)
def keep_role_groups_in_sync(sender, using="default", **kwargs):
    # Apps migrated after organizations add permissions the roles grant; re-syncing after every
    # app's migration keeps the groups complete whatever order apps are installed in.
    if global_apps.is_installed("django.contrib.auth"):
        sync_role_groups(global_apps, using=using)


@receiver(post_save, sender=Profile)
def apply_role_to_user(sender, instance: Profile, raw=False, **kwargs):
    if raw:
        return
    from .services import profile_apply_role

    profile_apply_role(profile=instance)


@receiver(user_logged_in)
def record_profile_login(sender, request, user, **kwargs):
    Profile.objects.filter(user=user).update(last_login=timezone.now())


@receiver(pre_create_historical_record)
def name_the_change(sender, history_instance, **kwargs):
    # Any audited model: the history row of a write that named no reason gets one.
    fill_change_reason(history_instance)
