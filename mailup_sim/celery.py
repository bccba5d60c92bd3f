import logging
import os
import sqlite3

from celery import Celery
from kombu.transport import sqlalchemy as sqlalchemy_transport
from sqlalchemy import event
from sqlalchemy.engine import Engine

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")

logger = logging.getLogger(__name__)

# How long a worker on the default SQLite broker sleeps before it looks for a
# task again; kombu's default is 1 s. The worker also sleeps there while every
# pool process is busy, so a process that finished a delivery batch stayed idle
# for half a second on average, a third of the time a batch of 200 takes. It
# is set on the class because kombu 5 passes every broker transport option
# of this transport to SQLAlchemy's create_engine, which rejects this one. A
# Redis broker does not poll: its worker blocks until Redis replies.
sqlalchemy_transport.Transport.polling_interval = 0.05

# Milliseconds a broker connection waits for the SQLite lock before it fails
# with "database is locked"; Python's sqlite3 waits 5 s by default.
BROKER_SQLITE_BUSY_TIMEOUT_MS = 30_000


@event.listens_for(Engine, "connect")
def configure_sqlite_broker(dbapi_connection, _connection_record):
    """Put every SQLite connection of kombu's SQLAlchemy transport in WAL mode with a 30 s lock timeout.

    kombu 5.7 is the only user of SQLAlchemy in this project, so every
    SQLite engine here is the broker's. In the default rollback-journal mode
    a committing writer blocks readers, and after 5 s the read fails. When
    that read is the queue declaration of a publish on a new broker
    connection, kombu's retry reconnects, but Producer._publish then sends
    on the channel it took before the declaration, which is closed. The
    publish fails with AttributeError: 'NoneType' object has no attribute
    'client' (kombu 5.7.0 and SQLAlchemy 2.1, reproduced by
    bench/broker_locks.py). With WAL, readers do not wait for a writer, and
    writers wait 30 s, as the platform's own SQLite database does.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BROKER_SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        # As for the platform's own database: in WAL mode a commit then
        # waits for no fsync(), which took about 7 ms of every publish on
        # the 2-core test machine. A crash of the process loses nothing. A
        # power cut may lose the last tasks, and then beat's sweeps of queued
        # mail, sendings, deliveries and webhook calls enqueue them again.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _switch_to_wal(cursor):
    # The journal mode is stored in the file, so only the first connection
    # to a broker file changes it. The change needs the file to itself and
    # fails at once, without waiting, while another process writes in
    # rollback-journal mode. The connection then works in that mode, and
    # the next one tries again.
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as error:
        logger.warning("could not switch the broker database to WAL, so this connection keeps its journal mode: %s", error)


app = Celery("mailup_sim")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
