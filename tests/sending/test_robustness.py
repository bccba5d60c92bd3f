"""Deliveries survive a worker killed with SIGKILL and a sink that stops for a while."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection

from mailup_sim.celery import app
from sending import services
from sending.models import Delivery, DeliveryAttempt, Sending
from sending.sink import start_sink
from tests.sending.campaigns import newsletter
from tests.sending.test_relay import subscribe_many
from tests.support import free_port

Status = Delivery.Status
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The size of the sending that the worker is killed in. The environment
# variable lets a developer try the test on a smaller sending first.
KILL_TEST_RECIPIENTS = int(os.environ.get("MAILUP_SIM_KILL_TEST_RECIPIENTS", "20000"))


def sweep_until(condition, timeout):
    """Run the sweep, as beat does every minute, until `condition()` is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        services.sweep_sendings()
        time.sleep(0.5)
    return condition()


# --- The sink stops in the middle of a sending --------------------------------------


def test_sink_outage_defers_then_delivers(demo, settings):
    # A retry schedule of seconds replaces the default one of hours; the outage is
    # long enough for every delivery to fail and be retried at least once.
    settings.SENDING_RETRY_DELAYS = [1, 1, 2, 2, 3, 3, 5, 5, 5, 5]
    settings.SENDING_BATCH_SIZE = 100
    settings.SINK_SMTP_PORT = port = free_port()
    recipients = subscribe_many("example.com", 400)
    sink = start_sink("127.0.0.1", port)
    stopper = threading.Thread(target=stop_sink_after, args=(sink, 100))
    stopper.start()

    sending = services.queue_sending(newsletter())
    stopper.join()

    deferred = Delivery.objects.filter(sending=sending, status=Status.DEFERRED)
    assert deferred.count() >= 200
    outage_ends = time.monotonic() + 8
    while time.monotonic() < outage_ends:
        services.sweep_sendings()
        time.sleep(0.5)
    assert Delivery.objects.filter(sending=sending, attempts__gte=2, status=Status.DEFERRED).exists()

    sink = start_sink("127.0.0.1", port)
    try:
        done = sweep_until(lambda: not Delivery.objects.filter(sending=sending).exclude(status=Status.DELIVERED).exists(), 180)
    finally:
        sink.stop()

    assert done
    received = [message.rcpt_to[0] for message in sink_messages(sending)]
    assert sorted(received) == sorted(recipient.email for recipient in recipients)
    assert DeliveryAttempt.objects.filter(delivery__sending=sending, outcome=DeliveryAttempt.Outcome.DEFERRED).exists()
    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.DONE


def stop_sink_after(sink, count):
    from sending.models import SinkMessage

    deadline = time.monotonic() + 120
    while SinkMessage.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    sink.stop()
    connection.close()


def sink_messages(sending):
    from sending.models import SinkMessage

    return list(SinkMessage.objects.filter(sending_id=sending.pk))


# --- A worker killed with SIGKILL ---------------------------------------------------------


class RecordingHandler:
    """A minimal next hop that remembers every recipient it accepted, without parsing or storing the message."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.extend(envelope.rcpt_tos)
        return "250 OK"

    def count(self):
        with self.lock:
            return len(self.received)


@pytest.fixture
def recorder(settings):
    handler = RecordingHandler()
    settings.SINK_SMTP_PORT = port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler
    controller.stop()


def start_worker_process():
    """Start a Celery worker on this test run's database and queue, in a process group of its own."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.sending.worker_settings",
        MAILUP_SIM_VAR_DIR=str(settings.VAR_DIR),
        MAILUP_SIM_TEST_DATABASE=str(connection.settings_dict["NAME"]),
        MAILUP_SIM_TEST_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        SINK_SMTP_PORT=str(settings.SINK_SMTP_PORT),
        SENDING_BATCH_SIZE=str(settings.SENDING_BATCH_SIZE),
        LOG_LEVEL="WARNING",
    )
    command = [
        sys.executable, "-m", "celery", "-A", "mailup_sim", "worker", "--pool", "prefork", "--concurrency", "2",
        "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
        "--queues", settings.CELERY_TASK_DEFAULT_QUEUE,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def kill_process_group(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.worker
def test_worker_killed_midway_loses_nobody(demo, recorder, settings, monkeypatch):
    settings.SENDING_BATCH_SIZE = 100
    # A killed worker's claims are taken back after 60 s, well above the
    # time one batch of 100 takes. Lost task messages are queued again by
    # the sweep after 5 s.
    settings.SENDING_CLAIM_TIMEOUT_SECONDS = 60
    monkeypatch.setattr(services, "QUEUE_GRACE", timedelta(seconds=5))
    recipients = subscribe_many("example.com", KILL_TEST_RECIPIENTS)
    app.conf.task_always_eager = False
    worker = start_worker_process()
    try:
        sending = services.queue_sending(newsletter())
        prepared = lambda: Sending.objects.get(pk=sending.pk).status != Sending.Status.PREPARING  # noqa: E731
        assert sweep_until(lambda: prepared() and recorder.count() >= KILL_TEST_RECIPIENTS // 4, 1800)

        kill_process_group(worker)
        in_flight = Delivery.objects.filter(sending=sending, status=Status.SENDING).count()
        received_before_kill = recorder.count()
        worker = start_worker_process()

        finished = lambda: Sending.objects.get(pk=sending.pk).status == Sending.Status.DONE  # noqa: E731
        assert sweep_until(finished, 3600)
    finally:
        kill_process_group(worker)
        app.conf.task_always_eager = True

    received = recorder.received
    expected = {recipient.email for recipient in recipients}
    duplicates = len(received) - len(set(received))
    assert received_before_kill < KILL_TEST_RECIPIENTS
    assert set(received) == expected
    assert duplicates <= in_flight
    assert set(Delivery.objects.filter(sending=sending).values_list("status", flat=True)) == {Status.DELIVERED}
