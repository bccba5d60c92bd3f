"""Run the whole platform as child processes of one command."""

import errno
import json
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from kombu.exceptions import OperationalError as KombuOperationalError

from lists.demo import describe, seed_demo
from lists.models import Account
from mailup_sim.celery import app as celery_app
from mailup_sim.web_server import gunicorn_command

PARTS = ("web", "worker", "beat", "sink", "inbound", "ftp", "submission")
# The SMTP sink queues no Celery task, so it runs while the broker is down.
PARTS_WITHOUT_BROKER = frozenset({"sink"})
# Children get this long to stop after SIGTERM before they are killed.
STOP_TIMEOUT_SECONDS = 15
# Seconds declare_queues waits for a Redis broker's reply to one command.
BROKER_REPLY_TIMEOUT_SECONDS = 10
# Seconds serve waits for the listening parts to accept connections before
# it prints its banner anyway, with the addresses still missing.
READY_TIMEOUT_SECONDS = 90


def check_port_free(bind, port_setting="WEB_BIND", address_setting="WEB_BIND"):
    """Raise CommandError, naming the setting to change, when something listens on `bind` (host:port) already.

    With --reuse-port a second server of the same user would share the web
    port with the first and get half its connections, instead of failing.
    The other parts would fail seconds later with a traceback.
    """
    host, _, port = bind.rpartition(":")
    if not port.isdigit():
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # Set as gunicorn sets it, so connections of a server that just
        # stopped (TIME_WAIT) do not count as in use. A listening socket does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"{port_setting} {bind} is already in use ({error.strerror}). "
                    f"Stop the other server or set {port_setting} to a free port."
                ) from error
            # An address of no local interface, or a host name that does not resolve.
            raise CommandError(
                f"{address_setting} {bind} is invalid ({error.strerror}). Set it to an address of this host."
            ) from error


def listening_addresses(parts):
    """Return (host:port, port setting, address setting) of each part in `parts` that listens on a TCP port."""
    addresses = {
        "web": (settings.WEB_BIND, "WEB_BIND", "WEB_BIND"),
        "sink": (_bind(settings.SINK_SMTP_BIND, settings.SINK_SMTP_PORT), "SINK_SMTP_PORT", "SINK_SMTP_BIND"),
        "inbound": (_bind(settings.INBOUND_MX_BIND, settings.INBOUND_MX_PORT), "INBOUND_MX_PORT", "INBOUND_MX_BIND"),
        "ftp": (_bind(settings.FTP_BIND, settings.FTP_PORT), "FTP_PORT", "FTP_BIND"),
        "submission": (
            _bind(settings.SUBMISSION_SMTP_BIND, settings.SUBMISSION_SMTP_PORT),
            "SUBMISSION_SMTP_PORT",
            "SUBMISSION_SMTP_BIND",
        ),
    }
    return [addresses[part] for part in parts if part in addresses]


