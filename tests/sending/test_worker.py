"""A real Celery worker on the configured broker delivers what the web process queued.

On SQLite the broker is Kombu's SQLAlchemy transport on a file; with
CELERY_BROKER_URL set (CI's second tier) it is Redis.
"""

import pytest
from celery.contrib.testing.worker import start_worker

from mailup_sim.celery import app
from sending.models import SystemMail


@pytest.fixture
def worker(transactional_db):
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


# NOTE: on the in-memory SQLite test database, Django's live-server threads
# complain when they close a connection object the worker thread touched;
# the request itself has completed by then, so the warning is ignored.
@pytest.mark.worker
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_worker_delivers_confirmation_request(demo, sink, worker, http):
    response = http.get("/frontend/xmlSubscribe.aspx?List=1&Email=queued@example.com&retCode=1")
    assert response.text == "0"

    [received] = sink.wait_for(1, timeout=30)
    assert received.rcpt_to == ["queued@example.com"]
    assert SystemMail.objects.get().status == SystemMail.Status.SENT
