"""BackupConfig rows own their django-q2 schedules: saving or deleting one keeps it in step,
whatever path (admin, shell, fixture) made the change."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import BackupConfig
from .services.schedules import backup_schedule_sync


@receiver(post_save, sender=BackupConfig)
def _config_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        backup_schedule_sync(config=instance)


@receiver(post_delete, sender=BackupConfig)
def _config_deleted(sender, instance, **kwargs):
    backup_schedule_sync(config=instance, deleted=True)
