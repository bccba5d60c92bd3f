"""Publish Celery tasks from threads on the SQLite broker while another process holds the broker file's lock.

Reproduces the failed publishes of kombu's SQLAlchemy transport that
docs/benchmarks.md describes, and prints how many publishes failed, by
error. Nothing else runs: no worker consumes the tasks.

    .venv/bin/python bench/broker_locks.py                 # queue tables exist, writer holds an exclusive lock
    .venv/bin/python bench/broker_locks.py --no-declare    # first publishes create the tables
"""

import argparse
import collections
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["MAILUP_SIM_VAR_DIR"] = tempfile.mkdtemp(prefix="mailup-sim-broker-bench-")
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from integrations import tasks  # noqa: E402
from mailup_sim.management.commands.serve import declare_queues  # noqa: E402


def hold_lock(path, mode, hold_seconds, stop_at):
    """Take the broker file's lock for `hold_seconds` at a time, with a 1 ms gap, until `stop_at`."""
    database = sqlite3.connect(path, timeout=30, isolation_level=None)
    while time.time() < stop_at:
        database.execute(f"BEGIN {mode}")
        time.sleep(hold_seconds)
        database.execute("COMMIT")
        time.sleep(0.001)


def publish(count, errors):
    for _ in range(count):
        try:
            tasks.sweep_imports.delay()
        except Exception as error:  # noqa: BLE001 - counted and printed
            errors[f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"] += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="publishing threads")
    parser.add_argument("--publishes", type=int, default=3, help="publishes per thread")
    parser.add_argument("--hold", type=float, default=6.0, help="seconds the other process keeps the write lock each time")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds the other process keeps taking the lock")
    parser.add_argument("--no-declare", action="store_true", help="do not create the queue tables before publishing")
    options = parser.parse_args()

    path = settings.CELERY_BROKER_URL.removeprefix("sqla+sqlite:///")
    if options.no_declare:
        # The file exists, in SQLite's default journal mode, without kombu's tables.
        sqlite3.connect(path).close()
        mode = "IMMEDIATE"
    else:
        declare_queues()
        mode = "EXCLUSIVE"

    holder = multiprocessing.Process(target=hold_lock, args=(path, mode, options.hold, time.time() + options.seconds))
    holder.start()
    time.sleep(0.5)

    errors = collections.Counter()
    threads = [threading.Thread(target=publish, args=(options.publishes, errors)) for _ in range(options.threads)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    holder.terminate()

    total = options.threads * options.publishes
    print(f"{total} publishes in {elapsed:.1f} s, {sum(errors.values())} failed, load average {os.getloadavg()[0]:.2f}")
    for reason, count in errors.most_common():
        print(f"  {count} {reason}")


if __name__ == "__main__":
    main()
