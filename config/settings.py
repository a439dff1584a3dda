"""Settings, read from the environment (and an optional `.env` file) through one `environ.Env()`.

Every value has a safe development default except `SECRET_KEY`, which production (DEBUG off)
must provide. Misconfiguration stops start-up with one clear line instead of a traceback.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

from config.storages import fail, storages_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        fail("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS: on by default in production, each switch named like Django's setting. Preload and
# subdomains are on so `check --deploy` is clean; turn them off while any subdomain still
# serves plain HTTP (preloading takes effect only once the domain is submitted to the list).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# The cookies follow the redirect unless set: SECURE_SSL_REDIRECT=false alone is a working
# plain-HTTP try of a production configuration.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)


def _proxy_ssl_header() -> tuple[str, str] | None:
    # "HTTP_X_FORWARDED_PROTO,https": trust the TLS proxy's header saying the request was HTTPS.
    value = env.list("SECURE_PROXY_SSL_HEADER", default=[])
    if not value:
        return None
    if len(value) != 2 or not value[0].startswith("HTTP_"):
        fail(
            "SECURE_PROXY_SSL_HEADER must be a header and its value, "
            "e.g. HTTP_X_FORWARDED_PROTO,https."
        )
    return value[0], value[1]


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()

# Content-Security-Policy (django-csp): scripts only from this site or carrying the page's nonce;
# inline style attributes stay allowed because the admin's templates use them and they cannot
# run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "import_export",
    "simple_history",
    "django_q",
    "axes",
    "organizations",
    "properties",
    "imports",
    "backups",
    "integrity",
    "sources",
    "health",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files are served before sessions or the database are touched.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Pages show times in the member's organisation's time zone.
    "organizations.middleware.OrganizationTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A query parameter holding a NUL or a lone surrogate is dropped, with a sentence.
    "organizations.middleware.UnusableParametersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the acting admin user on every history row written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The admin header names the member's organisation.
                "organizations.context_processors.acting_organization",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"


def _database_from_env() -> dict:
    default_url = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    url = env.str("DATABASE_URL", default=default_url)
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # environ raises several types for a malformed URL
        fail(f"DATABASE_URL is not a valid database URL ({exc}).")
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        fail(f"DATABASE_URL must point to PostgreSQL or SQLite, not {url.split(':', 1)[0]!r}.")
    if not config.get("NAME"):
        fail("DATABASE_URL names no database.")
    if engine == "django.db.backends.sqlite3":
        options = config.setdefault("OPTIONS", {})
        # Writers wait for each other instead of failing at once with "database is locked".
        options["timeout"] = 30
        # Write-ahead logging: the web server's reads and a task's writes (an import, a
        # restore) no longer block each other, and a commit appends to the log instead of
        # copying pages to a rollback journal. With it, synchronous=NORMAL syncs the disk at
        # checkpoints rather than at every commit: the database stays consistent through a
        # power cut, which may undo the last commits (an import resumes from its marker).
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")
    else:
        config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
        # A kept connection is checked at the start of each request, so one the database has
        # dropped (a restart, a failover) is replaced instead of failing that request.
        config["CONN_HEALTH_CHECKS"] = config["CONN_MAX_AGE"] != 0
    config.setdefault("TEST", {})
    test_name = env.str("TEST_DATABASE_NAME", default="")
    if test_name:
        config["TEST"]["NAME"] = test_name
    return config


DATABASES = {"default": _database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes checks every login for a lockout before Django's own backend checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: this many failures for one user name from one address lock that pair out
# for the cool-off; superusers see and clear lockouts under "Axes" in the admin.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
_AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
# 0 keeps a lockout until an administrator clears it.
AXES_COOLOFF_TIME = timedelta(minutes=_AXES_COOLOFF_MINUTES) if _AXES_COOLOFF_MINUTES else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "organizations.lockout.lockout_response"
# The client address is the connecting peer's unless the deployment says how many proxies in
# front of it append to X-Forwarded-For; trusting that header blindly would let an attacker
# pick a fresh address for every guess.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-au"
TIME_ZONE = env.str("TIME_ZONE", default="Australia/Melbourne")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
BACKUP_ROOT = env.path("BACKUP_ROOT", default=BASE_DIR / "var" / "backups")
# SQLite only: the folder of the lock files running backups and restores hold (PostgreSQL uses
# advisory locks); a lock freed while its row still says running means the worker died.
RUN_LOCK_DIR = env.path("RUN_LOCK_DIR", default=BASE_DIR / "var" / "locks")

# Object storage (django-storages' S3 backend, any S3-compatible service), chosen per use by
# BACKUP_STORAGE, MEDIA_STORAGE and BACKUP_REPLICA_STORAGE (config/storages.py). The AWS_* names
# are django-storages' own; left unset, the credentials come from boto3's usual chain (environment,
# instance role).
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
# An archive read from S3 spools to disk past this size instead of being held in memory
# (django-storages' default, 0, never spools); uploads above 8 MB go up in multipart parts.
AWS_S3_MAX_MEMORY_SIZE = env.int("AWS_S3_MAX_MEMORY_SIZE", default=8 * 1024 * 1024)
STORAGES = storages_from_env(
    env,
    debug=DEBUG,
    backup_root=BACKUP_ROOT,
    s3={
        "bucket_name": AWS_STORAGE_BUCKET_NAME,
        "endpoint_url": AWS_S3_ENDPOINT_URL,
        "region_name": AWS_S3_REGION_NAME,
        "access_key": AWS_ACCESS_KEY_ID,
        "secret_key": AWS_SECRET_ACCESS_KEY,
        "max_memory_size": AWS_S3_MAX_MEMORY_SIZE,
    },
)

try:
    EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
except Exception as exc:
    fail(f"EMAIL_URL is not a valid e-mail URL ({exc}).")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="property-platform@localhost")

# django-q2: the ORM broker needs no extra server; REDIS_URL switches to Redis for deployments
# with several worker machines.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "property-platform",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=3600),
    "retry": env.int("Q_RETRY", default=3700),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "save_limit": 500,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# History: the acting user comes from the request; history pages need the history model's
# own permissions, which only managers and admins are granted.
SIMPLE_HISTORY_ENFORCE_HISTORY_MODEL_PERMISSIONS = True
SIMPLE_HISTORY_REVERT_DISABLED = False

# django-import-export: import/export need their own permission (granted to managers).
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
IMPORT_EXPORT_USE_TRANSACTIONS = True
# The stock escape only strips "=" and turns every cell into text (numbers included);
# PropertyExportResource neutralises =, +, -, @ itself and keeps numbers as numbers.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False

# Imports: files above this many rows import as a background task; a job silent for this long
# counts as dead and may be resumed; IMPORT_WRITER forces "orm" or "copy" (default: COPY on
# PostgreSQL, the bulk ORM on SQLite).
IMPORT_BACKGROUND_THRESHOLD_ROWS = env.int("IMPORT_BACKGROUND_THRESHOLD_ROWS", default=5000)
# A file larger than this previews in the background whatever its row count (a file of one
# huge JSON item has one row): the web process never parses a large file.
IMPORT_BACKGROUND_THRESHOLD_BYTES = env.int(
    "IMPORT_BACKGROUND_THRESHOLD_BYTES", default=2 * 1024 * 1024
)
IMPORT_STALE_SECONDS = env.int("IMPORT_STALE_SECONDS", default=120)
IMPORT_WRITER = env.str("IMPORT_WRITER", default="")

# Input limits (docs/security.md): every file, archive and form value is checked against these
# before it is read further; a refusal names the limit and the value.
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
# Checked while the upload arrives (imports/uploads.py), before Django spools it to disk.
FILE_UPLOAD_HANDLERS = [
    "imports.uploads.UploadSizeLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=5_000_000)
IMPORT_MAX_COLUMNS = env.int("IMPORT_MAX_COLUMNS", default=200)
INPUT_MAX_FIELD_LENGTH = env.int("INPUT_MAX_FIELD_LENGTH", default=10_000)
INPUT_MAX_NUMBER_DIGITS = env.int("INPUT_MAX_NUMBER_DIGITS", default=30)
INPUT_MAX_JSON_DEPTH = env.int("INPUT_MAX_JSON_DEPTH", default=20)
INPUT_MAX_JSON_ITEM_BYTES = env.int("INPUT_MAX_JSON_ITEM_BYTES", default=1024 * 1024)
# Zip members (XLSX parts, backup archive tables): declared uncompressed size and ratio.
XLSX_MAX_MEMBER_BYTES = env.int("XLSX_MAX_MEMBER_BYTES", default=512 * 1024 * 1024)
XLSX_MAX_COMPRESSION_RATIO = env.int("XLSX_MAX_COMPRESSION_RATIO", default=100)
# The shared strings are the one part openpyxl holds in memory whole (about six times its size).
XLSX_MAX_SHARED_STRINGS_BYTES = env.int("XLSX_MAX_SHARED_STRINGS_BYTES", default=128 * 1024**2)
BACKUP_MAX_MEMBER_BYTES = env.int("BACKUP_MAX_MEMBER_BYTES", default=16 * 1024**3)
BACKUP_MAX_COMPRESSION_RATIO = env.int("BACKUP_MAX_COMPRESSION_RATIO", default=200)
# One row (line) of a backup archive's table: five JSON groups within INPUT_MAX_JSON_ITEM_BYTES
# each stay far below it.
BACKUP_MAX_ROW_BYTES = env.int("BACKUP_MAX_ROW_BYTES", default=64 * 1024 * 1024)

# Alert webhooks may only reach public addresses, unless this allows hosts on private networks
# (a webhook receiver inside the deployment's own network, or tests on 127.0.0.1).
ALERT_WEBHOOK_ALLOW_PRIVATE = env.bool("ALERT_WEBHOOK_ALLOW_PRIVATE", default=False)
# CA bundle (PEM) that https webhooks' certificates are checked against; empty: the system's.
ALERT_WEBHOOK_CA_FILE = env.str("ALERT_WEBHOOK_CA_FILE", default="")

# Government open-data sources: portal and file URLs must resolve to public addresses unless
# SYNC_ALLOW_PRIVATE_HOSTS allows private ones (an intranet portal, tests on 127.0.0.1). A run
# that would mark more than SYNC_MASS_DELETE_SHARE of a source's records vanished stops first.
# CKAN API tokens are read from the environment variable a source names, never the database.
SYNC_ALLOW_PRIVATE_HOSTS = env.bool("SYNC_ALLOW_PRIVATE_HOSTS", default=False)
SYNC_MASS_DELETE_SHARE = env.float("SYNC_MASS_DELETE_SHARE", default=0.10)
SYNC_PAGE_SIZE = env.int("SYNC_PAGE_SIZE", default=32_000)
SYNC_CONNECT_TIMEOUT = env.float("SYNC_CONNECT_TIMEOUT", default=10.0)
SYNC_READ_TIMEOUT = env.float("SYNC_READ_TIMEOUT", default=60.0)
SYNC_RETRIES = env.int("SYNC_RETRIES", default=5)
SYNC_BACKOFF_SECONDS = env.float("SYNC_BACKOFF_SECONDS", default=2.0)
SYNC_MAX_WAIT_SECONDS = env.float("SYNC_MAX_WAIT_SECONDS", default=300.0)
SYNC_STALE_SECONDS = env.int("SYNC_STALE_SECONDS", default=600)
# Runs announcing at least this many records validate in a forked process, as large imports do.
SYNC_PROCESS_THRESHOLD = env.int("SYNC_PROCESS_THRESHOLD", default=20_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "one_line_refusals": {"()": "organizations.log_filters.OneLineRefusals"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "loggers": {
        # Django's own console handler would print every record a second time beside the
        # root's; errors are still mailed to ADMINS in production.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        # Configuring "django" resets its children: the development server's access log is
        # set up again as Django's default has it.
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # A 403 is one line naming who was refused and why, not a traceback.
        "django.request": {"filters": ["one_line_refusals"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