def accepts_connections(bind):
    """Tell whether a TCP server accepts connections on `bind` (host:port). A unix socket counts as ready."""
    host, _, port = bind.rpartition(":")
    if not port.isdigit():
        return True
    # A server bound to every address is reached on loopback.
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "::1"}.get(host, host.strip("[]"))
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _bind(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def part_commands():
    """Map each part to its command line; every part uses this interpreter and these settings."""
    python = sys.executable
    manage = str(settings.BASE_DIR / "manage.py")
    return {
        "web": [*gunicorn_command(settings.WEB_BIND, settings.WEB_WORKERS, settings.WEB_THREADS), "--access-logfile", "-"],
        "worker": [python, "-m", "celery", "-A", "mailup_sim", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [
            python, "-m", "celery", "-A", "mailup_sim", "beat", "--loglevel", "INFO",
            "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
        ],
        "sink": [python, manage, "run_sink"],
        "inbound": [python, manage, "run_inbound_mx"],
        "ftp": [python, manage, "run_ftp"],
        "submission": [python, manage, "run_submission"],
    }  # fmt: skip


class Command(BaseCommand):
    help = (
        "Start web, worker, beat, the SMTP sink, the inbound MX, the batch FTP server and the SMTP+ submission server; "
        "migrate and seed the demo console on an empty database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--only", default=",".join(PARTS), help=f"Comma-separated parts to run, from: {', '.join(PARTS)}."
        )
        parser.add_argument("--no-migrate", action="store_true", help="Do not apply migrations before starting.")

    def handle(self, *args, **options):
        parts = [part.strip() for part in options["only"].split(",") if part.strip()]
        unknown = [part for part in parts if part not in PARTS]
        if unknown:
            raise CommandError(f"Unknown part {unknown[0]!r}; choose from {', '.join(PARTS)}.")

        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        demo = self._seed_if_empty()
        if needs_broker(parts):
            declare_queues()

        for bind, port_setting, address_setting in listening_addresses(parts):
            check_port_free(bind, port_setting, address_setting)
        commands = part_commands()
        self._stopping = []
        signal.signal(signal.SIGTERM, lambda *_: self._stopping.append("SIGTERM"))
        signal.signal(signal.SIGINT, lambda *_: self._stopping.append("SIGINT"))
        children = {part: subprocess.Popen(commands[part]) for part in parts}
        self._wait_until_listening(children, parts)
        self._print_banner(parts, demo)
        sys.exit(self._supervise(children))

    def _wait_until_listening(self, children, parts):
        """Wait until every listening part accepts connections, so the banner appears when the platform is usable.

        Returns early when a child exits or a signal arrives, which
        _supervise then handles, and after READY_TIMEOUT_SECONDS.
        """
        pending = [bind for bind, _port_setting, _address_setting in listening_addresses(parts)]
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while pending and time.monotonic() < deadline:
            if self._stopping or any(child.poll() is not None for child in children.values()):
                return
            pending = [bind for bind in pending if not accepts_connections(bind)]
            if pending:
                time.sleep(0.2)
        if pending:
            self.stderr.write(f"Not listening yet after {READY_TIMEOUT_SECONDS} s: {', '.join(pending)}.")

    def _seed_if_empty(self):
        if not Account.objects.exists():
            self.stdout.write("Empty database: creating the demo console.")
            return seed_demo()
        account = Account.objects.filter(console_id=1234).first()
        return describe(account) if account else None

    def _print_banner(self, parts, demo):
        lines = ["", "mailup-sim is running:"]
        if "web" in parts:
            lines.append(f"  web (API, frontend pages, sink API)  http://{settings.WEB_BIND}")
            lines.append(f"  public origin of links               {settings.PUBLIC_ORIGIN}")
        if "sink" in parts:
            lines.append(f"  SMTP sink                            {settings.SINK_SMTP_BIND}:{settings.SINK_SMTP_PORT}")
        if "inbound" in parts:
            lines.append(f"  inbound MX (bounces, complaints)     {settings.INBOUND_MX_BIND}:{settings.INBOUND_MX_PORT}")
        if "ftp" in parts:
            lines.append(f"  batch FTP                            {settings.FTP_BIND}:{settings.FTP_PORT}")
        if "submission" in parts:
            lines.append(f"  SMTP+ submission (transactional)     {settings.SUBMISSION_SMTP_BIND}:{settings.SUBMISSION_SMTP_PORT}")
        if "worker" in parts or "beat" in parts:
            lines.append(f"  Celery broker                        {_redact(settings.CELERY_BROKER_URL)}")
        lines.append(f"  database                             {connection.vendor}")
        if demo:
            lines.append("Demo console (python manage.py seed_demo --json prints it as JSON):")
            lines.append(json.dumps(demo, indent=2))
        lines.append("Press Ctrl+C to stop.")
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _supervise(self, children):
        """Wait until a child exits or a signal arrives, then stop every child; return the exit status."""
        stopping = self._stopping
        status = 0
        while not stopping:
            for part, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{part} exited with status {child.returncode}; stopping the other parts.")
                    status = child.returncode or 1
                    stopping.append(part)
                    break
            time.sleep(0.5)

        self._stop(children)
        return status

    def _stop(self, children):
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for part, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{part} did not stop in {STOP_TIMEOUT_SECONDS} s; killing it.")
                child.kill()
                child.wait()


def needs_broker(parts):
    """Return whether any of `parts` publishes or consumes Celery tasks."""
    return any(part not in PARTS_WITHOUT_BROKER for part in parts)


def declare_queues():
    """Create the Celery queues on the broker before any child process publishes.

    Kombu's SQLAlchemy transport (the default SQLite broker) creates a
    queue's row on its first publish, so two web workers publishing first
    at the same moment raced, and one of them got an IntegrityError.
    Raises CommandError naming the broker when it cannot be reached, so
    `serve` stops with one line instead of a traceback.
    """
    options = {}
    if celery_app.conf.broker_url.startswith(("redis://", "rediss://")):
        # Without a read timeout, a port that completes the connection but
        # never replies would hang `serve` here before any part starts.
        options["transport_options"] = {"socket_timeout": BROKER_REPLY_TIMEOUT_SECONDS}
    try:
        with celery_app.connection_for_write(**options) as connection:
            channel = connection.default_channel
            for queue in celery_app.amqp.queues.values():
                queue.bind(channel).declare()
    except (KombuOperationalError, OSError) as error:
        url = _redact(celery_app.conf.broker_url)
        raise CommandError(f"Cannot reach the Celery broker {url} (CELERY_BROKER_URL): {error}") from error


def _redact(url):
    """Hide a password in a broker URL before printing it."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
