"""Django's SQLite backend, with write transactions taking turns on a file lock shared by every process.

SQLite lets one transaction write at a time. A transaction that finds the
write lock taken is retried by SQLite's busy handler, which sleeps 1, 2, 5,
10, 15, 20, 25 ms and longer between tries, so under load the lock often
sat free while every waiter slept. With 50 clients subscribing through
gunicorn, the web workers used about 1.3 of the 2 cores and those sleeps
made the tail latency.

Here a connection first takes an exclusive flock() on
`<database file>.write-lock`, then begins its IMMEDIATE transaction, and
drops the flock after the commit or rollback. A waiter tries the flock
again after at most WAIT_STEP_MAX_SECONDS, so the lock changes hands
within a millisecond. Like SQLite's busy timeout, the wait ends with
"database is locked" after the connection's `timeout` option (5 s by
default), so a transaction held open by mistake fails a test instead of
hanging it. Statements outside a transaction (autocommit) go through
SQLite's own lock and busy handler as before, and in-memory databases
have no file to lock.
"""

import fcntl
import logging
import os
import stat
import time
import weakref

from django.db import OperationalError
from django.db.backends.sqlite3 import base

logger = logging.getLogger(__name__)

# The first pause between tries, doubled up to the maximum. A write
# transaction of a request lasts about a millisecond.
WAIT_STEP_SECONDS = 0.0001
WAIT_STEP_MAX_SECONDS = 0.001
# SQLite's own default busy timeout, when the settings give none.
DEFAULT_TIMEOUT_SECONDS = 5
# Values that cached_until_change keeps per connection before it starts over.
MAX_UNCHANGED_VALUES = 256


# Every wrapper of this process, so a forked child can forget the lock files it inherited.
_wrappers = weakref.WeakSet()


def _forget_inherited_lock_files():
    # A child shares each inherited open file, and the flock on it, with its
    # parent. Unlocking it would end the parent's turn, so the child opens
    # its own file when it next writes.
    for wrapper in list(_wrappers):
        wrapper._write_lock_file = None
        wrapper._holds_write_lock = False


os.register_at_fork(after_in_child=_forget_inherited_lock_files)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._write_lock_file = None
        self._holds_write_lock = False
        self._unchanged_values = {}
        self._unchanged_values_connection = None
        _wrappers.add(self)

    def cached_until_change(self, key, compute):
        """Return compute(), or what it returned for `key` if no change was committed to the database since.

        SQLite's `data_version` moves when another connection, in this
        process or another, commits. This connection's own changes move
        `total_changes` (rows written by INSERT, UPDATE and DELETE) or
        `schema_version` (CREATE, DROP and ALTER). All three are read before
        compute() runs, so a commit that lands during it makes the next call
        compute again. Inside a transaction every call computes and nothing
        is kept: an atomic block, or a transaction begun with autocommit off
        or by a raw BEGIN or SAVEPOINT. Its snapshot may be older than the
        kept value, and its writes may still roll back.
        """
        if self.in_atomic_block or self.is_in_memory_db():
            return compute()

        self.ensure_connection()
        sqlite_connection = self.connection
        if sqlite_connection.in_transaction:
            return compute()
        reconnected = self._unchanged_values_connection is not sqlite_connection
        if reconnected or len(self._unchanged_values) >= MAX_UNCHANGED_VALUES:
            self._unchanged_values = {}
            self._unchanged_values_connection = sqlite_connection
        version = (
            sqlite_connection.execute("PRAGMA data_version").fetchone()[0],
            sqlite_connection.execute("PRAGMA schema_version").fetchone()[0],
            sqlite_connection.total_changes,
        )
        cached = self._unchanged_values.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]

        value = compute()
        self._unchanged_values[key] = (version, value)
        return value

    def _start_transaction_under_autocommit(self):
        if self.is_in_memory_db():
            return super()._start_transaction_under_autocommit()

        try:
            self._take_write_lock()
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._drop_write_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._drop_write_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._drop_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._drop_write_lock()
            if self._write_lock_file is not None:
                self._write_lock_file.close()
                self._write_lock_file = None

    def _take_write_lock(self):
        lock_file = self._lock_file()
        timeout = self.settings_dict["OPTIONS"].get("timeout", DEFAULT_TIMEOUT_SECONDS)
        deadline = time.monotonic() + timeout
        pause = WAIT_STEP_SECONDS
        # Set before flock(), so that an exception raised by a signal handler
        # just after the call returns still drops the lock. Unlocking a file
        # that this connection has not locked does nothing.
        self._holds_write_lock = True
        while True:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    logger.warning(
                        "timed out after %s s waiting for the SQLite write lock database=%s",
                        timeout,
                        self.settings_dict["NAME"],
                    )
                    raise OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, WAIT_STEP_MAX_SECONDS)

    def _drop_write_lock(self):
        if self._holds_write_lock:
            fcntl.flock(self._write_lock_file.fileno(), fcntl.LOCK_UN)
            self._holds_write_lock = False

    def _lock_file(self):
        # One open file per connection: flock() locks belong to an open
        # file, so threads of one process exclude each other too. A file
        # object, not a bare descriptor, is closed with a connection that a
        # finished thread leaves to the garbage collector.
        if self._write_lock_file is None:
            database = self.settings_dict["NAME"]
            path = f"{database}.write-lock"
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            # The database file's mode, whatever the umask, as SQLite 3.40.1
            # gives its -wal and -shm files, so every user who may write the
            # database may take the lock.
            _give_database_mode(descriptor, database)
            self._write_lock_file = os.fdopen(descriptor, "r+b", buffering=0)
        return self._write_lock_file


def _give_database_mode(descriptor, database):
    # Earlier versions created the lock file 0600. Only the file's owner
    # may change its mode, so such a file is mended when its owner next
    # writes, and other users' transactions fail until then.
    database_mode = stat.S_IMODE(os.stat(database).st_mode)
    current = os.fstat(descriptor)
    if stat.S_IMODE(current.st_mode) != database_mode and current.st_uid == os.geteuid():
        os.fchmod(descriptor, database_mode)
