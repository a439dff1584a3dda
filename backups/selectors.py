"""Reads of the backups app, always limited to what the user's organisation may see."""

from django.db.models import QuerySet
from django.http import Http404

from organizations.tenancy import scope_queryset

from .models import BackupExecution, RestoreExecution


def backup_execution_list(*, user) -> QuerySet[BackupExecution]:
    return scope_queryset(
        BackupExecution.objects.select_related("organization", "config"), user=user
    )


def backup_execution_get(*, user, pk) -> BackupExecution:
    """One backup the user may see; another organisation's and a missing one both 404."""
    backup = backup_execution_list(user=user).filter(pk=pk).first()
    if backup is None:
        raise Http404(f"No backup with id {pk!r}.")
    return backup


def restore_execution_list(*, user) -> QuerySet[RestoreExecution]:
    return scope_queryset(
        RestoreExecution.objects.select_related("organization", "backup", "actor"), user=user
    )
