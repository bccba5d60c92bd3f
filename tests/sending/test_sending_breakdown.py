"""A sending's figures by status, hour, source IP and ISP, from one grouped pass."""

from datetime import datetime, timedelta, timezone

import pytest
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.test import override_settings

from lists.demo import seed_demo
from lists.models import Account, Recipient
from sending import services, statistics
from sending.models import Delivery

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 29, 0, 10, tzinfo=timezone.utc)  # the night Europe/Rome moves to summer time


@pytest.fixture
def sending(monkeypatch):
    """A sending with deliveries spread over five hours, two source IPs and two ISPs, some not yet attempted."""
    seed_demo()
    monkeypatch.setattr(services, "_enqueue_fan_out", lambda sending_id: None)
    account = Account.objects.get(console_id=1234)
    mailing_list = account.lists.get(list_id=1)
    sending = services.queue_sending(services.create_message(mailing_list, "Breakdown", html="<p>x</p>"))
    for number in range(24):
        recipient = Recipient.objects.create(account=account, email=f"r{number}@example.com")
        attempted = number % 6 != 0
        Delivery.objects.create(
            sending=sending, recipient=recipient, to_email=recipient.email,
            status="delivered" if attempted else "queued", attempts=int(attempted),
            source_ip=f"127.0.0.{10 + number % 2}" if attempted else None,
            isp="gmail" if number % 3 else "",
            delivered_at=START + timedelta(minutes=13 * number) if attempted else None,
        )  # fmt: skip
    return sending


def truncated_hours(sending):
    """Delivered deliveries per hour as Django's TruncHour groups them, the way the page grouped them before."""
    delivered = sending.deliveries.filter(status="delivered", delivered_at__isnull=False)
    rows = delivered.annotate(hour=TruncHour("delivered_at")).values("hour").annotate(total=Count("pk")).order_by("hour")
    return [(row["hour"], row["total"]) for row in rows]


@pytest.mark.parametrize("zone", ["Europe/Rome", "Asia/Kolkata", "UTC"])
def test_hours_match_trunc_hour(sending, zone):
    with override_settings(TIME_ZONE=zone):
        breakdown = statistics.sending_breakdown(sending)
        expected = truncated_hours(sending)

    assert breakdown["delivered_by_hour"] == expected
    assert sum(total for _hour, total in expected) == 20


def test_statuses_source_ips_and_isps(sending):
    breakdown = statistics.sending_breakdown(sending)

    assert breakdown["statuses"] == {"delivered": 20, "queued": 4}
    assert breakdown["sent"] == 20
    assert breakdown["by_source_ip"] == [("127.0.0.11", 12), ("127.0.0.10", 8)]
    assert breakdown["by_isp"] == statistics.statistics_by_isp(sending.deliveries.all())
    assert services.progress_counters(breakdown["statuses"], breakdown["sent"]) == services.sending_statistics(sending)
