"""The smart relay: ISP rules, pools, hourly and connection limits, warm-up, and the sink's 421 limits."""

import smtplib
from datetime import datetime, time as day_time, timedelta

import pytest
from django.utils import timezone

from lists.models import Recipient, Subscription
from sending import clock, relay_limits, services, smtp
from sending.models import Delivery, DeliveryAttempt, Isp, IspRule
from sending.relay_routes import RouteTable
from tests.personas import demo_list
from tests.sending.campaigns import newsletter

Status = Delivery.Status


def subscribe_many(domain, count, list_id=1):
    """Subscribe `count` new addresses at `domain` in bulk, faster than one subscribe call each."""
    mailing_list = demo_list(list_id)
    recipients = Recipient.objects.bulk_create(
        [Recipient(account=mailing_list.account, email=f"user{number}@{domain}") for number in range(count)]
    )
    Subscription.objects.bulk_create(
        [
            Subscription(recipient=recipient, list=mailing_list, channel="email", status=Subscription.Status.SUBSCRIBED)
            for recipient in recipients
        ]
    )
    return recipients


def only_rule(isp_key, pool_name, addresses, **options):
    """Replace the demo's rules for an ISP with one rule on a new pool."""
    isp = Isp.objects.get(key=isp_key)
    IspRule.objects.filter(isp=isp).delete()
    pool = services.create_ip_pool(pool_name, addresses)
    return services.create_isp_rule(f"{isp_key} test rule", pool, isp, **options)


def warmup_rule(isp_key, hourly_limit, addresses, daily_limits=None):
    """Add a warm-up rule whose hourly limit is `hourly_limit` today and twice that tomorrow, unless `daily_limits` are given."""
    daily_limits = daily_limits or [hourly_limit, hourly_limit * 2]
    schedule = services.create_warmup_schedule(f"{isp_key} warm-up", daily_limits)
    return only_rule(isp_key, f"{isp_key}-warmup", addresses, warmup=schedule, warmup_started_on=timezone.localdate())


def statuses(sending):
    return set(Delivery.objects.filter(sending=sending).values_list("status", flat=True))


# --- Warm-up against the sink's own limit ----------------------------------------


def test_warmup_of_50_per_hour_holds(demo, sink, settings, relay_clock):
    # The sink plays a Gmail that takes 50 messages an hour from one address.
    settings.SINK_ISP_LIMITS = "gmail=50/0/0"
    # The test moves the clock two hours on, which may cross local midnight
    # into the schedule's second day, so that day keeps the same limit.
    warmup_rule("gmail", 50, ["127.0.0.30"], daily_limits=[50, 50])
    subscribe_many("gmail.test", 120)

    started = clock.now()
    sending = services.queue_sending(newsletter())

    assert len(sink.wait_for(50, sending_id=sending.pk)) == 50
    waiting = Delivery.objects.filter(sending=sending, status=Status.DEFERRED)
    assert waiting.count() == 70
    assert {delivery.attempts for delivery in waiting} == {0}
    # The real clock may pass the top of an hour while the test runs.
    next_hours = {clock.hour_start(moment) + timedelta(hours=1) for moment in (started, clock.now())}
    [next_attempt] = {delivery.next_attempt_at for delivery in waiting}
    assert next_attempt in next_hours

    # Nothing more leaves within the hour.
    services.sweep_sendings()
    assert len(sink.messages(sending_id=sending.pk)) == 50

    relay_clock.advance(hours=1)
    services.sweep_sendings()
    assert len(sink.wait_for(100, sending_id=sending.pk)) == 100

    relay_clock.advance(hours=1)
    services.sweep_sendings()
    received = sink.wait_for(120, sending_id=sending.pk)

    assert len(received) == 120
    assert len({message.rcpt_to[0] for message in received}) == 120
    assert {message.peer_ip for message in received} == {"127.0.0.30"}
    assert statuses(sending) == {Status.DELIVERED}
    assert not DeliveryAttempt.objects.filter(smtp_code=421).exists()


