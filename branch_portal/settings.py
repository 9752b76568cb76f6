"""Branch Portal settings: one module, driven by environment variables (see .env.example)."""

import sys
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .env import (
    DEVELOPMENT_SECRET_KEY,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    secret_key_weakness,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# Production is anything that is not explicitly a development or test run.
DEVELOPMENT = env_bool("DEVELOPMENT", False)

SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEVELOPMENT:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set in production.")
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
elif not DEVELOPMENT and (weakness := secret_key_weakness(SECRET_KEY)):
    # Whoever knows the key can forge sessions (log in as anyone) and password-reset links.
    raise ImproperlyConfigured(
        f"SECRET_KEY {weakness}: refused in production. Generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
if DEBUG and not DEVELOPMENT:
    raise ImproperlyConfigured("DEBUG=true is refused in production; set DEVELOPMENT=true.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEVELOPMENT else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "django_tables2",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "branch_portal",
    "borrowers",
    "loans",
    "savings",
    "outbox",
    "reports",
    "commune_day",
    "seeding",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "branch_portal.middleware.VietnameseByDefaultMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.access: the user's offices and roles, read once for the whole request.
    "borrowers.access.AccessMiddleware",
    # A group head's login opens no office page (api/middleware.py).
    "api.middleware.GroupHeadPagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Records the user and URL with every pghistory event of a request.
    "pghistory.middleware.HistoryMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "branch_portal.urls"
WSGI_APPLICATION = "branch_portal.wsgi.application"

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
                "django.template.context_processors.i18n",
                "borrowers.context_processors.office",
                "loans.context_processors.approvals_waiting",
            ],
            "builtins": ["branch_portal.templatetags.money"],
        },
    }
]

# Two roles (docs/decisions/0010-two-database-roles.md): DATABASE_URL is the application role
# web, worker and beat connect as; DATABASE_OWNER_URL the owner of the tables, which migrates.
# With DATABASE_URL alone everything runs as that one role; with neither, the embedded
# PostgreSQL provides both.
DATABASE_URL = env_str("DATABASE_URL")
DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL")
if DATABASE_URL:
    APP_DATABASE = dj_database_url.parse(DATABASE_URL, conn_max_age=60)
    OWNER_DATABASE = (
        dj_database_url.parse(DATABASE_OWNER_URL, conn_max_age=60)
        if DATABASE_OWNER_URL
        else APP_DATABASE
    )
elif DATABASE_OWNER_URL:
    raise ImproperlyConfigured("DATABASE_OWNER_URL needs DATABASE_URL (the application role).")
else:
    from .embedded_db import embedded_databases

    OWNER_DATABASE, APP_DATABASE = embedded_databases()
# The processes that change the schema or bypass its triggers connect as the owner: migrate and
# the role setup; the synthetic benchmark loader (replica mode, see seeding/synthetic.py); and the
# test run, which creates and migrates its own database (its tests connect as the application
# role where the roles are the point). Everything else connects as the application role.
OWNER_COMMANDS = {"migrate", "setup_db_roles", "seed_synthetic"}
_COMMAND = sys.argv[1] if len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" else None
AS_OWNER = "pytest" in sys.modules or _COMMAND in OWNER_COMMANDS
DATABASES = {"default": {**(OWNER_DATABASE if AS_OWNER else APP_DATABASE)}}
DATABASES["default"].setdefault("TEST", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock an account (per username) for a while after repeated failed logins.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60
# Per username only: a whole office often shares one address behind its router, and locking by
# address would lock out every clerk of it (hence axes.W006 is silenced).
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"

LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEVELOPMENT
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# In development the static files are served from the source folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEVELOPMENT
WHITENOISE_AUTOREFRESH = DEVELOPMENT
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"

# Behind HTTPS in production (SECURE_COOKIES, on unless DEVELOPMENT): cookies only over TLS,
# plain HTTP redirected to HTTPS, and browsers told to use nothing but HTTPS for a year (HSTS).
# The TLS proxy in front says which scheme the browser used in X-Forwarded-Proto.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEVELOPMENT)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SECURE_COOKIES)
if SECURE_COOKIES or SECURE_SSL_REDIRECT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if SECURE_COOKIES else 0)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured(f"SECURE_HSTS_SECONDS must not be negative: {SECURE_HSTS_SECONDS}")
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_COOKIES)
# The preload token only allows the domain to be submitted to the browsers' preload list (a
# promise slow to take back); the header alone adds nothing else. Set false where subdomains or
# the domain itself may need plain HTTP.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", SECURE_COOKIES)

# Content-Security-Policy (django-csp): scripts, styles, fonts and images from this site only,
# no inline script, style or event handler (static/js/portal.js wires the pages' behaviour), so
# an injected tag or attribute cannot run. Bootstrap's icons are data: SVG images in its CSS.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)

REDIS_URL = env_str("REDIS_URL")
# The shared cache (the API's rate limits): Redis when there is one, so every process counts
# together; keyed by database, so two checkouts or test workers on one Redis never mix.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"bp:{DATABASES['default']['NAME']}",
        }
    }

# The API (docs/decisions/0019-api.md).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        # A logged-in user reads the schema, the docs and (read-only) the data in the browser.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.TokenScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursor",
    "DEFAULT_SCHEMA_CLASS": "api.schema.PortalAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON in, as out: a form-encoded body is a 415, not a second way to say the same thing.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_RATE_LIMIT = env_str("API_RATE_LIMIT") or "1200/min"
SPECTACULAR_SETTINGS = {
    "TITLE": "Branch Portal API",
    "DESCRIPTION": (
        "The transaction office's API: borrowers, loans, ledger entries and report runs, scoped "
        "to the token's offices. Authenticate with `Authorization: Bearer <token>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set, where two fields share one or two sets share a field name.
    "ENUM_NAME_OVERRIDES": {
        "EntryKindEnum": "loans.kinds.TransactionKind",
        "ReportRunKindEnum": "reports.models.ReportRun.Kind",
    },
}
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# A month's figures from a month-end snapshot share the changed loans out over this many
# database sessions (reports.delta) once there are this many entries since the snapshot.
REPORT_SESSIONS = env_int("REPORT_SESSIONS", 2)
REPORT_SHARE_MIN_ENTRIES = env_int("REPORT_SHARE_MIN_ENTRIES", 20_000)
# A report build beats its run's heartbeat this often (seconds); a run silent longer than the
# stale threshold lost its worker and is taken back by the task beat runs every take-back period
# (failed after the maximum attempts). See docs/reports.md.
REPORTS_HEARTBEAT_SECONDS = env_int("REPORTS_HEARTBEAT_SECONDS", 15)
REPORTS_STALE_SECONDS = env_int("REPORTS_STALE_SECONDS", 60)
REPORTS_MAX_ATTEMPTS = env_int("REPORTS_MAX_ATTEMPTS", 3)
REPORTS_TAKE_BACK_SECONDS = env_int("REPORTS_TAKE_BACK_SECONDS", 30)

DJANGO_TABLES2_TEMPLATE = "django_tables2/portal.html"
DJANGO_TABLES2_TABLE_ATTRS = {"class": "table table-sm table-hover align-middle"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
