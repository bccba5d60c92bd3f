import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from sending.submission import start_submission


class Command(BaseCommand):
    help = "Run the SMTP+ submission server that takes transactional mail from sNNNNN_NN users."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.SUBMISSION_SMTP_BIND, help="Address to listen on.")
        parser.add_argument("--port", type=int, default=settings.SUBMISSION_SMTP_PORT, help="TCP port to listen on.")

    def handle(self, *args, **options):
        controller = start_submission(options["host"], options["port"])
        self.stdout.write(f"SMTP+ submission listening on {options['host']}:{options['port']}")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        stopped.wait()
        controller.stop()
