import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from sending.inbound.server import start_inbound_mx


class Command(BaseCommand):
    help = "Run the inbound MX that receives DSNs, ARF complaints and auto-replies and applies them."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.INBOUND_MX_BIND, help="Address to listen on.")
        parser.add_argument("--port", type=int, default=settings.INBOUND_MX_PORT, help="TCP port to listen on.")

    def handle(self, *args, **options):
        controller = start_inbound_mx(options["host"], options["port"])
        self.stdout.write(f"Inbound MX listening on {options['host']}:{options['port']}")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        stopped.wait()
        controller.stop()
