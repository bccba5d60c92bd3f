"""Settings for mailup-sim.

Every value comes from the environment (see .env.example). Without any
variable set, the platform runs on embedded defaults: SQLite files and a
Celery transport on SQLite, both under MAILUP_SIM_VAR_DIR.
"""

import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from mailup_sim.env import env_bool, env_int, env_int_list, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MAILUP_SIM_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)
# Shared test data (real bounce reports and the like) that tests read when
# it exists; it is never part of the repository.
SHARED_DATA_DIR = Path(env_str("MAILUP_SIM_SHARED_DIR", str(BASE_DIR.parent / "shared"))).resolve()


def _read_or_create_secret_key():
    """Keep one random key per installation so signed links survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _read_or_create_secret_key()
DEBUG = env_bool("DEBUG", False)

# Any Host is accepted by default, and a host that no console claims is
# served by the default console. Real clients send MailUp's own host names
# (services.mailup.com, a console host such as xyzw.espsrv.com) pointed here
# through DNS or a hosts file. Links never take their host from the request,
# so this opens no host-header poisoning. A comma-separated list restricts it.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])

PUBLIC_ORIGIN = env_str("PUBLIC_ORIGIN", "http://localhost:8000").rstrip("/")
_origin = urlsplit(PUBLIC_ORIGIN)
if _origin.scheme not in ("http", "https") or not _origin.hostname:
    raise ImproperlyConfigured(f"PUBLIC_ORIGIN={PUBLIC_ORIGIN!r} must look like http://host:port.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "mailup_sim",
    "lists",
    "sending",
    "integrations",
    "axes",
    "panel",
]

MIDDLEWARE = [
    "mailup_sim.middleware.CanonicalPathMiddleware",
    "mailup_sim.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a login that django-axes locked out into its lockout page; it
    # must come after AuthenticationMiddleware.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mailup_sim.urls"
WSGI_APPLICATION = "mailup_sim.wsgi.application"
# CommonMiddleware would redirect /frontend/optout.aspx/ style paths; the
# MailUp pages have no trailing slash and clients do not follow redirects.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            # Django's SQLite backend with write transactions queued on a
            # file lock (mailup_sim/sqlite_backend/base.py explains why).
            "ENGINE": "mailup_sim.sqlite_backend",
            "NAME": VAR_DIR / "mailup-sim.sqlite3",
            "OPTIONS": {
                # Web, worker and sink write to one file from several
                # processes: WAL lets readers run beside a writer, and
                # IMMEDIATE transactions wait for the lock instead of failing
                # half-way with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Kept open as on PostgreSQL: opening the file and setting its
            # pragmas is a fixed cost on every request, and the sink's threads
            # use the database for every message.
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The guard rejects a locked-out login before ModelBackend checks the password.
AUTHENTICATION_BACKENDS = ["panel.auth.ConsoleLoginGuard", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "panel:login"
LOGIN_REDIRECT_URL = "panel:dashboard"
LOGOUT_REDIRECT_URL = "panel:login"

# django-axes: after LOGIN_FAILURE_LIMIT wrong passwords for one user name
# from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "panel/locked_out.html"
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "it"
LANGUAGES = [("it", _("Italian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English dates are written day first (mailup_sim/formats/en); Italian keeps Django's formats.
FORMAT_MODULE_PATH = ["mailup_sim.formats"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Rome")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Uploaded files, such as message attachments.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()

# Uploads are read into memory only up to this size; a larger frontend
# request gets MailUp's generic error code instead of an HTTP error.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000, minimum=100)
# SOAP bodies have their own limit, because WSMailUpImport carries import
# documents of more than a million characters (escaped inside the envelope).
SOAP_MAX_REQUEST_BYTES = env_int("SOAP_MAX_REQUEST_BYTES", 16_777_216, minimum=1024)

# --- Celery -------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-mail": {"task": "sending.tasks.requeue_stalled_mail", "schedule": 60.0},
}

# --- Mail ---------------------------------------------------------------
# Every recipient MX is the sink: mail never leaves the machine.
SINK_SMTP_HOST = env_str("SINK_SMTP_HOST", "127.0.0.1")
SINK_SMTP_PORT = env_int("SINK_SMTP_PORT", 1025, minimum=1, maximum=65535)
SINK_SMTP_BIND = env_str("SINK_SMTP_BIND", "127.0.0.1")
# Source address of system mail (confirmation requests, welcome messages).
SYSTEM_MAIL_SOURCE_IP = env_str("SYSTEM_MAIL_SOURCE_IP", "127.0.0.1")
SMTP_TIMEOUT_SECONDS = env_int("SMTP_TIMEOUT_SECONDS", 30, minimum=1)
BOUNCE_DOMAIN = env_str("BOUNCE_DOMAIN", "bounces.mailup-sim.localhost")
# The inbound MX: the return-path and feedback-loop host that receives the
# DSNs, ARF complaints and auto-replies the sink sends back.
INBOUND_MX_HOST = env_str("INBOUND_MX_HOST", "127.0.0.1")
INBOUND_MX_PORT = env_int("INBOUND_MX_PORT", 2525, minimum=1, maximum=65535)
INBOUND_MX_BIND = env_str("INBOUND_MX_BIND", "127.0.0.1")
# Seconds the sink waits before it sends a DSN, complaint or auto-reply that a rule requests.
SINK_REPORT_DELAY_SECONDS = env_int("SINK_REPORT_DELAY_SECONDS", 2, minimum=0, maximum=86400)
CELERY_BEAT_SCHEDULE["requeue-inbound-messages"] = {"task": "sending.tasks.requeue_inbound_messages", "schedule": 60.0}
# Source addresses of campaign mail, used in turn. Each is in 127.0.0.0/8,
# which Linux routes to the loopback interface as a whole, or is 0.0.0.0 so
# the operating system chooses (a sink in another container needs that).
SENDING_SOURCE_IPS = env_list("SENDING_SOURCE_IPS", ["127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"])
# Largest attachment, and largest sum of a message's attachments, in bytes.
# Base64 makes them about a third larger in the message, and the sink takes
# messages of up to 50 MiB.
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
MESSAGE_ATTACHMENTS_MAX_BYTES = env_int("MESSAGE_ATTACHMENTS_MAX_BYTES", 25 * 1024 * 1024, minimum=1)
# Largest body of a transactional API request, in bytes: room for the
# attachment limit above once Base64 has grown it by a third.
TRANSACTIONAL_MAX_BODY_BYTES = env_int("TRANSACTIONAL_MAX_BODY_BYTES", 36 * 1024 * 1024, minimum=1024)
# SMTP+ submission server for transactional mail (AUTH without TLS, so
# bind it to loopback only).
SUBMISSION_SMTP_BIND = env_str("SUBMISSION_SMTP_BIND", "127.0.0.1")
SUBMISSION_SMTP_PORT = env_int("SUBMISSION_SMTP_PORT", 2587, minimum=1, maximum=65535)
# Largest message the SMTP+ port accepts, in bytes; larger ones get 552.
SUBMISSION_MAX_MESSAGE_BYTES = env_int("SUBMISSION_MAX_MESSAGE_BYTES", 36 * 1024 * 1024, minimum=1024)
# Deliveries created, and handed to one delivery task, per batch.
SENDING_BATCH_SIZE = env_int("SENDING_BATCH_SIZE", 200, minimum=1, maximum=5000)
CELERY_BEAT_SCHEDULE["sweep-sendings"] = {"task": "sending.tasks.sweep_sendings", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["send-due-sms"] = {"task": "sending.tasks.send_due_sms", "schedule": 60.0}
# Seconds before each retry of a temporarily failed delivery, and of a
# scheduled SMS sending whose send failed (sending.sms_queue). After the
# last one the delivery or SMS sending fails. The default makes ten
# attempts over about four hours (243 minutes).
SENDING_RETRY_DELAYS = env_int_list(
    "SENDING_RETRY_DELAYS", [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600], minimum=1
)
# A delivery claimed this many seconds ago by a worker that never reported
# back is taken to be lost with that worker, and the sweep retries it.
SENDING_CLAIM_TIMEOUT_SECONDS = env_int("SENDING_CLAIM_TIMEOUT_SECONDS", 600, minimum=1)
# Where the relay counts its limits per source IP and ISP, shared by every
# worker: a Redis URL, by default the broker's when it is Redis. Without
# one the database counts them.
RELAY_REDIS_URL = env_str("RELAY_REDIS_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
RELAY_REDIS_PREFIX = env_str("RELAY_REDIS_PREFIX", "mailup-sim:relay")
# Limits the sink enforces per simulated ISP, as `isp=per_hour/connections/per_connection`
# entries separated by commas; 0 means unlimited. Each counts per source IP,
# and the sink replies 421 when the relay exceeds one.
SINK_ISP_LIMITS = env_str(
    "SINK_ISP_LIMITS", "gmail=3600/10/100,outlook=2000/5/50,yahoo=1800/5/40,libero=1000/3/20"
)

# --- Accounts and frontend pages ----------------------------------------
# A request whose Host no account claims is served by this console.
DEFAULT_CONSOLE_ID = env_int("DEFAULT_CONSOLE_ID", 1234, minimum=1)

# --- Web server used by `manage.py serve` --------------------------------
WEB_BIND = env_str("WEB_BIND", "127.0.0.1:8000")
# Processes and threads: on 2 cores, 4 threads per process doubled the CPU
# time of a request (threads taking turns on the interpreter lock), and 3
# processes kept both cores busy while one waited for the database.
WEB_WORKERS = env_int("WEB_WORKERS", 3, minimum=1)
WEB_THREADS = env_int("WEB_THREADS", 2, minimum=1)

REST_FRAMEWORK = {
    # The DRF views (the sink API) respond only in JSON, never with DRF's browsable HTML page.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "filters": {"skip_soap_client_faults": {"()": "mailup_sim.log_filters.SkipSoapClientFaults"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # aiosmtpd logs every SMTP command at INFO under "mail.log".
    # django-axes logs every login and logout at INFO; lockouts are WARNING.
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # SOAP returns a fault with HTTP 500 for a client's bad request too.
        "django.request": {"filters": ["skip_soap_client_faults"]},
        "mail.log": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- OAuth 2.0 (django-oauth-toolkit) ------------------------------------
# MailUp's token lifetimes: an access token lives an hour, a refresh token
# 30 days and only once, because each refresh returns a new pair and the old
# refresh token then gives invalid_grant.
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "mailup_sim.oauth.MailUpOAuth2Validator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_ACCESS_TOKEN_SECONDS", 3600, minimum=1),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600, minimum=1),
    "ROTATE_REFRESH_TOKEN": True,
    # Codes of the LogOn page are single-use and expire after this many seconds.
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": env_int("OAUTH_AUTHORIZATION_CODE_SECONDS", 600, minimum=1, maximum=3600),
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # MailUp clients send no scope; every token may use the whole API.
    "SCOPES": {"console": "MailUp console"},
    "DEFAULT_SCOPES": ["console"],
}
# django-oauth-toolkit's default client model, named here because Django's
# migration autodetector reads this setting for models that point at it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# A token request with its parameters in the query string waits at most this
# long for a body it declares but may never send (npm mailup's refresh call).
OAUTH_BODY_READ_TIMEOUT_SECONDS = env_int("OAUTH_BODY_READ_TIMEOUT_SECONDS", 2, minimum=1, maximum=60)
# Calls per second that one user may make on one REST route before HTTP 429,
# MailUp's default limit; 0 turns the limit off.
REST_RATE_LIMIT_PER_SECOND = env_int("REST_RATE_LIMIT_PER_SECOND", 5, minimum=0)
# Hours that the activation link of a PublicService trial request stays
# valid; after that TrialActivationStatus reports the request as expired.
TRIAL_ACTIVATION_HOURS = env_int("TRIAL_ACTIVATION_HOURS", 72, minimum=1, maximum=8760)
# From header of mail that the platform sends on its own behalf rather than
# a console's, such as the activation link of a trial console.
PLATFORM_MAIL_FROM = env_str("PLATFORM_MAIL_FROM", "MailUp <noreply@mailup-sim.localhost>")

# --- Batch FTP (integrations) -------------------------------------------
# Each account's FTP home is FTP_ROOT/<console id>, with import/<listId>/
# and export/ inside.
FTP_ROOT = VAR_DIR / "ftp"
FTP_BIND = env_str("FTP_BIND", "127.0.0.1")
FTP_PORT = env_int("FTP_PORT", 2121, minimum=1, maximum=65535)
# Passive data connections take a port from this range, so a firewall or a
# container can publish it. 0 and 0 let the kernel pick any free port.
FTP_PASSIVE_PORT_MIN = env_int("FTP_PASSIVE_PORT_MIN", 0, minimum=0, maximum=65535)
FTP_PASSIVE_PORT_MAX = env_int("FTP_PASSIVE_PORT_MAX", 0, minimum=0, maximum=65535)
if FTP_PASSIVE_PORT_MIN > FTP_PASSIVE_PORT_MAX or (FTP_PASSIVE_PORT_MIN == 0) != (FTP_PASSIVE_PORT_MAX == 0):
    raise ImproperlyConfigured(
        f"FTP_PASSIVE_PORT_MIN={FTP_PASSIVE_PORT_MIN} and FTP_PASSIVE_PORT_MAX={FTP_PASSIVE_PORT_MAX} "
        "must form a range (min <= max), or both be 0."
    )
# Address written into PASV replies when clients reach the server through
# NAT or a published container port; empty means the address they connected to.
FTP_PASSIVE_ADDRESS = env_str("FTP_PASSIVE_ADDRESS", "")
# Larger uploads, and ZIP files that decompress past it, are rejected whole.
FTP_IMPORT_MAX_BYTES = env_int("FTP_IMPORT_MAX_BYTES", 1024**3, minimum=1024)
# FTPZIP archives (sendzip/): largest archive, largest sum of its
# decompressed members, largest decompressed-to-compressed ratio of a member
# past its first MiB, and most entries. The whole package is held in memory
# while it is checked, so the decompressed limit bounds a worker's memory.
FTPZIP_MAX_BYTES = env_int("FTPZIP_MAX_BYTES", 50 * 1024**2, minimum=1024)
FTPZIP_MAX_UNCOMPRESSED_BYTES = env_int("FTPZIP_MAX_UNCOMPRESSED_BYTES", 100 * 1024**2, minimum=1024)
FTPZIP_MAX_RATIO = env_int("FTPZIP_MAX_RATIO", 100, minimum=2)
FTPZIP_MAX_MEMBERS = env_int("FTPZIP_MAX_MEMBERS", 1000, minimum=3)
# Images of FTPZIP messages, served at /sim/media/ftpzip/<message id>/<name>.
FTPZIP_IMAGE_ROOT = VAR_DIR / "ftpzip-images"
# Every minute beat starts the unsubscriber exports whose account time has come.
CELERY_BEAT_SCHEDULE["run-due-unsubscribe-exports"] = {
    "task": "integrations.tasks.run_due_exports",
    "schedule": 60.0,
}
# Rows an import writes per transaction and checkpoint (FTP, SOAP and REST imports).
IMPORT_BATCH_SIZE = env_int("IMPORT_BATCH_SIZE", 5000, minimum=1, maximum=20000)
# Largest xmlDoc of a SOAP import and largest JSON array of a REST import, in bytes.
IMPORT_MAX_PAYLOAD_BYTES = env_int("IMPORT_MAX_PAYLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
# WSMailUpImport GetNlLists writes `&` and `"` in list and group names
# unescaped, as MailUp does; true writes well-formed XML instead.
WSMAILUPIMPORT_ESCAPE_NAMES = env_bool("WSMAILUPIMPORT_ESCAPE_NAMES", False)
# Every minute beat re-enqueues imports that wait in the queue or lost their worker.
CELERY_BEAT_SCHEDULE["sweep-imports"] = {"task": "integrations.tasks.sweep_imports", "schedule": 60.0}
# Every minute beat enqueues the webhook deliveries that are due for a retry
# or were lost with a worker.
CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"] = {
    "task": "integrations.tasks.sweep_webhook_deliveries",
    "schedule": 60.0,
}
# Every minute beat enqueues the post-operation runs lost with a worker or
# released after an error.
CELERY_BEAT_SCHEDULE["sweep-post-operation-runs"] = {
    "task": "integrations.tasks.sweep_post_operation_runs",
    "schedule": 60.0,
}
# Every hour beat deletes single sign-on codes that expired a day ago.
CELERY_BEAT_SCHEDULE["delete-expired-sso-codes"] = {
    "task": "integrations.tasks.delete_expired_sso_codes",
    "schedule": 3600.0,
}