def test_sink_answers_421_past_its_limit(demo, sink, settings):
    # Without a relay rule, the sink's limit is what stops the messages.
    settings.SINK_ISP_LIMITS = "gmail=5/0/0"
    IspRule.objects.filter(isp__key="gmail").delete()
    subscribe_many("gmail.test", 8)
    settings.SENDING_SOURCE_IPS = ["127.0.0.31"]

    sending = services.queue_sending(newsletter())

    assert len(sink.wait_for(5, sending_id=sending.pk)) == 5
    refused = DeliveryAttempt.objects.filter(delivery__sending=sending, smtp_code=421)
    assert refused.count() == 3
    assert {attempt.outcome for attempt in refused} == {DeliveryAttempt.Outcome.DEFERRED}
    assert "Rate limit" in refused.first().response


# --- The sink's connection limits ---------------------------------------------------


def open_session(sink, source_ip):
    client = smtplib.SMTP("127.0.0.1", sink.port, source_address=(source_ip, 0))
    client.ehlo("relay.test")
    return client


def send_one(client, recipient):
    client.mail("sender@demo.example")
    return client.rcpt(recipient)


def test_sink_limits_connections_per_ip(demo, sink, settings):
    settings.SINK_ISP_LIMITS = "gmail=0/1/0"
    first = open_session(sink, "127.0.0.32")
    assert send_one(first, "anna@gmail.test")[0] == 250

    second = open_session(sink, "127.0.0.32")
    code, reply = send_one(second, "bruno@gmail.test")

    assert code == 421
    assert b"Too many connections" in reply
    other_ip = open_session(sink, "127.0.0.33")
    assert send_one(other_ip, "carla@gmail.test")[0] == 250
    first.close()
    other_ip.close()


def test_sink_limits_messages_per_connection(demo, sink, settings):
    settings.SINK_ISP_LIMITS = "gmail=0/0/2"
    client = open_session(sink, "127.0.0.34")
    for number in range(2):
        assert send_one(client, f"user{number}@gmail.test")[0] == 250
        client.data(b"Subject: hello\r\n\r\nbody\r\n")

    code, reply = send_one(client, "user2@gmail.test")

    assert code == 421
    assert b"Too many messages in this connection" in reply
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_relay_stays_within_sink_connection_limits(demo, sink, settings):
    settings.SINK_ISP_LIMITS = "outlook=0/1/3"
    only_rule("outlook", "outlook-pool", ["127.0.0.35"], max_connections=1, max_per_connection=3)
    subscribe_many("hotmail.test", 7)

    sending = services.queue_sending(newsletter())

    received = sink.wait_for(7, sending_id=sending.pk)
    assert len(received) == 7
    # Three sessions carried 3, 3 and 1 messages.
    assert len({message.peer_port for message in received}) == 3
    assert not DeliveryAttempt.objects.filter(smtp_code=421).exists()


def test_busy_connections_postpone_without_a_retry(demo, sink, settings):
    rule = only_rule("outlook", "outlook-busy", ["127.0.0.36"], max_connections=1)
    subscribe_many("outlook.test", 2)
    # Another worker has the only connection open.
    lease = relay_limits.counters().open_connection("outlook", "127.0.0.36", rule.max_connections)

    sending = services.queue_sending(newsletter())

    waiting = Delivery.objects.filter(sending=sending)
    assert {delivery.status for delivery in waiting} == {Status.DEFERRED}
    assert {delivery.attempts for delivery in waiting} == {0}
    assert "connections" in waiting.first().last_error
    relay_limits.counters().close_connection(lease)


# --- Routing by rule, MX, date and hour ------------------------------------------


def test_mx_routes_company_domain_to_isp_pool(demo, sink):
    only_rule("outlook", "outlook-mx", ["127.0.0.37"])
    subscribe_many("acme.test", 1)

    sending = services.queue_sending(newsletter())

    [received] = sink.wait_for(1, sending_id=sending.pk)
    assert received.peer_ip == "127.0.0.37"
    assert Delivery.objects.get(sending=sending).isp == "outlook"


def local_moment(hour, day=None):
    day = day or timezone.localdate()
    return timezone.make_aware(datetime.combine(day, day_time(hour, 30)))


def test_rules_change_by_hour(demo):
    assert RouteTable(local_moment(10)).route("libero").max_per_hour == 500
    assert RouteTable(local_moment(23)).route("libero").max_per_hour == 900
    assert RouteTable(local_moment(3)).route("libero").max_per_hour == 900


