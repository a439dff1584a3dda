"""Writes of the backups app, one module per phase: `backup` (taking a backup), `restore`,
`verify` (the restore drill), `schedules` (scheduled runs, retention and their django-q2
schedules) and `permissions` (who may do which)."""
