"""Writes of the integrity app, one module per concern: `reports` (running the checks),
`schedules` (the django-q2 schedules derived from the organisations), `alerts` (raising,
clearing and delivering alerts) and `backup_alerts` (alerts on backup outcomes)."""
