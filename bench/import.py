"""Measure the import engine on a generated file against a bare COPY of the same file.

Run with `DATABASE_URL=postgres://… .venv/bin/python bench/import.py [rows]`
(default 1,000,000). The script generates a pipe-separated import file
(e-mail, five fields, status, two groups), imports it into list 1 of the
demo console the way an FTP upload is imported (parsing, batches,
checkpoints and the per-row report included), then COPies the same file
into a bare table with no index or constraint. It prints rows per second
for both and their ratio. On PostgreSQL it works in its own database
`mailup_sim_bench_import` (or the name in BENCH_DATABASE, so that two runs
on one server do not collide), created and dropped by the script. Without
DATABASE_URL it runs on SQLite, where the baseline is a multi-row INSERT
because SQLite has no COPY.

It also prints the CPU time the engine took in the benchmark's own process,
which separates the Python work from the database server's. When the
PostgreSQL server runs on the same machine, it prints the CPU time of the
server process that served the import as well, and for `--floor` that of
the SQL alone. CPU times change less than wall times when other programs
load the machine.

`--floor` (PostgreSQL only) also writes the same recipients, subscriptions,
group memberships and events for a second account with SQL alone, and
prints the engine's ratio to that.

`--profile` runs the import under cProfile and prints the 30 most
expensive functions by their own time. The profile counts the CPU time of
the importing thread, not the wall time. Otherwise the waits for the
database, and for the GIL while the reading thread parses, would be charged
to whatever function was running when the wait began.
"""

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MAILUP_SIM_VAR_DIR", tempfile.mkdtemp(prefix="mailup-sim-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

# One in this many rows is unsubscribed by the file; the others are subscribed.
UNSUBSCRIBED_EVERY = 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows", type=int, nargs="?", default=1_000_000, help="data rows in the generated file")
    parser.add_argument("--profile", action="store_true", help="profile the import with cProfile")
    parser.add_argument(
        "--floor", action="store_true", help="also time the same writes done by SQL alone (PostgreSQL only)"
    )
    arguments = parser.parse_args()

    setup_test_environment()
    # A name of its own, so the benchmark never drops a test database that a
    # concurrent test run or another bench script is using.
    database = os.environ.get("BENCH_DATABASE", "mailup_sim_bench_import")
    connection.settings_dict["TEST"]["NAME"] = database if connection.vendor == "postgresql" else None
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(arguments.rows, arguments.profile, arguments.floor)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def run(rows, profile, floor):

    from integrations import services, tasks
    from lists.demo import seed_demo
    from lists.models import Account, Recipient, Subscription

    seed_demo()
    account = Account.objects.get(console_id=1234)
    mailing_list = account.lists.get(list_id=1)
    groups = [mailing_list.groups.create(name=f"bench {number}").pk for number in (1, 2)]
    folder = services.prepare_home(account) / "import" / "1"
    path = folder / "bench.csv"
    write_file(path, rows, groups)
    size = path.stat().st_size

    # The engine runs in this process, not in a worker.
    tasks.import_uploaded_file.delay = lambda *arguments: None
    upload = services.receive_upload(account, path)

    profiler = cProfile.Profile(time.thread_time) if profile else None
    started, cpu_started, server_started = time.perf_counter(), time.process_time(), server_cpu()
    if profiler:
        profiler.enable()
    services.import_upload(str(path), upload.sha256)
    if profiler:
        profiler.disable()
    engine_seconds = time.perf_counter() - started
    # The CPU time of this process alone. The rest of the wall time is the
    # database server working, or both processes waiting for a core.
    engine_cpu = time.process_time() - cpu_started
    engine_server = server_cpu() - server_started

    upload.refresh_from_db()
    imported = Subscription.objects.filter(list=mailing_list).count()
    done = folder / "done" / upload.done_name
    bare_seconds = load_bare(done, rows)

    print(f"database: {connection.vendor}, rows: {rows:,}, file: {size / 1e6:.0f} MB, batch: {settings.IMPORT_BATCH_SIZE}")
    print(f"import status: {upload.status}, created: {upload.created:,}, rejected: {upload.rejected:,}")
    print(f"recipients: {Recipient.objects.count():,}, subscriptions: {imported:,}")
    print(f"import engine:  {rows / engine_seconds:,.0f} rows per second ({engine_seconds:.1f} s, {engine_cpu:.1f} s CPU in Python)")
    if engine_server:
        print(f"database server CPU for the import: {engine_server:.1f} s")
    print(f"bare load:      {rows / bare_seconds:,.0f} rows per second ({bare_seconds:.1f} s)")
    print(f"ratio engine/bare: {bare_seconds / engine_seconds:.3f}")
    if floor and connection.vendor == "postgresql":
        floor_server = server_cpu()
        floor_seconds = load_floor()
        floor_server = server_cpu() - floor_server
        print(f"SQL alone:      {rows / floor_seconds:,.0f} rows per second ({floor_seconds:.1f} s)")
        print(f"ratio engine/SQL alone: {floor_seconds / engine_seconds:.3f}")
        if floor_server:
            print(f"database server CPU for the SQL alone: {floor_server:.1f} s")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def write_file(path, rows, groups):
    group_cell = ",".join(str(group) for group in groups)
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write("111|1|2|3|4|5|status|groups\r\n")
        for number in range(rows):
            status = "unsubscribed" if number % UNSUBSCRIBED_EVERY == 0 else "subscribed"
            stream.write(
                f"user{number}@example{number % 97}.com|Zoë|Rossi {number}|Acme S.p.A.|Città {number % 500}|MI"
                f"|{status}|{group_cell}\r\n"
            )


