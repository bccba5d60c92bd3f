"""Bounces, complaints and auto-replies end to end: the sink plays the ISP, the inbound MX changes subscriptions.

A newsletter goes over real SMTP to the live sink. The sink applies magic
addresses and stored rules, sends DSNs, ARF complaints and auto-replies to
the live inbound MX, and the tests read the outcome through
xmlChkSubscriber.aspx and the sink API.
"""

import smtplib
import time

import pytest

from lists.models import Source, Subscription, SubscriptionEvent
from sending import campaign_rendering, services, statistics
from sending.inbound.server import start_inbound_mx
from sending.models import Delivery, DeliveryEvent, InboundMessage, SinkRule
from tests.personas import demo_list
from tests.sending.campaigns import newsletter, subscribe, subscription_of
from tests.support import free_port

CHK_PAGE = "/frontend/xmlChkSubscriber.aspx"
SUBSCRIBED = "2"
UNSUBSCRIBED = "3"


@pytest.fixture
def inbound_mx(settings, transactional_db):
    port = free_port()
    settings.INBOUND_MX_PORT = port
    settings.SINK_REPORT_DELAY_SECONDS = 0
    controller = start_inbound_mx("127.0.0.1", port)
    yield port
    controller.stop()


def wait_for_inbound(count, timeout=20):
    """Return the processed inbound messages once there are `count` of them, waiting up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        processed = list(InboundMessage.objects.filter(status=InboundMessage.Status.PROCESSED).order_by("id"))
        if len(processed) >= count or time.monotonic() > deadline:
            return processed
        time.sleep(0.1)


def check_subscriber(http, email, list_id=1):
    mailing_list = demo_list(list_id)
    params = {"ListGuid": str(mailing_list.guid), "List": list_id, "Email": email}
    return http.get(CHK_PAGE, params=params).text.strip()


def verdicts_by_address(messages):
    return {message.recipient.email: message.verdict for message in messages if message.recipient}


def send_newsletter(list_id=1):
    return services.queue_sending(newsletter(list_id))


# --- Magic addresses --------------------------------------------------------------


def test_magic_addresses_change_state_as_mailup(demo, sink, inbound_mx, http):
    for email in ("bounce@example.com", "complaint@example.com"):
        subscribe(email, list_id=1)
        subscribe(email, list_id=2)
    for email in ("softbounce@example.com", "ooto@example.com", "defer@example.com", "anna@example.com"):
        subscribe(email)

    sending = send_newsletter()
    messages = wait_for_inbound(4)

    assert verdicts_by_address(messages) == {
        "bounce@example.com": "hard_bounce",
        "softbounce@example.com": "soft_bounce",
        "complaint@example.com": "complaint",
        "ooto@example.com": "auto_reply",
    }
    assert check_subscriber(http, "bounce@example.com", 1) == UNSUBSCRIBED
    assert check_subscriber(http, "bounce@example.com", 2) == UNSUBSCRIBED
    assert check_subscriber(http, "complaint@example.com", 1) == UNSUBSCRIBED
    assert check_subscriber(http, "complaint@example.com", 2) == SUBSCRIBED
    assert check_subscriber(http, "softbounce@example.com") == SUBSCRIBED
    assert check_subscriber(http, "ooto@example.com") == SUBSCRIBED
    assert check_subscriber(http, "defer@example.com") == SUBSCRIBED
    assert check_subscriber(http, "anna@example.com") == SUBSCRIBED

    deliveries = {delivery.to_email: delivery for delivery in Delivery.objects.filter(sending=sending)}
    assert deliveries["bounce@example.com"].status == Delivery.Status.BOUNCED
    assert deliveries["softbounce@example.com"].status == Delivery.Status.BOUNCED
    assert deliveries["defer@example.com"].status == Delivery.Status.DEFERRED
    assert deliveries["defer@example.com"].smtp_code == 451
    assert deliveries["anna@example.com"].status == Delivery.Status.DELIVERED


def test_hard_bounce_reason_80_on_every_list(demo, sink, inbound_mx):
    recipient = subscribe("bounce@example.com", list_id=1)
    subscribe("bounce@example.com", list_id=2)

    send_newsletter()
    wait_for_inbound(1)

    for list_id in (1, 2):
        subscription = subscription_of(recipient, list_id)
        assert subscription.status == Subscription.Status.UNSUBSCRIBED
        assert subscription.optout_reason == "80"
    events = SubscriptionEvent.objects.filter(recipient=recipient, kind=SubscriptionEvent.Kind.UNSUBSCRIBE)
    assert sorted(event.source for event in events) == [Source.BOUNCE, Source.BOUNCE]


def test_complaint_reason_16_on_that_list(demo, sink, inbound_mx):
    recipient = subscribe("complaint@example.com", list_id=1)
    subscribe("complaint@example.com", list_id=2)

    sending = send_newsletter()
    [report] = wait_for_inbound(1)

    subscription = subscription_of(recipient, 1)
    assert subscription.optout_reason == "16"
    assert subscription.optout_message_id == sending.message_id
    assert subscription_of(recipient, 2).status == Subscription.Status.SUBSCRIBED
    event = SubscriptionEvent.objects.get(recipient=recipient, kind=SubscriptionEvent.Kind.UNSUBSCRIBE)
    assert event.source == Source.FBL
    assert report.details["feedback_type"] == "abuse"


def test_later_reports_count_in_sending_statistics(demo, sink, inbound_mx):
    for email in ("bounce@example.com", "softbounce@example.com", "complaint@example.com", "ooto@example.com"):
        subscribe(email)

    sending = send_newsletter()
    wait_for_inbound(4)

    figures = statistics.sending_statistics(sending)
    assert (figures["hard_bounces"], figures["soft_bounces"], figures["complaints"]) == (1, 1, 1)
    kinds = sorted(DeliveryEvent.objects.filter(sending=sending).values_list("kind", flat=True))
    assert kinds == ["complaint", "hard_bounce", "soft_bounce"]


def test_nodomain_bounce_reason_82(demo, sink, inbound_mx):
    recipient = subscribe("nodomain@example.com")

    send_newsletter()
    wait_for_inbound(1)

    assert subscription_of(recipient).optout_reason == "82"


def test_repeated_soft_bounces_unsubscribe_512(demo, sink, inbound_mx, http):
    account = demo_list().account
    account.soft_bounce_limit = 2
    account.soft_bounce_days = 7
    account.save()
    recipient = subscribe("softbounce@example.com", list_id=1)
    subscribe("softbounce@example.com", list_id=2)

    send_newsletter()
    wait_for_inbound(1)
    assert check_subscriber(http, "softbounce@example.com") == SUBSCRIBED

    send_newsletter()
    wait_for_inbound(2)
    assert check_subscriber(http, "softbounce@example.com", 1) == UNSUBSCRIBED
    assert check_subscriber(http, "softbounce@example.com", 2) == UNSUBSCRIBED
    assert subscription_of(recipient, 1).optout_reason == "512"


def test_soft_bounce_rule_off_counts_nothing(demo, sink, inbound_mx):
    account = demo_list().account
    account.soft_bounce_limit = 0
    account.save()
    recipient = subscribe("softbounce@example.com")

    for _ in range(2):
        send_newsletter()
    wait_for_inbound(2)

    assert subscription_of(recipient).status == Subscription.Status.SUBSCRIBED


# --- Stored rules -------------------------------------------------------------------


def test_rule_for_domain_rejects_at_rcpt(demo, sink, inbound_mx, http):
    response = http.post("/sink/api/rules", json={"pattern": "libero.test", "behaviour": "reject", "smtp_code": 554, "enhanced_status": "5.7.1", "message": "Blocked."})
    assert response.status_code == 201
    subscribe("anna@libero.test")

    sending = send_newsletter()
    delivery = _wait_for_delivery(sending, Delivery.Status.FAILED)

    assert delivery.smtp_code == 554
    assert "5.7.1 Blocked." in delivery.last_error


def test_rule_for_pattern_sends_dsn(demo, sink, inbound_mx):
    services.save_sink_rule({"pattern": "gone-*@example.com", "behaviour": "bounce"})
    recipient = subscribe("gone-anna@example.com")

    send_newsletter()
    [report] = wait_for_inbound(1)

    assert report.verdict == InboundMessage.Verdict.HARD_BOUNCE
    assert subscription_of(recipient).optout_reason == "80"


def test_rule_beats_magic_address(demo, sink, inbound_mx):
    services.save_sink_rule({"pattern": "bounce@example.com", "behaviour": "accept"})
    recipient = subscribe("bounce@example.com")

    sending = send_newsletter()
    _wait_for_delivery(sending, Delivery.Status.DELIVERED)

    assert wait_for_inbound(1, timeout=1) == []
    assert subscription_of(recipient).status == Subscription.Status.SUBSCRIBED


def test_rule_api_rejects_bad_values(demo, http):
    bad_bodies = [
        ({"pattern": "", "behaviour": "reject"}, "pattern"),
        ({"pattern": "x.test", "behaviour": "explode"}, "behaviour"),
        ({"pattern": "x.test", "behaviour": "defer", "smtp_code": 550}, "smtp_code"),
        ({"pattern": "x.test", "behaviour": "reject", "enhanced_status": "five"}, "enhanced_status"),
        ({"pattern": "x.test", "behaviour": "slow", "delay_seconds": -1}, "delay_seconds"),
    ]
    for body, field in bad_bodies:
        response = http.post("/sink/api/rules", json=body)
        assert response.status_code == 400
        assert response.json()["field"] == field
    assert SinkRule.objects.count() == 0


def test_rule_api_lists_changes_deletes(demo, http):
    created = http.post("/sink/api/rules", json={"pattern": "*@gmail.test", "behaviour": "defer"}).json()

    changed = http.request("PATCH", f"/sink/api/rules/{created['id']}", json={"active": False}).json()
    listing = http.get("/sink/api/rules").json()["rules"]
    deleted = http.request("DELETE", f"/sink/api/rules/{created['id']}")

    assert changed["active"] is False
    assert [rule["pattern"] for rule in listing] == ["*@gmail.test"]
    assert deleted.status_code == 204
    assert http.get(f"/sink/api/rules/{created['id']}").status_code == 404


def _wait_for_delivery(sending, status, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        delivery = Delivery.objects.filter(sending=sending).first()
        if (delivery and delivery.status == status) or time.monotonic() > deadline:
            return delivery
        time.sleep(0.05)


# --- Inbound MX -----------------------------------------------------------------------


def test_mailto_unsubscribe_reason_64(demo, sink, inbound_mx):
    recipient = subscribe("anna@example.com")
    sending = send_newsletter()
    delivery = _wait_for_delivery(sending, Delivery.Status.DELIVERED)
    address = campaign_rendering.mailto_unsubscribe(delivery).removeprefix("mailto:")

    with smtplib.SMTP("127.0.0.1", inbound_mx) as client:
        client.sendmail("anna@example.com", [address], b"Subject: unsubscribe\r\n\r\nunsubscribe\r\n")
    [report] = wait_for_inbound(1)

    assert report.verdict == InboundMessage.Verdict.UNSUBSCRIBE
    assert subscription_of(recipient).optout_reason == "64"


def test_inbound_listing_filters_by_verdict(demo, sink, inbound_mx, http):
    subscribe("ooto@example.com")
    subscribe("bounce@example.com")
    send_newsletter()
    wait_for_inbound(2)

    listing = http.get("/sink/api/inbound", params={"verdict": "auto_reply"}).json()
    bad = http.get("/sink/api/inbound", params={"verdict": "nonsense"})

    assert listing["total"] == 1
    assert listing["messages"][0]["subject"].startswith("Automatic reply:")
    assert bad.status_code == 400


def test_unknown_report_changes_nothing(demo, inbound_mx):
    with smtplib.SMTP("127.0.0.1", inbound_mx) as client:
        client.sendmail("", ["d-999999@bounces.example"], b"Subject: hello\r\n\r\nnot a report\r\n")
    [report] = wait_for_inbound(1)

    assert report.verdict == InboundMessage.Verdict.UNKNOWN
    assert report.recipient is None


def test_reject_at_rcpt_is_hard_bounce(demo, sink, inbound_mx, http):
    recipient = subscribe("reject@example.com", list_id=1)
    subscribe("reject@example.com", list_id=2)

    sending = send_newsletter()
    delivery = _wait_for_delivery(sending, Delivery.Status.FAILED)

    assert delivery.smtp_code == 550
    assert check_subscriber(http, "reject@example.com", 1) == UNSUBSCRIBED
    assert check_subscriber(http, "reject@example.com", 2) == UNSUBSCRIBED
    assert subscription_of(recipient, 2).optout_reason == "80"


def test_policy_reject_keeps_subscription(demo, sink, inbound_mx):
    services.save_sink_rule({"pattern": "libero.test", "behaviour": "reject", "smtp_code": 554, "enhanced_status": "5.7.1", "message": "Message refused by policy."})
    recipient = subscribe("anna@libero.test")

    sending = send_newsletter()
    _wait_for_delivery(sending, Delivery.Status.FAILED)

    assert subscription_of(recipient).status == Subscription.Status.SUBSCRIBED


def test_bounce_and_complaint_fire_webhooks(demo, sink, inbound_mx):
    from integrations.models import Webhook, WebhookDelivery

    webhook = Webhook.objects.create(
        account=demo_list().account,
        event=Webhook.Event.UNSUBSCRIBE,
        sources=["Bounce", "FBL"],
        url=f"http://127.0.0.1:{free_port()}/hook",
        parameters=[["reason", "[Reason]"], ["source", "[EventSource]"], ["email", "[email]"]],
    )
    subscribe("bounce@example.com")
    subscribe("complaint@example.com")

    send_newsletter()
    wait_for_inbound(2)

    calls = sorted(delivery.parameters for delivery in WebhookDelivery.objects.filter(webhook=webhook))
    assert calls == [
        "reason=16&source=FBL&email=complaint%40example.com",
        "reason=80&source=Bounce&email=bounce%40example.com",
    ]


def test_sweep_processes_message_left_waiting(demo):
    from datetime import timedelta

    from django.utils import timezone

    from sending import tasks

    waiting = InboundMessage.objects.create(peer_ip="127.0.0.1", rcpt_to=["fbl@example.com"], size=4, raw=b"x\r\n\r\n")
    InboundMessage.objects.filter(pk=waiting.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    fresh = InboundMessage.objects.create(peer_ip="127.0.0.1", rcpt_to=["fbl@example.com"], size=4, raw=b"x\r\n\r\n")

    tasks.requeue_inbound_messages()

    assert InboundMessage.objects.get(pk=waiting.pk).status == InboundMessage.Status.PROCESSED
    assert InboundMessage.objects.get(pk=fresh.pk).status == InboundMessage.Status.RECEIVED
