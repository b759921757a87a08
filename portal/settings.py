"""Signet settings: everything comes from the environment (and an optional `.env`).

Defaults are the production-safe ones: DEBUG off, HTTPS on when not debugging,
secure cookies, HSTS. Development conveniences live in `make run`, which writes
a local `.env`, never in these defaults. `.env.example` documents every variable.
"""

import os
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
TESTING = "pytest" in sys.modules or env.bool("SIGNET_TESTING", default=False)
# SIGNET_ENV_FILE names another file; empty reads none (a subprocess started by a test must not pick
# up the developer's `.env` that `make run` wrote).
ENV_FILE = os.environ.get("SIGNET_ENV_FILE", str(BASE_DIR / ".env"))
if not TESTING and ENV_FILE:
    # Values already in the process environment win over the file. Tests ignore
    # it so that they behave the same on every machine.
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-" + "x" * 40
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Tests run over plain HTTP unless they ask otherwise (override_settings / secure=True).
HTTPS = env.bool("HTTPS", default=not DEBUG and not TESTING)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "portal",
    "widgets",
    "keys",
]

MIDDLEWARE = [
    "portal.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.BodySizeLimitMiddleware",
    # Django's session, auth and messages middleware, skipped for the API (bearer keys, no
    # session): see portal/middleware.py.
    "portal.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.middleware.AuthenticationMiddleware",
    "portal.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.tenancy.tenant_context",
            ],
            "builtins": ["portal.templatetags.signet"],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server and several test threads share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "signet",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
elif TESTING:
    # Each test run has its own in-process cache (concurrent runs must not share one).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "signet-tests"}}
else:
    # One machine, several processes: a file cache is shared by all of them, so
    # a key revoked in one worker is seen by the others (see widgets/config.py).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env.str("CACHE_DIR", default=str(BASE_DIR / "var" / "cache")),
            "KEY_PREFIX": "signet",
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The login throttle lives in the backend, so the Django admin's login is throttled too.
AUTHENTICATION_BACKENDS = ["portal.accounts.ThrottledModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Hashing speed is not under test; Argon2 stays the production hasher.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # No manifest: pages render whether or not collectstatic ran (make run does
    # not need it); whitenoise still compresses what collectstatic collects.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Security --------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "portal.errors_views.csrf_failure_view"  # JSON URLs answer with the envelope
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=60 * 60 * 8)
SESSION_SAVE_EVERY_REQUEST = True  # the age above is an inactivity timeout
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env.bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Browser forms: Django's own limits; the JSON API has its own (API_MAX_BODY_BYTES).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("FORM_MAX_BODY_BYTES", default=256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="signet@localhost")

# --- Signet ----------------------------------------------------------------
SIGNET = {
    "API_MAX_BODY_BYTES": env.int("API_MAX_BODY_BYTES", default=64 * 1024),
    "TOKEN_MAX_BYTES": env.int("TOKEN_MAX_BYTES", default=16 * 1024),
    "API_RATE_LIMIT_PER_MINUTE": env.int("API_RATE_LIMIT_PER_MINUTE", default=6000),
    "REPLAY_TTL_WITHOUT_EXP": env.int("REPLAY_TTL_WITHOUT_EXP", default=7 * 24 * 3600),
    "LOGIN_FAILURES_BEFORE_LOCK": env.int("LOGIN_FAILURES_BEFORE_LOCK", default=5),
    "LOGIN_LOCK_SECONDS": env.int("LOGIN_LOCK_SECONDS", default=15 * 60),
    # An address is shared by many people (NAT, offices): it gets more tries than one username.
    "LOGIN_FAILURES_PER_ADDRESS": env.int("LOGIN_FAILURES_PER_ADDRESS", default=20),
    # How many reverse proxies append to X-Forwarded-For in front of Signet (0: use REMOTE_ADDR).
    "TRUSTED_PROXY_COUNT": env.int("TRUSTED_PROXY_COUNT", default=1 if env.bool("BEHIND_PROXY", default=False) else 0),
    "INVITATION_DAYS": env.int("INVITATION_DAYS", default=7),
    "PORTAL_ISSUER": env.str("PORTAL_ISSUER", default="signet"),
    "SESSION_TOKEN_SECONDS": env.int("SESSION_TOKEN_SECONDS", default=300),
    "VERIFICATION_LOG_RETENTION_DAYS": env.int("VERIFICATION_LOG_RETENTION_DAYS", default=30),
    # The verification log is written in batches (see widgets/outcomes.py); tests flush explicitly.
    "VERIFICATION_LOG_FLUSH_EVERY": env.int("VERIFICATION_LOG_FLUSH_EVERY", default=200),
    "VERIFICATION_LOG_FLUSH_SECONDS": env.float("VERIFICATION_LOG_FLUSH_SECONDS", default=1e9 if TESTING else 2.0),
    # Write the log from a background thread of each process (servers); tests write in the request.
    "VERIFICATION_LOG_BACKGROUND": env.bool("VERIFICATION_LOG_BACKGROUND", default=not TESTING),
    # With Redis: mirror API-key entries and widget versions per process, kept exact by Redis
    # pub/sub notices (portal/sharedcache.py); off: read them from Redis on every request.
    "SHARED_CACHE_MIRROR": env.bool("SHARED_CACHE_MIRROR", default=True),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Key-encryption key for the platform's private keys (encryption and session
# keys). Required when serving production traffic (DEBUG off and HTTPS on).
# Without it, a development KEK is derived from SECRET_KEY and announced at
# start-up; see README "Key-encryption key".
SIGNET_KEK = env.str("SIGNET_KEK", default="")
SIGNET_KEK_PREVIOUS = env.list("SIGNET_KEK_PREVIOUS", default=[])
if not SIGNET_KEK and not DEBUG and HTTPS and not TESTING:
    raise ImproperlyConfigured(
        "SIGNET_KEK is required in production (DEBUG off, HTTPS on). Generate one with: "
        "python -c 'import secrets, base64; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'"
    )
