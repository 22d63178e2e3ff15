"""Settings, all from environment variables (docs/configuration.md lists every one).

A variable the environment leaves unset is read from `make run`'s ``.data/local.env`` when there is
one (api_service/env.py), so ``python manage.py ...`` works beside a running `make run`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from api_service.core.outbound_hosts import outbound_hosts_parse
from api_service.env import database_from_url, env_bool, env_int, env_list, env_raw, env_str
from protocol.llm_credentials import secret_check
from protocol.timing import FleetTiming, TimingError

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "crucible-insecure-development-key" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api_service.core",
    "api_service.accounts",
    "api_service.files",
    "api_service.workflows",
    "api_service.webhooks",
    "api_service.fleet",
    "api_service.llm_endpoints",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "api_service.http.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Admin messages carry new API keys (shown once): keep them server-side, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "api_service.urls"
WSGI_APPLICATION = "api_service.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crucible"),
        # Set by api_service/asgi.py: the api process shares a connection pool among its requests.
        pool_size=env_int("DATABASE_POOL_SIZE", 0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"
# Assets (admin, /docs) are served by WhiteNoise straight from the apps; no collectstatic step needed.
STATIC_ROOT = env_str("STATIC_ROOT", "") or None
WHITENOISE_USE_FINDERS = True

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

# Celery: the broker defaults to Redis; RabbitMQ works too (amqp://...).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "control"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
SWEEP_UNPUBLISHED_AFTER_SECONDS = env_int("SWEEP_UNPUBLISHED_AFTER_SECONDS", 30)
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 15)
# The fleet's coupled time settings (task limit, heartbeat lease, visibility timeout, stale age) come
# from one place, protocol/timing.py, shared with the gpu worker; a contradiction stops start-up.
try:
    FLEET_TIMING = FleetTiming.from_env(env_raw)
except TimingError as exc:
    raise ImproperlyConfigured(str(exc)) from None
CELERY_BROKER_TRANSPORT_OPTIONS = FLEET_TIMING.celery_transport_options()
# RUNNING this long is past every limit: the run is over, whatever its heartbeat says.
EXECUTION_STALE_AFTER_SECONDS = FLEET_TIMING.stale_after
# Attempts one execution may take (worker killed, lost) before it fails as worker_lost.
EXECUTION_MAX_ATTEMPTS = env_int("EXECUTION_MAX_ATTEMPTS", 3)
if EXECUTION_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured(f"EXECUTION_MAX_ATTEMPTS must be at least 1, got {EXECUTION_MAX_ATTEMPTS}.")
# A run queued this long on a pool with no live worker fails as no_worker.
NO_WORKER_FAIL_AFTER_SECONDS = env_int("NO_WORKER_FAIL_AFTER_SECONDS", 600)
REAPER_INTERVAL_SECONDS = env_int("REAPER_INTERVAL_SECONDS", 5)

# Object storage (S3-compatible).
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL", "http://127.0.0.1:58333")
S3_PUBLIC_ENDPOINT_URL = env_str("S3_PUBLIC_ENDPOINT_URL", S3_ENDPOINT_URL)
S3_ACCESS_KEY = env_str("S3_ACCESS_KEY", "crucible")
S3_SECRET_KEY = env_str("S3_SECRET_KEY", "crucible-secret")
S3_BUCKET = env_str("S3_BUCKET", "crucible")
S3_REGION = env_str("S3_REGION", "us-east-1")
S3_PRESIGN_SECONDS = env_int("S3_PRESIGN_SECONDS", 900)

MODELS_DIR = Path(env_str("MODELS_DIR", str(BASE_DIR / "models"))).resolve()
GPU_POOL_DEFAULT = env_str("GPU_POOL_DEFAULT", "default")
# The pools a workflow may name (each served by `python -m gpu_worker.launcher --pool NAME`).
GPU_POOLS = env_list("GPU_POOLS", [GPU_POOL_DEFAULT])
if GPU_POOL_DEFAULT not in GPU_POOLS:
    raise ImproperlyConfigured(f"GPU_POOL_DEFAULT {GPU_POOL_DEFAULT!r} must be one of GPU_POOLS {GPU_POOLS}.")

FILE_UPLOAD_MAX_BYTES = env_int("FILE_UPLOAD_MAX_BYTES", 20 * 2**20)
FILE_UPLOAD_MAX_PIXELS = env_int("FILE_UPLOAD_MAX_PIXELS", 64 * 2**20)
# Uploaded videos (LoadVideo), on top of the per-frame pixel bound; the gpu workers read the same variables.
FILE_UPLOAD_MAX_VIDEO_FRAMES = env_int("FILE_UPLOAD_MAX_VIDEO_FRAMES", 1024)
FILE_UPLOAD_MAX_VIDEO_PIXELS = env_int("FILE_UPLOAD_MAX_VIDEO_PIXELS", 2**27)
DATA_UPLOAD_MAX_MEMORY_SIZE = FILE_UPLOAD_MAX_BYTES + 2**20
FILE_UPLOAD_MAX_MEMORY_SIZE = FILE_UPLOAD_MAX_BYTES + 2**20

# Absolute ceilings on what one execution may cost, whatever a plan says (docs/limits.md).
LIMIT_CEILINGS = {
    "latent_pixels": env_int("LIMIT_MAX_LATENT_PIXELS", 4096 * 4096),
    "image_pixels": env_int("LIMIT_MAX_IMAGE_PIXELS", FILE_UPLOAD_MAX_PIXELS),
    "batch_size": env_int("LIMIT_MAX_BATCH_SIZE", 64),
    "steps": env_int("LIMIT_MAX_STEPS", 1000),
    "sampling_work": env_int("LIMIT_MAX_SAMPLING_WORK", 20000),
    "prompt_tokens": env_int("LIMIT_MAX_PROMPT_TOKENS", 4096),
    "output_images": env_int("LIMIT_MAX_OUTPUT_IMAGES", 512),
    "nodes": env_int("LIMIT_MAX_NODES", 2000),
    "graph_bytes": env_int("LIMIT_MAX_GRAPH_BYTES", 2**20),
}
# Stored text of a workflow: the same for every plan (they bound what a list page carries).
WORKFLOW_DESCRIPTION_MAX_CHARS = env_int("WORKFLOW_DESCRIPTION_MAX_CHARS", 8000)
WORKFLOW_INPUTS_MAX_BYTES = env_int("WORKFLOW_INPUTS_MAX_BYTES", 16 * 2**10)
# JSON in a request (a body, a multipart field) may nest objects/arrays this deep; deeper is a 400.
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 64)

# Outgoing requests on a customer's behalf (api_service/core/outbound.py): listed hosts skip the
# public-address check (self-hosted receivers, the tests' local ones); extra ports beside 80 and 443.
# Parsed here, once: (host, port or None) pairs; a malformed entry stops startup, naming it.
OUTBOUND_ALLOWED_HOSTS = outbound_hosts_parse(env_list("OUTBOUND_ALLOWED_HOSTS", []))
OUTBOUND_ALLOWED_PORTS = [int(p) for p in env_list("OUTBOUND_ALLOWED_PORTS", [])]
# The secret LLM endpoint API keys are encrypted with (HKDF-derived Fernet key, protocol/llm_credentials.py).
# The same value on the api, the control worker and every gpu worker. Not SECRET_KEY on purpose: gpu
# workers must decrypt, and must never hold the secret that signs admin sessions. Unset: endpoints
# without an API key still work; the admin refuses to store a key (docs/llm_endpoints.md).
LLM_CREDENTIALS_KEY = env_raw("LLM_CREDENTIALS_KEY") or ""
if LLM_CREDENTIALS_KEY:
    try:
        secret_check(LLM_CREDENTIALS_KEY)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None

# Webhooks (docs/webhooks.md).
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 15)
WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = env_int("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT", 2)
# Delay before each retry; jittered by up to a fifth. The default spans about a day in 10 attempts.
WEBHOOK_RETRY_SCHEDULE_SECONDS = [
    int(s)
    for s in env_list(
        "WEBHOOK_RETRY_SCHEDULE_SECONDS",
        ["30", "120", "600", "1800", "3600", "7200", "14400", "21600", "28800"],
    )
]

TRIGGER_MAX_BODY_BYTES = env_int("TRIGGER_MAX_BODY_BYTES", 256 * 1024)
TRIGGER_REQUESTS_PER_MINUTE = env_int("TRIGGER_REQUESTS_PER_MINUTE", 60)
# Event ids outlive any retry (and the 5-minute signature tolerance); at least an hour.
TRIGGER_EVENT_RETENTION_HOURS = max(1, env_int("TRIGGER_EVENT_RETENTION_HOURS", 24))
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "")

# API keys are stored as HMAC-SHA256 under this secret; rotating it invalidates every key.
API_KEY_HASH_SECRET = env_str("API_KEY_HASH_SECRET", SECRET_KEY)
# An authenticated key is reused this long by each api process (0: read its row on every request);
# any write to keys, tenants or plans makes every process read them afresh (accounts/auth_cache.py).
AUTH_CACHE_SECONDS = env_int("AUTH_CACHE_SECONDS", 10)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api_service.accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api_service.accounts.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api_service.http.parsers.BoundedJSONParser",
        "api_service.http.parsers.BoundedMultiPartParser",
    ],
    "EXCEPTION_HANDLER": "api_service.core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api_service.http.schema.ApiAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Crucible API",
    "DESCRIPTION": "Run ComfyUI-format workflows over HTTP: create, execute, poll.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"WebhookEventTypeEnum": "api_service.webhooks.models.EVENT_TYPES"},
}

# --- Admin login throttling (django-axes) -------------------------------------------------------
# Failed admin logins are counted per username *and* client IP: after AXES_FAILURE_LIMIT failures that
# pair is locked out (429) for AXES_COOLOFF_MINUTES, so guessing a password is slow and one attacker
# cannot lock a colleague out from another address. They are also counted per username alone, from
# any address: after AXES_USERNAME_FAILURE_LIMIT (higher) the username is locked out everywhere, so
# rotating addresses does not buy unlimited guesses. A successful login resets the count. Ops can see
# and clear attempts and lockouts in admin (Axes), or with `manage.py axes_reset`.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes asks: it renders the lockout answer
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_USERNAME_FAILURE_LIMIT = env_int("AXES_USERNAME_FAILURE_LIMIT", 20)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]  # order read by the handler
AXES_HANDLER = "api_service.core.login_lockout.TwoLimitLockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "api_service.core.client_ip.client_ip"
# Proxies in front of the api that append to X-Forwarded-For (0: the client is REMOTE_ADDR itself).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# --- end admin login throttling --------------------------------------------------------------------

# --- HTTPS (production behind a TLS-terminating proxy) ---------------------------------------------
# BEHIND_TLS_PROXY=1: the proxy terminates TLS and sets X-Forwarded-Proto; cookies are then Secure,
# HTTP is redirected to HTTPS and browsers get HSTS. `manage.py check --deploy` passes in this mode.
# Off by default so `make run` and tests work on plain http://127.0.0.1.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# --- end HTTPS -------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
