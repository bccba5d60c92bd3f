"""Write transactions on SQLite take turns on a file lock shared by every process, and never wait forever."""

import copy
import fcntl
import os
import sqlite3
import stat
import subprocess
import sys
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from mailup_sim.sqlite_backend import base
from mailup_sim.sqlite_backend.base import DatabaseWrapper

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="the write lock belongs to the SQLite backend")


@pytest.fixture
def other_process_lock(transactional_db):
    """The write lock file opened on its own, as another process holds it."""
    with open(f"{connection.settings_dict['NAME']}.write-lock", "a+b") as lock_file:
        yield lock_file


def lock_is_free(lock_file):
    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
    return True


def test_transaction_holds_lock_until_commit(other_process_lock):
    with transaction.atomic():
        connection.cursor().execute("SELECT 1")
        assert not lock_is_free(other_process_lock)

    assert lock_is_free(other_process_lock)


def test_rollback_drops_lock(other_process_lock):
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            1 / 0

    assert lock_is_free(other_process_lock)


def test_waiter_gives_up_after_timeout(other_process_lock, monkeypatch):
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    fcntl.flock(other_process_lock.fileno(), fcntl.LOCK_EX)

    with pytest.raises(OperationalError, match="database is locked"):
        with transaction.atomic():
            pass

    fcntl.flock(other_process_lock.fileno(), fcntl.LOCK_UN)
    with transaction.atomic():
        connection.cursor().execute("SELECT 1")
    assert lock_is_free(other_process_lock)


def test_waiter_proceeds_when_lock_is_dropped(other_process_lock):
    fcntl.flock(other_process_lock.fileno(), fcntl.LOCK_EX)
    threading.Timer(0.2, fcntl.flock, (other_process_lock.fileno(), fcntl.LOCK_UN)).start()

    with transaction.atomic():
        connection.cursor().execute("SELECT 1")

    assert lock_is_free(other_process_lock)


def test_concurrent_writers_all_commit(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE write_lock_counter (value integer)")
        cursor.execute("INSERT INTO write_lock_counter VALUES (0)")
    errors = []

    def increment_many():
        try:
            for _ in range(25):
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT value FROM write_lock_counter")
                        (value,) = cursor.fetchone()
                        cursor.execute("UPDATE write_lock_counter SET value = %s", [value + 1])
        except Exception as error:  # reported below, so a failure names its cause
            errors.append(error)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=increment_many) for _ in range(6)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM write_lock_counter")
        total = cursor.fetchone()[0]
        cursor.execute("DROP TABLE write_lock_counter")
    assert errors == []
    assert total == 150


def test_forked_child_keeps_parent_turn(other_process_lock):
    with transaction.atomic():
        connection.cursor().execute("SELECT 1")
        child = os.fork()
        if child == 0:
            # The child ends its inherited copy of the connection, as Celery's
            # pool does, and must not end the parent's turn with it.
            connection.close()
            os._exit(0)
        os.waitpid(child, 0)

        assert not lock_is_free(other_process_lock)

    assert lock_is_free(other_process_lock)


def group_writable_database(tmp_path):
    """Return the settings of a new database file with mode 0664."""
    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict["NAME"] = str(tmp_path / "shared.sqlite3")
    sqlite3.connect(settings_dict["NAME"]).close()
    os.chmod(settings_dict["NAME"], 0o664)
    return settings_dict


def take_write_lock_once(settings_dict):
    wrapper = DatabaseWrapper(settings_dict, alias="lock_mode")
    wrapper.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    wrapper.rollback()
    wrapper.set_autocommit(True)
    wrapper.close()


def test_lock_file_gets_database_file_mode(tmp_path, transactional_db):
    # SQLite gives its -wal and -shm files the database file's mode, so
    # processes of several users can share a group-writable database. A
    # lock file readable by its creator only would fail their transactions.
    settings_dict = group_writable_database(tmp_path)

    take_write_lock_once(settings_dict)

    assert stat.S_IMODE(os.stat(f"{settings_dict['NAME']}.write-lock").st_mode) == 0o664


