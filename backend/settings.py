"""Ridealong settings: one module, every value read from the environment."""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lstrip().startswith("["):
        value = json.loads(raw)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ImproperlyConfigured(f"{name} must be a JSON list of strings")
        return value
    return [part.strip() for part in raw.split(",") if part.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    # Fail closed: a published development key would let anyone forge sessions and signed links.
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set SECRET_KEY in the environment)")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular_sidecar",
    "drf_spectacular",
    "scheduling",
]

MIDDLEWARE = [
    "scheduling.observability.RequestLogMiddleware",
    "scheduling.middleware.RefuseOversizedBodies",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "scheduling.middleware.ReadersLanguage",
    "scheduling.middleware.PrivatePagesAreNotStored",
    "scheduling.middleware.VisitorsKeepToTheirOwnPages",
    "csp.middleware.CSPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            # `date` writes day and month names in the page's language (scheduling/dates.py).
            "builtins": ["scheduling.templatetags.dates"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "scheduling.languages.switch",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'ridealong.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        # Kept a minute: a new PostgreSQL connection per request costs more than the request itself.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # A persistent connection that died with a database restart is replaced, not used for a 500.
        conn_health_checks=True,
    )
}
# Bodies past this are refused with 413 `too_large` (SPEC §6); no real request comes close.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("RIDEALONG_MAX_BODY_BYTES", 256 * 1024)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The shift search's covering index is a PostgreSQL feature; SQLite simply uses the plain index.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    # Writers queue behind one another instead of failing on a lock upgrade (SPEC §5.3).
    # SQLite serialises every writer, so a writer waits five lock timeouts (15 s by default) before 503 busy.
    sqlite_wait = max(env_int("RIDEALONG_LOCK_TIMEOUT_MS", 3000) * 5, 1000) / 1000
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": sqlite_wait})

# Bounded wait for a row lock before answering 503 busy (SPEC §5.3).
RIDEALONG_LOCK_TIMEOUT_MS = env_int("RIDEALONG_LOCK_TIMEOUT_MS", 3000)
# PostgreSQL connections start with that bound, so a write transaction need not set it each time.
RIDEALONG_CONNECTION_LOCK_TIMEOUT_MS = None
# Behind PgBouncer in transaction pooling (SPEC §16): no connect-time options (PgBouncer refuses them, and a
# pooled server connection would not keep them), so lock_timeout is set per transaction with SET LOCAL;
# no server-side cursors, which cannot outlive the transaction that a pooled connection is lent for.
DATABASE_POOLER = env_str("DATABASE_POOLER", "")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured("DATABASE_POOLER must be empty or pgbouncer")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if DATABASE_POOLER:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        RIDEALONG_CONNECTION_LOCK_TIMEOUT_MS = RIDEALONG_LOCK_TIMEOUT_MS
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c lock_timeout={RIDEALONG_LOCK_TIMEOUT_MS}".strip()
RIDEALONG_REQUIRED_CLEARANCES = env_list("RIDEALONG_REQUIRED_CLEARANCES", ["dbs", "confidentiality", "briefing"])
# The required kinds an observer signs online themselves (SPEC §19); a booking missing only these is held with
# its paperwork outstanding instead of refused.
RIDEALONG_ONLINE_CLEARANCES = env_list("RIDEALONG_ONLINE_CLEARANCES", ["confidentiality", "briefing"])
if not set(RIDEALONG_ONLINE_CLEARANCES) <= set(RIDEALONG_REQUIRED_CLEARANCES):
    raise ImproperlyConfigured("RIDEALONG_ONLINE_CLEARANCES must be a subset of RIDEALONG_REQUIRED_CLEARANCES")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password sign-in counts failures in the database, so every worker process sees them (SPEC §12).
AUTHENTICATION_BACKENDS = ["scheduling.auth.ThrottledModelBackend"]
RIDEALONG_SIGNIN_USERNAME_LIMIT = env_int("RIDEALONG_SIGNIN_USERNAME_LIMIT", 5)
RIDEALONG_SIGNIN_ADDRESS_LIMIT = env_int("RIDEALONG_SIGNIN_ADDRESS_LIMIT", 20)
RIDEALONG_API_TOKEN_DAYS = env_int("RIDEALONG_API_TOKEN_DAYS", 30)
RIDEALONG_API_RATE = env_str("RIDEALONG_API_RATE", "1200/min")
# /readyz: the oldest unsent e-mail and the background jobs' last runs may be this old (seconds).
RIDEALONG_READY_OUTBOX_AGE = env_int("RIDEALONG_READY_OUTBOX_AGE", 900)
RIDEALONG_READY_HEARTBEAT_AGE = env_int("RIDEALONG_READY_HEARTBEAT_AGE", 300)
# /metrics answers loopback clients, or anyone sending `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")


def env_networks(name: str) -> list:
    import ipaddress

    try:
        return [ipaddress.ip_network(value, strict=False) for value in env_list(name, [])]
    except ValueError as error:
        raise ImproperlyConfigured(
            f"{name} must list IP addresses or networks (127.0.0.1, 10.0.0.0/8): {error}"
        ) from None


