"""Django settings of the workbench, derived from the one claimflow Settings object
(``CLAIMFLOW_*``); nothing here reads the environment itself."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

from services.workbench.config import current

CF = current()
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DATA = CF.data_dir / "workbench"
DATA.mkdir(parents=True, exist_ok=True)


def database_from_url(url: str | None) -> dict:
    """``sqlite:///abs/path`` | ``postgresql://user[:pw]@host:port/name`` -> a DATABASES entry."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA / "workbench.sqlite3"),
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 20}}
    u = urlparse(url)
    if u.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(u.path),
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 20}}
    if u.scheme in ("postgres", "postgresql"):
        return {"ENGINE": "django.db.backends.postgresql", "NAME": u.path.lstrip("/"), "USER": unquote(u.username or ""),
                "PASSWORD": unquote(u.password or ""), "HOST": u.hostname or "127.0.0.1", "PORT": str(u.port or 5432),
                "CONN_MAX_AGE": 60}
    raise ImproperlyConfigured(f"workbench_database_url: unsupported scheme {u.scheme!r}")


def _secret_key() -> str:
    if CF.workbench_secret_key is not None:
        return CF.workbench_secret_key.get_secret_value()
    if CF.http_host not in LOOPBACK:
        raise ImproperlyConfigured("CLAIMFLOW_WORKBENCH_SECRET_KEY is required when the workbench is bound beyond loopback")
    path = DATA / "dev-secret-key"  # loopback (dev) only: one random key per data folder
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = _secret_key()
DEBUG = False
ALLOWED_HOSTS = sorted(LOOPBACK | {CF.http_host, "testserver"})
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "services.workbench.apps.WorkbenchConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "services.workbench.first_login.ForcePasswordChangeMiddleware",  # one-time passwords: change before anything else
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
ROOT_URLCONF = "services.workbench.site.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
WSGI_APPLICATION = "services.workbench.site.wsgi.application"
DATABASES = {"default": database_from_url(CF.workbench_database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "queue"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_SECURE = CF.http_host not in LOOPBACK
CSRF_COOKIE_SECURE = CF.http_host not in LOOPBACK
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise looks for it; app files are served from the finders
WHITENOISE_USE_FINDERS = True  # serve app static files (vendored htmx) without a collectstatic step
# Logs carry user names, routes and record ids; never request bodies or query strings (PHI).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
                "claimflow.workbench": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
