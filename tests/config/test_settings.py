"""Production settings come from the environment: HTTPS, HSTS and secure cookies on by default
with DEBUG off, each switch changeable, and `check --deploy` clean."""

import json
import subprocess
import sys

import pytest

from tests.config.helpers import ROOT, manage, production_env

SECURITY_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "AXES_FAILURE_LIMIT",
    "AXES_COOLOFF_TIME",
]
PRINT_SETTINGS = (
    "import json; from config import settings; "
    f"print(json.dumps({{name: str(getattr(settings, name)) for name in {SECURITY_SETTINGS!r}}}))"
)


def _python(env, code: str) -> subprocess.CompletedProcess:
    # The settings module alone, without starting Django: what the environment makes of it.
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _settings(env) -> dict[str, str]:
    result = _python(env, PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_prints_no_issues_in_production(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr.strip() == ""


def test_production_defaults_and_every_switch_from_the_environment(tmp_path):
    defaults = _settings(production_env(tmp_path))
    assert defaults == {
        "SECURE_SSL_REDIRECT": "True",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True",
        "SECURE_HSTS_PRELOAD": "True",
        "SESSION_COOKIE_SECURE": "True",
        "CSRF_COOKIE_SECURE": "True",
        "SECURE_PROXY_SSL_HEADER": "None",
        "AXES_FAILURE_LIMIT": "5",
        "AXES_COOLOFF_TIME": "0:15:00",
    }
    plain_http = _settings(production_env(tmp_path, SECURE_SSL_REDIRECT="false"))
    assert plain_http["SESSION_COOKIE_SECURE"] == plain_http["CSRF_COOKIE_SECURE"] == "False"
    assert plain_http["SECURE_HSTS_SECONDS"] == "31536000"  # sent over HTTPS only anyway
    changed = _settings(
        production_env(
            tmp_path,
            SECURE_SSL_REDIRECT="false",
            SECURE_HSTS_SECONDS="600",
            SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
            SECURE_HSTS_PRELOAD="false",
            SESSION_COOKIE_SECURE="true",
            CSRF_COOKIE_SECURE="false",
            SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
            AXES_FAILURE_LIMIT="10",
            AXES_COOLOFF_MINUTES="60",
        )
    )
    assert changed == {
        "SECURE_SSL_REDIRECT": "False",
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "False",
        "SECURE_HSTS_PRELOAD": "False",
        "SESSION_COOKIE_SECURE": "True",
        "CSRF_COOKIE_SECURE": "False",
        "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')",
        "AXES_FAILURE_LIMIT": "10",
        "AXES_COOLOFF_TIME": "1:00:00",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER must be"),
        ({"BACKUP_STORAGE": "s3"}, "BACKUP_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME."),
        ({"BACKUP_STORAGE": "ftp"}, 'BACKUP_STORAGE must be "local" or "s3"'),
        ({"BACKUP_REPLICA_STORAGE": "s3"}, "needs BACKUP_REPLICA_BUCKET."),
    ],
)
def test_a_bad_production_variable_stops_startup_with_one_line(tmp_path, overrides, message):
    result = _python(production_env(tmp_path, **overrides), "import config.settings")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("Configuration error:"), result.stderr
    assert message in lines[0]


def test_development_defaults_stay_plain_http(settings):
    # The suite runs with the development defaults: no redirect, cookies over HTTP.
    assert settings.SECURE_SSL_REDIRECT is False
    assert settings.SECURE_HSTS_SECONDS == 0
    assert settings.SESSION_COOKIE_SECURE is False


def test_object_storage_is_chosen_by_the_environment(tmp_path):
    code = (
        "import json; from config import settings; print(json.dumps({alias: "
        "[spec['BACKEND'].rsplit('.', 1)[1], *(spec.get('OPTIONS', {}).get(key) for key in "
        "('bucket_name', 'location', 'endpoint_url', 'region_name', 'access_key'))] "
        "for alias, spec in settings.STORAGES.items()}))"
    )
    local = json.loads(_python(production_env(tmp_path), code).stdout)
    assert local["backups"] == [
        "FileSystemStorage",
        None,
        str(tmp_path / "backups"),
        None,
        None,
        None,
    ]
    assert "backups_replica" not in local
    result = _python(
        production_env(
            tmp_path,
            BACKUP_STORAGE="s3",
            MEDIA_STORAGE="s3",
            BACKUP_REPLICA_STORAGE="s3",
            AWS_STORAGE_BUCKET_NAME="primary",
            AWS_S3_ENDPOINT_URL="https://s3.example.org",
            AWS_S3_REGION_NAME="ap-southeast-2",
            AWS_ACCESS_KEY_ID="key-id",
            AWS_SECRET_ACCESS_KEY="secret",
            BACKUP_REPLICA_BUCKET="replica",
            BACKUP_REPLICA_REGION_NAME="ap-southeast-4",
        ),
        code,
    )
    in_s3 = json.loads(result.stdout)
    endpoint = "https://s3.example.org"
    assert in_s3["backups"] == [
        "S3Storage",
        "primary",
        "backups",
        endpoint,
        "ap-southeast-2",
        "key-id",
    ]
    assert in_s3["default"] == [
        "S3Storage",
        "primary",
        "media",
        endpoint,
        "ap-southeast-2",
        "key-id",
    ]
    assert in_s3["backups_replica"] == [
        "S3Storage",
        "replica",
        "backups",
        endpoint,
        "ap-southeast-4",
        "key-id",
    ]
    assert in_s3["staticfiles"][0] == "CompressedManifestStaticFilesStorage"
