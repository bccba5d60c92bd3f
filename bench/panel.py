"""Time the control panel's pages on a list of 100,000 recipients.

Run with `.venv/bin/python bench/panel.py [recipients]` (default 100000).
The script works in a fresh temporary SQLite database unless DATABASE_URL
is set; on PostgreSQL it creates and drops its own database `mailup_sim_bench`.
It fills list 1 of the demo console with subscribed recipients, group
members, a sent message with one delivery each, some captured mail and
a saved filter on a field value.
On PostgreSQL it then runs ANALYZE, as autovacuum would soon after a bulk
load, so the planner sees the real table sizes. Then it requests each page
five times with Django's cache emptied before each request and five times
with the cache kept, through Django's test client, and prints for both
the median wall time and the median CPU time of this process per page,
and the ratio of the larger wall time to a 300 ms budget. On a machine
that other work keeps busy the wall times grow and the CPU times do not.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch_database import run_in_scratch_database, start_django  # noqa: E402

start_django()

from django.db import connection  # noqa: E402

BUDGET_MS = 300
RUNS = 5
BATCH = 5000


def fill(count):
    """Create `count` subscribed recipients of list 1, half in a group, and a sending that reached them all."""
    from lists.demo import seed_demo
    from lists.models import Account, GroupMembership, Recipient, Subscription
    from sending import services as sending_services
    from sending.models import Delivery, SinkMessage

    seed_demo()
    account = Account.objects.get(console_id=1234)
    mailing_list = account.lists.get(list_id=1)
    group = mailing_list.groups.first()
    message = sending_services.create_message(mailing_list, "Bench", html="<p>Ciao [nome]</p><a href='[unsubscribe]'>x</a>")
    sending_services._enqueue_fan_out = lambda sending_id: None
    sending = sending_services.queue_sending(message)

    for offset in range(0, count, BATCH):
        numbers = range(offset, min(offset + BATCH, count))
        recipients = Recipient.objects.bulk_create(
            Recipient(account=account, email=f"user{number}@example.com", fields={"1": f"Name{number}"}) for number in numbers
        )
        Subscription.objects.bulk_create(
            Subscription(recipient=recipient, list=mailing_list, status="subscribed", source="Import") for recipient in recipients
        )
        GroupMembership.objects.bulk_create(
            GroupMembership(group=group, recipient=recipient) for recipient in recipients[::2]
        )
        Delivery.objects.bulk_create(
            Delivery(sending=sending, recipient=recipient, to_email=recipient.email, status="delivered", source_ip="127.0.0.10")
            for recipient in recipients
        )
    SinkMessage.objects.bulk_create(
        SinkMessage(peer_ip="127.0.0.10", peer_port=1, rcpt_to=[f"user{n}@example.com"], rcpt_search=f"user{n}@example.com",
                    subject="Bench", account_console_id=1234, sending_id=sending.pk, size=1, raw=b"Subject: Bench\r\n\r\nx")
        for n in range(2000)
    )  # fmt: skip
    sending_services.save_filter(mailing_list, "Bench", [{"field": "campo1", "operator": "contains", "value": "Name7777"}])
    return account, mailing_list, group, message, sending


def fill_logs(account, mailing_list, sending):
    """Add a finished import with rejected rows and a failed webhook call, and return the import and a captured message."""
    from django.utils import timezone

    from integrations.models import ImportFile, Webhook, WebhookDelivery
    from sending.models import SinkMessage

    upload = ImportFile.objects.create(
        account=account, list=mailing_list, name="bench.csv", path="/bench.csv", sha256="0" * 64, size=1,
        status=ImportFile.Status.DONE, created=mailing_list.subscriptions.count(), rejected=25,
    )  # fmt: skip
    webhook = Webhook.objects.create(account=account, event="Subscribe", sources=["API"], url="http://127.0.0.1:9/bench")
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=webhook, status="failed", next_attempt_at=timezone.now()) for _ in range(500)
    )
    return upload, SinkMessage.objects.filter(sending_id=sending.pk).order_by("pk").first()


def run(count):
    from django.test import Client

    from lists.models import Recipient, Subscription

    started = time.perf_counter()
    account, mailing_list, group, message, sending = fill(count)
    upload, sink_message = fill_logs(account, mailing_list, sending)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"database: {connection.vendor}, recipients: {count}, filled in {time.perf_counter() - started:.0f} s")

    client = Client()
    client.force_login(account.members.get(user__username="m1234").user)
    deep = Subscription.objects.filter(list=mailing_list).order_by("-pk").values_list("pk", flat=True)[60]
    recipient = Recipient.objects.filter(account=account).order_by("-pk").first()
    pages = [
        ("dashboard", "/console/"),
        ("list detail", "/console/lists/1"),
        ("recipients, first page", "/console/lists/1/recipients"),
        ("recipients, last pages", f"/console/lists/1/recipients?after={deep}"),
        ("recipients, address search", "/console/lists/1/recipients?q=user99999"),
        ("recipients, field filter", "/console/lists/1/recipients?field=1&value=Name7777"),
        ("recipients, group filter", f"/console/lists/1/recipients?group={group.pk}&status=subscribed"),
        ("recipient page", f"/console/recipients/{recipient.pk}"),
        ("message page with target count", f"/console/messages/{message.pk}"),
        ("live target count", f"/console/messages/{message.pk}/count?groups={group.pk}"),
        ("sending page", f"/console/sendings/{sending.pk}"),
        ("list statistics", "/console/lists/1/statistics"),
        ("test inbox", "/console/inbox"),
        ("test inbox search", "/console/inbox?q=user1999"),
        ("saved filters", "/console/lists/1/filters"),
        ("saved filter count", f"/console/filters/{mailing_list.saved_filters.get().pk}/count"),
        ("settings: FrontEnd allow-list", "/console/settings/frontend"),
        ("settings: users", "/console/settings/users"),
        ("settings: OAuth clients", "/console/settings/oauth"),
        ("settings: FTP", "/console/settings/ftp"),
        ("settings: DKIM and DNS", "/console/settings/dkim"),
        ("settings: webhooks", "/console/settings/rules"),
        ("settings: relay", "/console/settings/relay"),
        ("settings: SMTP+ users", "/console/settings/smtp"),
        ("settings index", "/console/settings"),
        ("lists", "/console/lists"),
        ("list edit", "/console/lists/1/edit"),
        ("group edit", f"/console/groups/{group.pk}/edit"),
        ("messages", "/console/messages"),
        ("new message", "/console/messages/new"),
        ("message edit", f"/console/messages/{message.pk}/edit"),
        ("sendings", "/console/sendings"),
        ("new saved filter", "/console/lists/1/filters/new"),
        ("saved filter edit", f"/console/filters/{mailing_list.saved_filters.get().pk}"),
        ("import page", "/console/lists/1/import"),
        ("import detail", f"/console/imports/{upload.pk}"),
        ("import status", f"/console/imports/{upload.pk}/status"),
        ("test inbox message", f"/console/inbox/{sink_message.pk}"),
        ("webhook log", "/console/webhooks/log"),
    ]
    downloads = [
        ("sending deliveries CSV", f"/console/sendings/{sending.pk}/deliveries.csv"),
        ("list recipients CSV", "/console/lists/1/recipients.csv"),
        ("list statistics CSV", "/console/lists/1/statistics.csv"),
    ]
    client.get("/console/settings")  # warm up: URL resolver, templates, catalogues
    print(f"{'page':34} {'no cache ms':>12} {'cpu':>6} {'cached ms':>10} {'cpu':>6} {'ratio to 300 ms':>16}")
    for name, path in pages:
        uncached = [time_request(client, path, clear_cache=True) for _ in range(RUNS)]
        cached = [time_request(client, path, clear_cache=False) for _ in range(RUNS)]
        wall, cpu = median_pair(uncached)
        cached_wall, cached_cpu = median_pair(cached)
        ratio = max(wall, cached_wall) / BUDGET_MS
        print(f"{name:34} {wall:12.1f} {cpu:6.1f} {cached_wall:10.1f} {cached_cpu:6.1f} {ratio:16.2f}")

    # Downloads stream their rows, so the budget applies to the first chunk.
    # The time to the end of the file is printed for scale.
    print(f"\n{'download':34} {'first chunk ms':>14} {'whole file ms':>14} {'rows':>8}")
    for name, path in downloads:
        first_chunk, whole, rows = time_download(client, path)
        print(f"{name:34} {first_chunk:14.1f} {whole:14.1f} {rows:8}")


def time_request(client, path, clear_cache):
    """Return (wall, CPU) milliseconds of one GET of `path`, optionally after emptying Django's cache.

    The CPU time is this process's only: with SQLite it includes the
    queries, with PostgreSQL it leaves out the server's share.
    """
    from django.core.cache import cache

    if clear_cache:
        cache.clear()
    started, started_cpu = time.perf_counter(), time.process_time()
    response = client.get(path)
    elapsed, elapsed_cpu = (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed, elapsed_cpu


def time_download(client, path):
    """Return the wall milliseconds to the first chunk and to the end of a streamed download, and its line count."""
    started = time.perf_counter()
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    chunks = iter(response.streaming_content if response.streaming else [response.content])
    lines = next(chunks, b"").count(b"\n")
    first_chunk = (time.perf_counter() - started) * 1000
    lines += sum(chunk.count(b"\n") for chunk in chunks)
    return first_chunk, (time.perf_counter() - started) * 1000, lines


def median_pair(timings):
    return statistics.median(wall for wall, _cpu in timings), statistics.median(cpu for _wall, cpu in timings)

if __name__ == "__main__":
    run_in_scratch_database(run, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