# The proxies whose X-Forwarded-For names the client (SPEC §16); none by default, so the header is ignored.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# Live API tokens one person may hold at once (SPEC §12).
RIDEALONG_MAX_API_TOKENS = env_int("RIDEALONG_MAX_API_TOKENS", 20)
# An Idempotency-Key whose first request died with its process is free again after this (SPEC §6).
RIDEALONG_IDEMPOTENCY_LEASE_SECONDS = env_int("RIDEALONG_IDEMPOTENCY_LEASE_SECONDS", 30)
# Single sign-on with an OpenID Provider (SPEC §12); off unless OIDC_ISSUER and OIDC_CLIENT_ID are set.
OIDC_ISSUER = env_str("OIDC_ISSUER", "")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
OIDC_MATCH_CLAIM = env_str("OIDC_MATCH_CLAIM", "email")
OIDC_CREATE_PEOPLE = env_bool("OIDC_CREATE_PEOPLE", False)
# An e-mail claim matches a person only when the provider says it is verified, unless the provider verifies
# every address it issues (Entra ID for a trust's own tenant): OIDC_TRUST_EMAIL=true (README: its risk).
OIDC_TRUST_EMAIL = env_bool("OIDC_TRUST_EMAIL", False)
PASSWORD_SIGN_IN = env_str("PASSWORD_SIGN_IN", "all")
if PASSWORD_SIGN_IN not in ("all", "admins", "none"):
    raise ImproperlyConfigured(f"PASSWORD_SIGN_IN must be all, admins or none, not {PASSWORD_SIGN_IN!r}")
# Free text of bookings whose shift ended longer ago than this is blanked by process_due (SPEC §13).
RIDEALONG_RETENTION_DAYS = env_int("RIDEALONG_RETENTION_DAYS", 2190)
# Who runs this Ridealong, named in the privacy notice, accessibility statement and cookies page (SPEC §10).
RIDEALONG_ORGANISATION = env_str("RIDEALONG_ORGANISATION", "Example Ambulance Service NHS Trust")
RIDEALONG_CONTACT_EMAIL = env_str("RIDEALONG_CONTACT_EMAIL", "ridealong@example.nhs.uk")
RIDEALONG_DPO_EMAIL = env_str("RIDEALONG_DPO_EMAIL", "dpo@example.nhs.uk")

# Sessions and transport (SPEC §12).
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
RIDEALONG_HTTPS = env_bool("RIDEALONG_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = RIDEALONG_HTTPS
SECURE_SSL_REDIRECT = RIDEALONG_HTTPS
SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60 if RIDEALONG_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = RIDEALONG_HTTPS
SECURE_HSTS_PRELOAD = RIDEALONG_HTTPS
# The health and metrics probes come from inside the network, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# English and Welsh (SPEC §20): the site's default and the languages offered, from RIDEALONG_LANGUAGES.
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
_languages = env_list("RIDEALONG_LANGUAGES", ["en", "cy"])
if not _languages or not set(_languages) <= set(LANGUAGE_NAMES):
    raise ImproperlyConfigured(f"RIDEALONG_LANGUAGES must name some of {', '.join(LANGUAGE_NAMES)}")
LANGUAGES = [(code, LANGUAGE_NAMES[code]) for code in _languages]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE {LANGUAGE_CODE!r} is not in RIDEALONG_LANGUAGES")
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "ridealong_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
# WhiteNoise warns about a missing root; an empty one costs nothing.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "scheduling.storage.StaticStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# Hashed names (after collectstatic) are cached for good; the rest for a minute, as they may change.
WHITENOISE_MAX_AGE = 60

LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Ridealong <ridealong@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scheduling.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["scheduling.api.permissions.SignedIn"],
    "DEFAULT_PAGINATION_CLASS": "scheduling.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "scheduling.api.schema.RidealongSchema",
    "EXCEPTION_HANDLER": "scheduling.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["scheduling.api.throttling.PersonRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["scheduling.api.parsers.StrictJSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ridealong API",
    "DESCRIPTION": "Book places to observe frontline crews, with consent, approval and capacity rules.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per closed set, so generated clients get one enum type for each.
    "ENUM_NAME_OVERRIDES": {
        "BookingStatusEnum": "scheduling.models.BookingStatus",
        "ShiftStatusEnum": "scheduling.models.ShiftStatus",
        "ConsentPreferenceEnum": "scheduling.models.ConsentPreference",
        "ConsentStateEnum": "scheduling.models.ConsentState",
        "ConsentSourceEnum": "scheduling.models.ConsentSource",
        "CrewRoleEnum": "scheduling.models.CrewRole",
        "ResourceKindEnum": "scheduling.models.ResourceKind",
        "OutcomeEnum": "scheduling.models.Outcome",
        "CancelReasonEnum": "scheduling.api.serializers.CANCEL_REASONS",
        "ProgressStateEnum": "scheduling.api.programmes.STATES",
        "OpenRequestStatusEnum": "scheduling.models.OpenRequestStatus",
        "TimeOfDayEnum": "scheduling.models.TimeOfDay",
        "BookingActionEnum": "scheduling.access.BookingAction.ALL",
    },
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    # The interactive docs are served by the app itself, without a CDN (SPEC §6).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Only the app's own scripts, styles and images; no page has an inline script (SPEC §12).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # The NHS fonts (Frutiger), from the NHS's own font host, as nhsuk-frontend's stylesheet names them.
        "font-src": ["'self'", "https://assets.nhs.uk"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_tokens": {"()": "scheduling.logging.MaskCalendarTokens"},
        "request_id": {"()": "scheduling.logging.AddRequestId"},
    },
    # One JSON object a line on stdout (SPEC §16); LOG_FORMAT=text for a terminal.
    "formatters": {
        "json": {"()": "scheduling.logging.RidealongJsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["request_id", "mask_tokens"],
            "formatter": env_str("LOG_FORMAT", "json"),
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Each request is logged once, by scheduling.observability; these would repeat it.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