def test_old_lock_file_gets_database_file_mode(tmp_path, transactional_db):
    settings_dict = group_writable_database(tmp_path)
    lock_path = f"{settings_dict['NAME']}.write-lock"
    os.close(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(lock_path, 0o600)

    take_write_lock_once(settings_dict)

    assert stat.S_IMODE(os.stat(lock_path).st_mode) == 0o664


def test_exception_after_flock_drops_lock(other_process_lock, monkeypatch):
    # A signal handler (Celery's soft time limit, Ctrl-C) can raise at the
    # first bytecode after the flock() call returns, before the backend
    # has recorded that it holds the lock.
    real_flock = fcntl.flock

    def flock_then_interrupt(descriptor, operation):
        real_flock(descriptor, operation)
        if operation & fcntl.LOCK_EX:
            raise KeyboardInterrupt

    monkeypatch.setattr(base.fcntl, "flock", flock_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with transaction.atomic():
            pass
    monkeypatch.setattr(base.fcntl, "flock", real_flock)

    assert lock_is_free(other_process_lock)


class Computations:
    """A compute() for cached_until_change that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM cached_count_rows")
            return cursor.fetchone()[0]


@pytest.fixture
def counted_table(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE cached_count_rows (value integer)")
    yield Computations()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cached_count_rows")


def test_unchanged_database_reuses_value(counted_table):
    assert connection.cached_until_change("rows", counted_table) == 0
    assert connection.cached_until_change("rows", counted_table) == 0

    assert counted_table.calls == 1


def test_commit_by_another_connection_computes_again(counted_table):
    connection.cached_until_change("rows", counted_table)
    other = sqlite3.connect(connection.settings_dict["NAME"])
    with other:
        other.execute("INSERT INTO cached_count_rows VALUES (1)")
    other.close()

    assert connection.cached_until_change("rows", counted_table) == 1
    assert counted_table.calls == 2


def test_own_write_computes_again(counted_table):
    connection.cached_until_change("rows", counted_table)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO cached_count_rows VALUES (1)")

    assert connection.cached_until_change("rows", counted_table) == 1


def test_rolled_back_write_leaves_value_correct(counted_table):
    connection.cached_until_change("rows", counted_table)
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            connection.cursor().execute("INSERT INTO cached_count_rows VALUES (1)")
            1 / 0

    assert connection.cached_until_change("rows", counted_table) == 0


def test_transaction_always_computes(counted_table):
    with transaction.atomic():
        connection.cached_until_change("rows", counted_table)
        connection.cached_until_change("rows", counted_table)

    assert counted_table.calls == 2


def test_reconnect_forgets_values(counted_table):
    connection.cached_until_change("rows", counted_table)
    connection.close()

    connection.cached_until_change("rows", counted_table)
    assert counted_table.calls == 2


def test_commit_by_another_process_computes_again(counted_table):
    connection.cached_until_change("rows", counted_table)
    insert = (
        "import sqlite3, sys\n"
        "other = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "other.execute('INSERT INTO cached_count_rows VALUES (1)')\n"
    )
    subprocess.run([sys.executable, "-c", insert, connection.settings_dict["NAME"]], check=True, timeout=30)

    assert connection.cached_until_change("rows", counted_table) == 1


def test_manual_rollback_leaves_value_correct(counted_table):
    # With autocommit off, Django is in no atomic block, but SQLite is in
    # a transaction from the first write until the rollback.
    connection.cached_until_change("rows", counted_table)
    transaction.set_autocommit(False)
    try:
        connection.cursor().execute("INSERT INTO cached_count_rows VALUES (1)")
        assert connection.cached_until_change("rows", counted_table) == 1
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)

    assert connection.cached_until_change("rows", counted_table) == 0


def test_raw_savepoint_rollback_leaves_value_correct(counted_table):
    connection.cached_until_change("rows", counted_table)
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT bulk")
        cursor.execute("INSERT INTO cached_count_rows VALUES (1)")
        assert connection.cached_until_change("rows", counted_table) == 1
        cursor.execute("ROLLBACK TO bulk")
        cursor.execute("RELEASE bulk")

    assert connection.cached_until_change("rows", counted_table) == 0


def test_own_schema_change_computes_again(counted_table):
    # total_changes counts rows written by INSERT, UPDATE and DELETE, not
    # the rows that DROP TABLE removes.
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO cached_count_rows VALUES (1)")
    assert connection.cached_until_change("rows", counted_table) == 1

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cached_count_rows")
        cursor.execute("CREATE TABLE cached_count_rows (value integer)")

    assert connection.cached_until_change("rows", counted_table) == 0


def test_kept_values_are_bounded(counted_table):
    sizes = []
    for key in range(3 * base.MAX_UNCHANGED_VALUES):
        connection.cached_until_change(("rows", key), counted_table)
        sizes.append(len(connection._unchanged_values))

    assert max(sizes) == base.MAX_UNCHANGED_VALUES
