"""gunicorn settings for `make serve` and production: `gunicorn -c config/gunicorn.py`.

Values come from the environment like the Django settings; each default suits one small
machine. Static files are served by whitenoise inside the application, so no other server is
needed in front except a TLS proxy.
"""

import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("HOST", "127.0.0.1:8000")
# Sync workers: each holds one request and one database connection at a time.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Each sync worker keeps its database connection between requests: opening one per request
# (Django's default, CONN_MAX_AGE=0) cost about as much as the request itself (docs/deploy.md).
# Behind PgBouncer in transaction mode, set CONN_MAX_AGE=0 instead.
os.environ.setdefault("CONN_MAX_AGE", "60")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Recycled workers keep memory bounded after large previews or exports.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = 100
# Addresses of the TLS proxy allowed to set X-Forwarded-* (gunicorn also reads this variable).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The control socket's fixed default path would collide between instances on one machine.
control_socket_disable = True
