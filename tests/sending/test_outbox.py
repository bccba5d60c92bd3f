"""The outbox publisher enqueues committed system mail in batches, off the request thread, at least once."""

import collections
import os
import threading
import time

import pytest
from celery.signals import worker_process_shutdown

from sending import outbox
from sending.models import SystemMail
from sending.tasks import deliver_system_mails
from tests.personas import subscribe_pending


class RecordingPublish:
    """A stand-in for outbox._publish that records each batch and can fail."""

    def __init__(self, fail=False):
        self.batches = []
        self.fail = fail
        self.published = threading.Event()

    def __call__(self, mail_ids):
        self.batches.append(list(mail_ids))
        self.published.set()
        return 0 if self.fail else len(mail_ids)

    def wait_for_ids(self, count, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(len(batch) for batch in self.batches) >= count:
                return True
            time.sleep(0.01)
        return False


def test_publisher_batches_ids(monkeypatch):
    recorder = RecordingPublish()
    monkeypatch.setattr(outbox, "_publish", recorder)
    publisher = outbox.SystemMailPublisher()

    for mail_id in range(1, 46):
        publisher.add(mail_id)

    assert recorder.wait_for_ids(45)
    assert sorted(mail_id for batch in recorder.batches for mail_id in batch) == list(range(1, 46))
    assert all(len(batch) <= outbox.PUBLISH_BATCH_SIZE for batch in recorder.batches)


def test_publisher_gathers_a_burst_into_one_batch(monkeypatch):
    recorder = RecordingPublish()
    monkeypatch.setattr(outbox, "_publish", recorder)
    monkeypatch.setattr(outbox, "GATHER_SECONDS", 0.5)
    publisher = outbox.SystemMailPublisher()

    for mail_id in range(1, 8):
        publisher.add(mail_id)

    assert recorder.wait_for_ids(7)
    assert recorder.batches == [list(range(1, 8))]


@pytest.fixture
def tasks_not_eager():
    """Turn off the Celery app's eager mode, as a deployment runs, for one test."""
    deliver_system_mails.app.conf.task_always_eager = False
    try:
        yield
    finally:
        deliver_system_mails.app.conf.task_always_eager = True


def test_commit_hands_mail_to_publisher(demo, tasks_not_eager, monkeypatch):
    recorder = RecordingPublish()
    monkeypatch.setattr(outbox, "_publish", recorder)
    monkeypatch.setattr(outbox, "publisher", outbox.SystemMailPublisher())

    subscribe_pending("outbox@example.com")

    mail = SystemMail.objects.get()
    assert recorder.wait_for_ids(1)
    assert recorder.batches == [[mail.pk]]
    # The worker has not run, so the row is still the queued outbox entry.
    assert mail.status == SystemMail.Status.QUEUED


def test_broker_error_leaves_row_queued(demo, tasks_not_eager, monkeypatch):

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(deliver_system_mails, "apply_async", broker_down)
    monkeypatch.setattr(outbox, "publisher", outbox.SystemMailPublisher())

    subscribe_pending("broker-down@example.com")
    mail = SystemMail.objects.get()

    assert outbox._publish([mail.pk]) == 0
    assert SystemMail.objects.get().status == SystemMail.Status.QUEUED


def test_batch_task_sends_each_mail_once(demo, sink, monkeypatch):
    with monkeypatch.context() as patched:
        # Nothing is published at commit, so only the batch task below sends.
        patched.setattr(outbox, "publish_after_commit", lambda mail_id: None)
        subscribe_pending("first@example.com")
        subscribe_pending("second@example.com")
    mail_ids = list(SystemMail.objects.order_by("pk").values_list("pk", flat=True))

    deliver_system_mails(mail_ids)
    deliver_system_mails(mail_ids)

    assert set(SystemMail.objects.values_list("status", flat=True)) == {SystemMail.Status.SENT}
    assert len(sink.wait_for(2)) == 2
    assert len(sink.wait_for(3, timeout=1)) == 2


def test_forked_child_starts_with_empty_buffer():
    outbox.publisher._pending.append(12345)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        # The child reports its buffer size and exits without running pytest's teardown.
        os.write(write_end, str(len(outbox.publisher._pending)).encode())
        os._exit(0)

    os.waitpid(child, 0)
    child_pending = int(os.read(read_end, 16))
    parent_pending = list(outbox.publisher._pending)
    outbox.publisher._pending.clear()

    assert child_pending == 0
    assert parent_pending == [12345]


def test_pool_process_exit_publishes_buffer(monkeypatch):
    # Celery's prefork pool ends a process with os._exit, which skips the
    # atexit flush, so ids buffered during the gather pause need the
    # pool's own exit signal.
    recorder = RecordingPublish()
    monkeypatch.setattr(outbox, "_publish", recorder)
    monkeypatch.setattr(outbox.publisher, "_pending", collections.deque([501, 502]))

    worker_process_shutdown.send(sender="worker@test", pid=os.getpid(), exitcode=0)

    assert recorder.batches == [[501, 502]]
    assert not outbox.publisher._pending
