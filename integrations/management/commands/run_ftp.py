"""Run the batch FTP server in the foreground."""

import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.ftp import make_server


class Command(BaseCommand):
    help = "Run the batch FTP server on FTP_BIND:FTP_PORT (default 127.0.0.1:2121) with a home per account."

    def handle(self, *args, **options):
        passive_ports = None
        if settings.FTP_PASSIVE_PORT_MIN:
            passive_ports = range(settings.FTP_PASSIVE_PORT_MIN, settings.FTP_PASSIVE_PORT_MAX + 1)
        server = make_server(settings.FTP_BIND, settings.FTP_PORT, passive_ports, settings.FTP_PASSIVE_ADDRESS)

        # pyftpdlib closes its connections cleanly on SystemExit; `serve`
        # stops its parts with SIGTERM.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write(f"Batch FTP on {settings.FTP_BIND}:{settings.FTP_PORT}, homes in {settings.FTP_ROOT}")
        self.stdout.flush()
        server.serve_forever()
