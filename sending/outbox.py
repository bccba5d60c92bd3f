"""Publish the delivery tasks of committed system mail in batches, off the request thread.

The SystemMail table is the outbox: a row with status `queued` exists from
the commit of the change that caused it, and `requeue_stalled_mail` (beat,
every minute) publishes any row still queued a minute later. After each
commit, the row's id goes into this process's in-memory buffer, and one
daemon thread per process publishes the buffered ids as
`deliver_system_mails` tasks of up to PUBLISH_BATCH_SIZE ids. A web
request only adds an id to the buffer, so it does not wait for the broker
(tasks that run eagerly excepted, see below). On the default SQLite broker
each publish is a committed write to the broker file, and one publish per
batch costs far less than one per request. Delivery stays at least once:
ids lost with a crashed process are still queued rows, which the sweep
publishes, and the task sends only the mails it manages to claim.

With CELERY_TASK_ALWAYS_EAGER (the test settings) each mail is still
delivered inline at commit, as before.
"""

import atexit
import logging
import os
import threading
import time
from collections import deque

from celery.signals import worker_process_shutdown

logger = logging.getLogger(__name__)

# Ids per published task. A worker sends a batch's mails one after the
# other, so smaller batches spread a burst over the worker's processes.
PUBLISH_BATCH_SIZE = 20
# Tries of one publish before its ids are left to the stalled-mail sweep, and the pause between them.
PUBLISH_ATTEMPTS = 3
PUBLISH_RETRY_SECONDS = 0.2
# Seconds the thread waits for a wake-up before it checks the buffer anyway.
IDLE_WAIT_SECONDS = 1.0
# Seconds the thread lets ids gather after a wake-up before it publishes.
# Each publish costs 1 to 2 ms of CPU on the SQLite broker. Under load a
# process commits a mail every few milliseconds, and publishing each one
# alone added about 60% to the CPU time of a subscribing request. A
# confirmation mail leaves at most this much later.
GATHER_SECONDS = 0.1


class SystemMailPublisher:
    """A per-process buffer of committed system mail ids and the daemon thread that publishes it."""

    def __init__(self):
        self._reset()

    def _reset(self):
        # Also run in a forked child (gunicorn, Celery's prefork pool), which
        # inherits the parent's buffer and locks but not its thread. The
        # parent publishes the ids it buffered.
        self._pending = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._thread = None

    def add(self, mail_id):
        """Buffer one committed mail id and wake the publishing thread."""
        self._pending.append(mail_id)
        self._ensure_thread()
        self._wake.set()

    def flush(self):
        """Publish everything buffered now, in the calling thread; returns how many ids were published."""
        published = 0
        # One publish at a time, so the exit-time flush waits for the thread's batch in flight.
        with self._publish_lock:
            while self._pending:
                batch = []
                while self._pending and len(batch) < PUBLISH_BATCH_SIZE:
                    batch.append(self._pending.popleft())
                published += _publish(batch)
        return published

    def _ensure_thread(self):
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="system-mail-publisher", daemon=True)
            self._thread.start()

    def _run(self):
        while True:
            if self._wake.wait(IDLE_WAIT_SECONDS):
                time.sleep(GATHER_SECONDS)
            self._wake.clear()
            self.flush()


def _publish(mail_ids):
    """Publish one task for `mail_ids`, trying PUBLISH_ATTEMPTS times; after that, log and leave the rows to the sweep."""
    from sending.tasks import deliver_system_mails

    last_error = None
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            deliver_system_mails.apply_async((mail_ids,))
            return len(mail_ids)
        except Exception as error:
            # kombu 5's SQLAlchemy transport fails now and then under load,
            # with "database is locked" or with a channel left without its
            # connection (AttributeError), so a failed publish is tried again.
            last_error = error
            if attempt < PUBLISH_ATTEMPTS:
                logger.warning("publishing system mail failed mails=%s attempt=%s: %r", mail_ids, attempt, error)
                time.sleep(PUBLISH_RETRY_SECONDS)
    # The rows stay queued, so requeue_stalled_mail publishes them within
    # about two minutes (its one-minute grace plus beat's interval).
    logger.error(
        "publishing system mail failed mails=%s; the stalled-mail sweep will retry", mail_ids, exc_info=last_error
    )
    return 0


publisher = SystemMailPublisher()
# A process that exits cleanly (gunicorn's graceful stop, a reload) publishes
# what it still buffers instead of leaving it to the sweep.
atexit.register(publisher.flush)
os.register_at_fork(after_in_child=publisher._reset)


@worker_process_shutdown.connect
def _flush_at_pool_process_exit(**_signal_kwargs):
    # Celery's prefork pool (billiard) ends its processes with os._exit,
    # which skips atexit, so ids buffered during the gather pause would
    # wait for the stalled-mail sweep.
    publisher.flush()


def publish_after_commit(mail_id):
    """Hand one committed mail to the publisher, or deliver it inline when tasks run eagerly."""
    from sending import services
    from sending.tasks import deliver_system_mails

    # The Celery app's setting, which tests that start a real worker turn off.
    if deliver_system_mails.app.conf.task_always_eager:
        services._enqueue(mail_id)
        return
    publisher.add(mail_id)
