"""The default SQLite broker: kombu's SQLAlchemy transport in WAL mode, so reading the queue table does not wait for a writer."""

import sqlite3
import threading
import time

from kombu import Connection, Exchange, Producer, Queue

from mailup_sim.celery import BROKER_SQLITE_BUSY_TIMEOUT_MS

HOLD_SECONDS = 10
# The value PRAGMA synchronous reads for NORMAL.
SQLITE_SYNCHRONOUS_NORMAL = 1


def broker_url(tmp_path):
    return f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"


def declare(connection, name="tasks"):
    queue = Queue(name, Exchange(name), routing_key=name)
    queue.bind(connection.default_channel).declare()
    return queue


def test_broker_file_uses_wal(tmp_path):
    with Connection(broker_url(tmp_path)) as connection:
        declare(connection)

    with sqlite3.connect(tmp_path / "broker.sqlite3") as database:
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def broker_pragma(tmp_path, name):
    """Return the value of PRAGMA `name` on the connection of a broker channel."""
    with Connection(broker_url(tmp_path)) as connection:
        declare(connection)
        session = connection.default_channel.session
        return session.connection().exec_driver_sql(f"PRAGMA {name}").scalar()


def test_broker_connection_busy_timeout(tmp_path):
    assert broker_pragma(tmp_path, "busy_timeout") == BROKER_SQLITE_BUSY_TIMEOUT_MS


def test_broker_connection_commits_without_fsync(tmp_path):
    assert broker_pragma(tmp_path, "synchronous") == SQLITE_SYNCHRONOUS_NORMAL


def test_publish_declares_while_writer_holds_lock(tmp_path):
    with Connection(broker_url(tmp_path)) as connection:
        declare(connection)

    holding = threading.Event()
    release = threading.Event()

    def hold_write_lock():
        with sqlite3.connect(tmp_path / "broker.sqlite3", isolation_level=None) as database:
            database.execute("BEGIN EXCLUSIVE")
            holding.set()
            release.wait(HOLD_SECONDS)
            database.execute("COMMIT")

    writer = threading.Thread(target=hold_write_lock, daemon=True)
    writer.start()
    assert holding.wait(HOLD_SECONDS)
    try:
        with Connection(broker_url(tmp_path)) as connection:
            started = time.monotonic()
            # A new connection declares the queue again, which reads the queue table.
            declare(connection)
            elapsed = time.monotonic() - started
    finally:
        release.set()
        writer.join(HOLD_SECONDS)

    assert elapsed < HOLD_SECONDS / 2

    with Connection(broker_url(tmp_path)) as connection:
        queue = declare(connection)
        Producer(connection.default_channel).publish({"n": 1}, exchange=queue.exchange, routing_key="tasks")
        message = queue(connection.default_channel).get()
    assert message.payload == {"n": 1}
