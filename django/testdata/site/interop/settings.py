"""Settings of the test site, from the environment the Go test sets:

QSD_SECRET_KEY   SECRET_KEY, shared with the Go side
QSD_DATABASE     sqlite:///ABSOLUTE/PATH or postgres://USER@HOST:PORT/NAME
QSD_REDIS_URL    redis://HOST:PORT/DB, the session cache (django-redis)
QSD_KEY_PREFIX   the cache's KEY_PREFIX, one per test run
QSD_ENGINE       "qsessions" (django-qsessions' cached_db, the default) or
                 "django" (Django's own cached_db and django_session)

USE_TZ is True and TIME_ZONE is UTC: datetimes are stored in UTC, which is
what package django assumes unless told otherwise (Options.TimeZone).
"""
import os
from urllib.parse import urlparse

SECRET_KEY = os.environ["QSD_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "interop.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

ENGINE = os.environ.get("QSD_ENGINE", "qsessions")
if ENGINE == "qsessions":
    SESSIONS_APP = "qsessions"
    SESSION_ENGINE = "qsessions.backends.cached_db"
    SESSION_MIDDLEWARE = "qsessions.middleware.SessionMiddleware"
elif ENGINE == "django":
    SESSIONS_APP = "django.contrib.sessions"
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
else:
    raise ValueError("QSD_ENGINE must be qsessions or django, not %r" % ENGINE)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    SESSIONS_APP,
    "interop",
]
MIDDLEWARE = [
    SESSION_MIDDLEWARE,
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"

# The password hash only feeds the session's _auth_user_hash; a fast hasher
# keeps the test quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["QSD_REDIS_URL"],
        "KEY_PREFIX": os.environ["QSD_KEY_PREFIX"],
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}

_db = urlparse(os.environ["QSD_DATABASE"])
if _db.scheme == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _db.path}}
elif _db.scheme in ("postgres", "postgresql"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _db.path.lstrip("/"),
            "USER": _db.username or "postgres",
            "PASSWORD": _db.password or "",
            "HOST": _db.hostname or "127.0.0.1",
            "PORT": str(_db.port or 5432),
        }
    }
else:
    raise ValueError("QSD_DATABASE: unknown scheme %r" % _db.scheme)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"django.security.SuspiciousSession": {"level": "ERROR"}},
}