def load_bare(path, rows):
    """Load the file into a table without index or constraint; return the seconds taken."""
    columns = "email text, f1 text, f2 text, f3 text, f4 text, f5 text, status text, groups text"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_bare ({columns})")
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, open(path, "rb") as stream:
            with cursor.copy("COPY bench_bare FROM STDIN WITH (FORMAT csv, DELIMITER '|', HEADER true)") as copy:
                while chunk := stream.read(1024 * 1024):
                    copy.write(chunk)
    else:
        insert_bare(path)
    return time.perf_counter() - started


def server_cpu():
    """Return the CPU seconds of the PostgreSQL process serving this connection so far, or 0 when it cannot be read.

    It is read from /proc, so only for a server on this machine, and when
    this user may read the server's process.
    """
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The fields after the command name, which ends at the last ')'; utime and stime are the 14th and 15th.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_floor():
    """Write what the engine writes for the bare table's rows, by SQL alone, into a fresh account, and return the seconds taken.

    A recipient with its fields, a subscription, two group memberships and
    a subscribe or unsubscribe event per row, in one transaction, with the
    same indexes and foreign keys the engine meets. No Python touches a row,
    so this is about the fastest the schema takes these rows on this server.
    """
    from django.db import transaction

    from lists.models import Account, List

    account = Account.objects.create(console_id=99_999, name="Bench floor")
    mailing_list = List.objects.create(account=account, list_id=1, name="Floor", sender_name="Bench", sender_email="bench@example.com")
    groups = [mailing_list.groups.create(name=f"floor {number}").pk for number in (1, 2)]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(FLOOR_RECIPIENTS, [account.pk])
        cursor.execute(FLOOR_SUBSCRIPTIONS, [mailing_list.pk, account.pk])
        for group in groups:
            cursor.execute(FLOOR_MEMBERSHIPS, [group, account.pk])
        cursor.execute(FLOOR_EVENTS, [account.pk, mailing_list.pk])
    return time.perf_counter() - started


FLOOR_RECIPIENTS = """
    INSERT INTO lists_recipient (account_id, email, mobile_prefix, mobile_number, fields, created_at, updated_at)
    SELECT %s, email, '', NULL, jsonb_build_object('1', f1, '2', f2, '3', f3, '4', f4, '5', f5), now(), now()
    FROM bench_bare
"""
FLOOR_SUBSCRIPTIONS = """
    INSERT INTO lists_subscription
        (recipient_id, list_id, channel, status, source, requested_at, optin_at, optout_at, optout_reason, updated_at)
    SELECT r.id, %s, 'email', b.status, 'import', now(), now(), NULL, '', now()
    FROM bench_bare b JOIN lists_recipient r ON r.account_id = %s AND r.email = b.email
"""
FLOOR_MEMBERSHIPS = """
    INSERT INTO lists_groupmembership (group_id, recipient_id, created_at)
    SELECT %s, id, now() FROM lists_recipient WHERE account_id = %s
"""
FLOOR_EVENTS = """
    INSERT INTO lists_subscriptionevent (account_id, list_id, recipient_id, kind, channel, source, reason, details, created_at)
    SELECT %s, list_id, recipient_id, CASE status WHEN 'unsubscribed' THEN 'unsubscribe' ELSE 'subscribe' END,
        'email', 'import', CASE status WHEN 'unsubscribed' THEN '4' ELSE '' END, '{"interface": "bulk_import"}', now()
    FROM lists_subscription WHERE list_id = %s
"""


def insert_bare(path):
    with connection.cursor() as cursor, open(path, encoding="utf-8") as stream:
        next(stream)
        batch = []
        for line in stream:
            batch.append(line.rstrip("\r\n").split("|"))
            if len(batch) == 5000:
                cursor.executemany("INSERT INTO bench_bare VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", batch)
                batch = []
        if batch:
            cursor.executemany("INSERT INTO bench_bare VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", batch)


if __name__ == "__main__":
    main()
