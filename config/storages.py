"""STORAGES from the environment, for `config/settings.py` (which passes its one `environ.Env()`).

BACKUP_STORAGE and MEDIA_STORAGE are "local" (the folders in settings) or "s3";
BACKUP_REPLICA_STORAGE is unset (no replica), "local" or "s3". Misconfiguration stops start-up
with one sentence (`fail`), as every setting does.
"""

LOCAL = "django.core.files.storage.FileSystemStorage"


def fail(message: str):
    # SystemExit prints just the message: a misconfigured deployment should read like a sentence.
    raise SystemExit(f"Configuration error: {message}")


def storages_from_env(env, *, debug: bool, backup_root, s3: dict) -> dict:
    """The STORAGES setting. `s3` holds django-storages' S3 options from the AWS_* settings
    (bucket_name, endpoint_url, region_name, access_key, secret_key, max_memory_size)."""
    storages = {
        "default": {"BACKEND": LOCAL},
        "backups": {"BACKEND": LOCAL, "OPTIONS": {"location": str(backup_root)}},
        # Hashed, compressed names that whitenoise serves with far-future caching; the manifest
        # exists only after collectstatic, so development keeps the plain storage.
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            if debug
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        },
    }
    if _storage_choice(env, "MEDIA_STORAGE") == "s3":
        storages["default"] = _s3_primary(s3, "media", "MEDIA_STORAGE")
    if _storage_choice(env, "BACKUP_STORAGE") == "s3":
        storages["backups"] = _s3_primary(s3, "backups", "BACKUP_STORAGE")
    replica = _backup_replica_storage(env, s3)
    if replica:
        storages["backups_replica"] = replica
    return storages


def _s3_storage(s3: dict, *, location: str, **overrides) -> dict:
    from boto3.s3.transfer import TransferConfig  # only when S3 is chosen

    chosen = {name: value for name, value in overrides.items() if value}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **s3,
            **chosen,
            "location": location,
            # Names are never reused: a second archive or upload of the same name gets its own.
            "file_overwrite": False,
            "default_acl": None,
            # One part at a time: parallel ranged downloads write ahead into the spooled file,
            # which then holds everything up to the furthest offset in memory before rolling
            # over to disk.
            "transfer_config": TransferConfig(use_threads=False),
        },
    }


def _storage_choice(env, variable: str, *, default: str = "local") -> str:
    choice = env.str(variable, default=default)
    if choice not in {"local", "s3", default}:
        fail(f'{variable} must be "local" or "s3", not {choice!r}.')
    return choice


def _s3_primary(s3: dict, location: str, variable: str) -> dict:
    if not s3["bucket_name"]:
        fail(f"{variable}=s3 needs AWS_STORAGE_BUCKET_NAME.")
    return _s3_storage(s3, location=location)


def _backup_replica_storage(env, s3: dict) -> dict | None:
    """A second copy of every archive, in another bucket (and region) or folder; none by
    default."""
    # BACKUP_REPLICA_ROOT alone is enough for a replica folder.
    default = "local" if env.str("BACKUP_REPLICA_ROOT", default="") else "none"
    choice = _storage_choice(env, "BACKUP_REPLICA_STORAGE", default=default)
    if choice == "s3":
        bucket = env.str("BACKUP_REPLICA_BUCKET", default="")
        if not bucket:
            fail("BACKUP_REPLICA_STORAGE=s3 needs BACKUP_REPLICA_BUCKET.")
        return _s3_storage(
            s3,
            location="backups",
            bucket_name=bucket,
            endpoint_url=env.str("BACKUP_REPLICA_ENDPOINT_URL", default=""),
            region_name=env.str("BACKUP_REPLICA_REGION_NAME", default=""),
        )
    if choice == "local":
        root = env.str("BACKUP_REPLICA_ROOT", default="")
        if not root:
            fail("BACKUP_REPLICA_STORAGE=local needs BACKUP_REPLICA_ROOT.")
        return {"BACKEND": LOCAL, "OPTIONS": {"location": root}}
    return None
