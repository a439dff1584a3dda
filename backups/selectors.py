"""Reads of the backups app, always limited to what the user's organisation may see."""

from django.db.models import QuerySet

from organizations.access import Scope

from .models import BackupExecution, RestoreExecution


def backup_execution_list(*, user) -> QuerySet[BackupExecution]:
    return Scope.of(user).filter(BackupExecution.objects.select_related("organization", "config"))


def restore_execution_list(*, user) -> QuerySet[RestoreExecution]:
    return Scope.of(user).filter(
        RestoreExecution.objects.select_related("organization", "backup", "actor")
    )