def test_rules_change_by_date(demo):
    isp = Isp.objects.get(key="yahoo")
    pool = services.create_ip_pool("black-friday", ["127.0.0.38"])
    friday = timezone.localdate() + timedelta(days=3)
    services.create_isp_rule("Black Friday", pool, isp, priority=5, valid_from=friday, valid_until=friday, max_per_hour=3000)

    assert RouteTable(local_moment(12)).route("yahoo").max_per_hour == 1500
    assert RouteTable(local_moment(12, friday)).route("yahoo").addresses == ("127.0.0.38",)
    assert RouteTable(local_moment(12, friday + timedelta(days=1))).route("yahoo").max_per_hour == 1500


def test_warmup_limit_grows_by_day(demo):
    rule = warmup_rule("yahoo", 40, ["127.0.0.39"])

    assert RouteTable(local_moment(12)).route("yahoo").max_per_hour == 40
    assert RouteTable(local_moment(12, timezone.localdate() + timedelta(days=1))).route("yahoo").max_per_hour == 80
    # After its last day the schedule no longer limits.
    later = RouteTable(local_moment(12, timezone.localdate() + timedelta(days=2))).route("yahoo")
    assert later.max_per_hour is None
    assert later.rule_id == rule.pk


def test_unruled_isp_uses_default_pool(demo, settings):
    route = RouteTable(timezone.now()).route("other")

    assert route.addresses == tuple(settings.SENDING_SOURCE_IPS)
    assert route.max_per_hour is None


# --- Counters -----------------------------------------------------------------------


def test_hourly_slots_stop_at_limit(demo):
    counters = relay_limits.counters()
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)

    assert counters.take_hourly_slots("gmail", "127.0.0.40", hour, 10, 6) == 6
    assert counters.take_hourly_slots("gmail", "127.0.0.40", hour, 10, 6) == 4
    assert counters.take_hourly_slots("gmail", "127.0.0.40", hour, 10, 6) == 0
    assert counters.take_hourly_slots("gmail", "127.0.0.40", hour + timedelta(hours=1), 10, 6) == 6


def test_connection_leases_stop_at_limit(demo, relay_clock):
    counters = relay_limits.counters()
    first = counters.open_connection("gmail", "127.0.0.41", 2)
    second = counters.open_connection("gmail", "127.0.0.41", 2)

    assert first
    assert second
    assert counters.open_connection("gmail", "127.0.0.41", 2) is None
    counters.close_connection(first)
    assert counters.open_connection("gmail", "127.0.0.41", 2)
    # A lease that its worker never closed stops counting.
    relay_clock.advance(seconds=relay_limits.LEASE_SECONDS + 1)
    assert counters.open_connection("gmail", "127.0.0.41", 1)


# --- Configuration services ------------------------------------------------------------


@pytest.mark.parametrize(
    "options, field",
    [
        ({"max_per_hour": 0}, "max_per_hour"),
        ({"hour_from": 25}, "hour_from"),
        ({"weekdays": [0]}, "weekdays"),
        ({"warmup_started_on": timezone.localdate()}, "warmup_started_on"),
    ],
)
def test_invalid_rule_is_rejected(demo, options, field):
    pool = services.create_ip_pool("checked", ["127.0.0.42"])

    with pytest.raises(ValueError, match=field):
        services.create_isp_rule("bad", pool, **options)


@pytest.mark.parametrize("address", ["10.0.0.1", "not-an-address", "127.0.0.10"])
def test_pool_address_outside_loopback_or_taken_is_rejected(demo, address):
    with pytest.raises(ValueError, match="address"):
        services.create_ip_pool("checked", [address])


def test_connection_reopens_after_max_messages(demo, sink):
    connection = smtp.Connection("127.0.0.37", max_messages=2)
    for number in range(3):
        connection.send(b"Subject: hello\r\n\r\nbody\r\n", "sender@demo.example", f"user{number}@example.com")
    connection.close()

    received = sink.wait_for(3)
    assert len({message.peer_port for message in received}) == 2


def test_connection_reports_rcpt_refusal(demo, sink):
    connection = smtp.Connection("127.0.0.38")

    with pytest.raises(smtp.DeliveryError) as raised:
        connection.send(b"Subject: hello\r\n\r\nbody\r\n", "sender@demo.example", "reject@example.com")
    connection.send(b"Subject: hello\r\n\r\nbody\r\n", "sender@demo.example", "anna@example.com")
    connection.close()

    assert raised.value.permanent
    assert str(raised.value) == "550 5.1.1 User unknown. (in reply to RCPT TO command)"
    assert len(sink.wait_for(1)) == 1
