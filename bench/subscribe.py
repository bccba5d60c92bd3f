"""Measure lists.services.subscribe against a bare insert of the same rows.

Run with `.venv/bin/python bench/subscribe.py [count]` (default 2000). The
script works in a fresh temporary SQLite database unless DATABASE_URL is
set. On PostgreSQL it creates and drops its own database next to the one
named there. It prints subscriptions per second through the service (which
validates, records an event and queues a confirmation request for each
call) and through bulk_create of the same recipient and subscription rows,
and the ratio of the two. Mail delivery is not measured: the tasks are
queued into a no-op so only the database work counts.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch_database import run_in_scratch_database, start_django  # noqa: E402

start_django()

from django.db import connection  # noqa: E402


def run(count):
    from lists import services
    from lists.demo import seed_demo
    from lists.models import Account, Recipient, Source, Subscription
    from sending import outbox

    seed_demo()
    outbox.publish_after_commit = lambda mail_id: None
    account = Account.objects.get(console_id=1234)
    service_list, bare_list = account.lists.get(list_id=1), account.lists.get(list_id=2)

    started = time.perf_counter()
    for number in range(count):
        request = services.SubscribeRequest(
            account=account,
            lists=[service_list],
            contact=services.Contact(email=f"service{number}@example.com"),
            source=Source.API,
            fields={1: "Anna", 2: "Rossi"},
        )
        services.subscribe(request)
    service_seconds = time.perf_counter() - started

    started = time.perf_counter()
    batch = 500
    for offset in range(0, count, batch):
        recipients = Recipient.objects.bulk_create(
            Recipient(account=account, email=f"bare{number}@example.com", fields={"1": "Anna", "2": "Rossi"})
            for number in range(offset, min(offset + batch, count))
        )
        Subscription.objects.bulk_create(
            Subscription(recipient=recipient, list=bare_list, status="pending", source=Source.API)
            for recipient in recipients
        )
    bare_seconds = time.perf_counter() - started

    vendor = connection.vendor
    print(f"database: {vendor}, subscriptions: {count}")
    print(f"lists.services.subscribe: {count / service_seconds:,.0f} per second")
    print(f"bulk_create baseline:     {count / bare_seconds:,.0f} per second")
    print(f"ratio service/baseline:   {bare_seconds / service_seconds:.3f}")


if __name__ == "__main__":
    run_in_scratch_database(run, int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
