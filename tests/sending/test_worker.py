"""A real Celery worker on the configured broker delivers what the web process queued.

On SQLite the broker is Kombu's SQLAlchemy transport on a file; with
CELERY_BROKER_URL set (CI's second tier) it is Redis.
"""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from mailup_sim.celery import app
from sending import services
from sending.models import SystemMail
from tests.sending.campaigns import newsletter, subscribe


@pytest.fixture
def worker(transactional_db):
    # Earlier tests that ran real workers can leave task messages behind on
    # this run's queue, and a solo worker would work through them first.
    app.control.purge()
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


# NOTE: Django's live-server threads may warn when they close a database
# connection after the worker thread has used the database. The request has
# completed by then, so the warning is ignored.
@pytest.mark.worker
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_worker_delivers_confirmation_request(demo, sink, worker, http):
    response = http.get("/frontend/xmlSubscribe.aspx?List=1&Email=queued@example.com&retCode=1")
    assert response.text == "0"

    [received] = sink.wait_for(1, timeout=30)
    assert received.rcpt_to == ["queued@example.com"]
    assert sent_status_recorded(timeout=30)


def sent_status_recorded(timeout):
    # The worker writes the sent status after the sink's 250 reply, so the
    # message reaches the sink a moment before the row changes.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if SystemMail.objects.get().status == SystemMail.Status.SENT:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_worker_delivers_campaign(demo, sink, worker, settings):
    settings.SENDING_BATCH_SIZE = 2
    for name in ("anna", "bruno", "carla"):
        subscribe(f"{name}@example.com")

    sending = services.queue_sending(newsletter())

    received = sink.wait_for(3, timeout=30, sending_id=sending.pk)
    assert sorted(message.rcpt_to[0] for message in received) == [
        "anna@example.com",
        "bruno@example.com",
        "carla@example.com",
    ]
    assert {message.dkim_result for message in received} == {"pass"}
