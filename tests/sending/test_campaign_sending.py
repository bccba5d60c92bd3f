"""Campaign sendings over real SMTP to the live sink: targets, merge tags, links, DKIM, retries."""

import re
from datetime import timedelta
from email import message_from_bytes, policy

import dkim
import lxml.html
import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from lists.models import Group
from sending import dns_zone, relay_routes, services, statistics, tasks
from sending.models import Delivery, DeliveryAttempt, Sending
from sending.sink import SinkHandler, parse_message
from tests.personas import demo_list
from tests.sending.campaigns import deliveries, newsletter, subscribe, subscription_of, unsubscribe
from tests.support import Sink, free_port

Status = Delivery.Status


def campaign_mail(sink, sending, count, timeout=10):
    return sink.wait_for(count, timeout=timeout, sending_id=sending.pk)


def header(stored, name):
    return message_from_bytes(bytes(stored.raw), policy=policy.default)[name]


# --- Targets -------------------------------------------------------------------


def test_sending_reaches_only_subscribed(demo, sink):
    subscribe("anna@example.com")
    subscribe("bruno@example.com")
    subscribe("carla@example.com", confirm=True)
    subscribe("dario@example.com")
    unsubscribe("dario@example.com")
    subscribe("elena@example.com", list_id=2)

    sending = services.queue_sending(newsletter())

    received = campaign_mail(sink, sending, 2)
    assert sorted(message.rcpt_to[0] for message in received) == ["anna@example.com", "bruno@example.com"]
    assert len(campaign_mail(sink, sending, 3, timeout=1)) == 2
    assert {delivery.status for delivery in deliveries(sending).values()} == {Status.DELIVERED}
    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.DONE


def test_sending_records_source_ip_and_message_id(demo, sink):
    subscribe("anna@example.com")
    sending = services.queue_sending(newsletter())

    [received] = campaign_mail(sink, sending, 1)
    delivery = Delivery.objects.get(sending=sending)
    assert delivery.source_ip in settings.SENDING_SOURCE_IPS
    assert received.peer_ip == delivery.source_ip
    assert received.message_id == delivery.message_id
    assert received.mail_from == f"d-{delivery.pk}@{settings.BOUNCE_DOMAIN}"
    assert delivery.attempts == 1


def test_groups_and_excluded_groups(demo, sink):
    clienti = Group.objects.get(list=demo_list(), name="Clienti")
    prospect = Group.objects.get(list=demo_list(), name="Prospect")
    subscribe("anna@example.com", group_ids=[clienti.pk])
    subscribe("bruno@example.com", group_ids=[clienti.pk, prospect.pk])
    subscribe("carla@example.com", group_ids=[prospect.pk])

    sending = services.queue_sending(newsletter(), groups=[clienti], excluded_groups=[prospect])

    assert [message.rcpt_to for message in campaign_mail(sink, sending, 1)] == [["anna@example.com"]]
    assert list(deliveries(sending)) == ["anna@example.com"]


def test_given_recipients_must_be_subscribed(demo, sink):
    anna = subscribe("anna@example.com")
    subscribe("bruno@example.com")
    carla = subscribe("carla@example.com")
    unsubscribe("carla@example.com")

    sending = services.queue_sending(newsletter(), recipients=[anna, carla])

    assert list(deliveries(sending)) == ["anna@example.com"]


def test_group_of_other_list_is_rejected(demo):
    vip = Group.objects.get(list=demo_list(2), name="VIP")
    with pytest.raises(ValueError):
        services.queue_sending(newsletter(), groups=[vip])
    assert not Sending.objects.exists()


def test_scheduled_sending_waits_for_its_date(demo, sink):
    subscribe("anna@example.com")
    sending = services.queue_sending(newsletter(), scheduled_at=timezone.now() + timedelta(hours=1))
    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.SCHEDULED
    assert not Delivery.objects.exists()

    Sending.objects.filter(pk=sending.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    services.sweep_sendings()

    assert len(campaign_mail(sink, sending, 1)) == 1
    assert Delivery.objects.get().status == Status.DELIVERED


def test_recipient_who_left_after_fan_out_gets_nothing(demo, sink, monkeypatch):
    subscribe("anna@example.com")
    monkeypatch.setattr(services, "enqueue_deliveries", lambda ids: None)
    sending = services.queue_sending(newsletter())
    unsubscribe("anna@example.com")

    tasks.deliver_batch(list(Delivery.objects.values_list("pk", flat=True)))

    assert Delivery.objects.get().status == Status.FAILED
    assert campaign_mail(sink, sending, 1, timeout=1) == []


# --- Content -------------------------------------------------------------------


def test_merge_tags_are_replaced(demo, sink):
    recipient = subscribe("anna@example.com", fields={1: "Anna", 4: "Milano", 12: "C-77"})
    message = newsletter(
        subject="Offerte per [Nome]",
        html=(
            "<html><body><p>Ciao [NOME] da [città], codice [campo12], indirizzo [email].</p>"
            '<p><a href="http://[unsubscribe]/">Cancellati</a> [unknowntag] [host]</p></body></html>'
        ),
        preheader="Solo per [nome]",
    )
    sending = services.queue_sending(message)

    [received] = campaign_mail(sink, sending, 1)
    parts = parse_message(bytes(received.raw))
    unsubscribe_url = f"http://c1234.localhost:8000/frontend/optout.aspx?id={recipient.pk}&idList=1&idNL={message.pk}"
    assert received.subject == "Offerte per Anna"
    assert "Ciao Anna da Milano, codice C-77, indirizzo anna@example.com." in parts["html"]
    assert "Ciao Anna da Milano, codice C-77, indirizzo anna@example.com." in parts["text"]
    assert "[unknowntag] c1234.localhost" in parts["html"]
    assert ">Solo per Anna</div>" in parts["html"]
    href = lxml.html.fromstring(parts["html"]).xpath("//a/@href")[0]
    assert href.startswith(unsubscribe_url + "&HASH=")


def test_text_part_generated_from_html(demo, sink):
    subscribe("anna@example.com", fields={1: "Anna"})
    html = "<h1>Ciao [nome]</h1><p>Vai <a href='https://shop.example/'>qui</a></p>"
    sending = services.queue_sending(newsletter(html=html, tracking=False))

    [received] = campaign_mail(sink, sending, 1)
    text = parse_message(bytes(received.raw))["text"]
    assert text.replace("\r\n", "\n").strip() == "Ciao Anna\n\nVai qui (https://shop.example/)"


def test_text_part_keeps_unsubscribe_link(demo, sink):
    recipient = subscribe("anna@example.com", fields={1: "Anna"})
    html = "<p>Ciao [nome]</p><p><a href='[unsubscribe]'>Cancellati</a></p>"
    sending = services.queue_sending(newsletter(html=html, tracking=False))

    [received] = campaign_mail(sink, sending, 1)
    text = parse_message(bytes(received.raw))["text"]
    unsubscribe_url = f"http://c1234.localhost:8000/frontend/optout.aspx?id={recipient.pk}&idList=1"
    assert f"Cancellati ({unsubscribe_url}" in text.replace("\r\n", "\n")


def test_campaign_headers(demo, sink):
    subscribe("anna@example.com")
    sending = services.queue_sending(newsletter())

    [received] = campaign_mail(sink, sending, 1)
    delivery = Delivery.objects.get()
    unsubscribe_header = header(received, "List-Unsubscribe")
    assert re.fullmatch(
        rf"<http://c1234\.localhost:8000/frontend/optout\.aspx\?\S+>, <mailto:u-{delivery.pk}-[0-9a-f]{{16}}@"
        + re.escape(settings.BOUNCE_DOMAIN)
        + ">",
        unsubscribe_header,
    )
    assert b"\r\nList-Unsubscribe: <http://c1234.localhost:8000/frontend/optout.aspx?" in bytes(received.raw)
    assert header(received, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert header(received, "X-MailUp-Ver") == "6"
    assert header(received, "X-Abuse") == "Please report abuse here: http://c1234.localhost/p"
    assert header(received, "From") == "Demo Newsletter <newsletter@demo.example>"
    assert received.account_console_id == 1234
    assert received.list_id == 1


@pytest.mark.parametrize("body, reason", [({"source": "page"}, "2"), ({"List-Unsubscribe": "One-Click"}, "32")])
def test_unsubscribe_link_works(demo, sink, http, body, reason):
    anna = subscribe("anna@example.com")
    message = newsletter(html='<p><a href="http://[unsubscribe]/">Cancellati</a></p>')
    sending = services.queue_sending(message)
    [received] = campaign_mail(sink, sending, 1)
    link = lxml.html.fromstring(parse_message(bytes(received.raw))["html"]).xpath("//a/@href")[0]

    assert http.open_link(link).status_code == 200
    assert subscription_of(anna).status == "subscribed"
    assert http.open_link(link, method="POST", data=body).status_code == 200

    subscription = subscription_of(anna)
    assert subscription.status == "unsubscribed"
    assert subscription.optout_reason == reason
    assert subscription.optout_message_id == message.pk


def test_list_unsubscribe_one_click(demo, sink, http):
    anna = subscribe("anna@example.com")
    sending = services.queue_sending(newsletter())
    [received] = campaign_mail(sink, sending, 1)
    url = header(received, "List-Unsubscribe").split(">")[0].lstrip("<")

    response = http.open_link(url, method="POST", data="List-Unsubscribe=One-Click")

    assert response.status_code == 200
    assert subscription_of(anna).status == "unsubscribed"


# --- DKIM ------------------------------------------------------------------------


def test_campaign_passes_dkim_in_sink(demo, sink, http):
    subscribe("anna@example.com")
    sending = services.queue_sending(newsletter())

    [received] = campaign_mail(sink, sending, 1)
    summary = http.get(f"/sink/api/messages?sending={sending.pk}").json()["messages"][0]
    assert summary["dkim"]["result"] == "pass"
    assert summary["dkim"]["domain"] == "demo.example"
    assert [item["algorithm"] for item in summary["dkim"]["signatures"]] == ["rsa-sha256", "ed25519-sha256"]
    assert {item["result"] for item in summary["dkim"]["signatures"]} == {"pass"}
    assert received.dkim_result == "pass"
    # dkimpy's own verifier agrees, reading the same built-in zone.
    assert dkim.verify(bytes(received.raw), dnsfunc=lambda name, timeout=5: dns_zone.resolve_txt(name))


# --- Retries, idempotency, permanent failures ---------------------------------


def test_deferred_delivery_is_retried(demo, sink, settings):
    subscribe("anna@example.com")
    real_port = settings.SINK_SMTP_PORT
    settings.SINK_SMTP_PORT = free_port()
    sending = services.queue_sending(newsletter())

    delivery = Delivery.objects.get()
    assert delivery.status == Status.DEFERRED
    assert delivery.next_attempt_at > timezone.now()
    assert "failed" in delivery.last_error

    settings.SINK_SMTP_PORT = real_port
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    services.sweep_sendings()

    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 2
    assert len(campaign_mail(sink, sending, 1)) == 1


def test_deferred_delivery_not_sent_before_its_time(demo, sink, settings):
    subscribe("anna@example.com")
    real_port = settings.SINK_SMTP_PORT
    settings.SINK_SMTP_PORT = free_port()
    sending = services.queue_sending(newsletter())
    settings.SINK_SMTP_PORT = real_port

    tasks.deliver_batch(list(Delivery.objects.values_list("pk", flat=True)))

    assert Delivery.objects.get().status == Status.DEFERRED
    assert campaign_mail(sink, sending, 1, timeout=1) == []


def test_delivery_fails_after_last_attempt(demo, sink, settings):
    subscribe("anna@example.com")
    settings.SINK_SMTP_PORT = free_port()
    services.queue_sending(newsletter())

    Delivery.objects.update(attempts=len(settings.SENDING_RETRY_DELAYS), next_attempt_at=timezone.now())
    services.sweep_sendings()

    assert Delivery.objects.get().status == Status.FAILED


def test_rerun_of_delivery_task_sends_nothing_twice(demo, sink):
    subscribe("anna@example.com")
    subscribe("bruno@example.com")
    sending = services.queue_sending(newsletter())
    assert len(campaign_mail(sink, sending, 2)) == 2

    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert tasks.deliver_batch(ids) == 0
    assert tasks.prepare_sending(sending.pk) == 0
    assert services.sweep_sendings() == 0
    assert len(campaign_mail(sink, sending, 3, timeout=1)) == 2


def test_claim_left_by_dead_worker_is_resent_once(demo, sink, monkeypatch):
    subscribe("anna@example.com")
    with monkeypatch.context() as patched:
        # The worker dies after claiming the delivery and before sending it.
        patched.setattr(services, "enqueue_deliveries", lambda ids: None)
        sending = services.queue_sending(newsletter())
    Delivery.objects.update(
        status=Status.SENDING, attempts=1, claimed_at=timezone.now() - services.CLAIM_TIMEOUT - timedelta(seconds=1)
    )

    assert services.sweep_sendings() == 1

    assert Delivery.objects.get().status == Status.DELIVERED
    assert len(campaign_mail(sink, sending, 2, timeout=1)) == 1


def test_fan_out_left_by_dead_worker_is_finished(demo, sink, monkeypatch):
    for name in ("anna", "bruno", "carla"):
        subscribe(f"{name}@example.com")
    monkeypatch.setattr(settings, "SENDING_BATCH_SIZE", 2)
    with monkeypatch.context() as patched:
        patched.setattr(services, "_enqueue_fan_out", lambda sending_id: None)
        sending = services.queue_sending(newsletter())
    # The fan-out worker created the first batch, then died.
    services.claim_sending(sending.pk)
    first = services.target_recipients(sending).order_by("pk")[:2]
    Delivery.objects.bulk_create([Delivery(sending=sending, recipient=r, to_email=r.email) for r in first])
    Sending.objects.filter(pk=sending.pk).update(claimed_at=timezone.now() - services.CLAIM_TIMEOUT - timedelta(seconds=1))

    services.sweep_sendings()

    assert len(campaign_mail(sink, sending, 3)) == 3
    assert Delivery.objects.filter(sending=sending).count() == 3
    assert len(campaign_mail(sink, sending, 4, timeout=1)) == 3


class PickyHandler(SinkHandler):
    """A sink that replies 550 to gone@… and 451 to busy@…, and stores the rest."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "451 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def picky_sink(settings, transactional_db):
    port = free_port()
    settings.SINK_SMTP_PORT = port
    controller = Controller(PickyHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield Sink(port)
    controller.stop()


def test_5xx_marks_delivery_failed(demo, picky_sink, settings):
    settings.SENDING_SOURCE_IPS = ["127.0.0.21"]
    for name in ("anna", "gone", "busy", "bruno"):
        subscribe(f"{name}@example.com")

    sending = services.queue_sending(newsletter())

    by_email = deliveries(sending)
    assert by_email["gone@example.com"].status == Status.FAILED
    assert by_email["gone@example.com"].smtp_code == 550
    assert by_email["gone@example.com"].last_error.startswith("550 5.1.1")
    assert by_email["busy@example.com"].status == Status.DEFERRED
    assert by_email["busy@example.com"].smtp_code == 451
    assert by_email["anna@example.com"].status == Status.DELIVERED
    assert by_email["bruno@example.com"].status == Status.DELIVERED

    received = campaign_mail(picky_sink, sending, 2)
    assert sorted(message.rcpt_to[0] for message in received) == ["anna@example.com", "bruno@example.com"]
    # Both messages travelled over one SMTP session from the one source address.
    assert len({(message.peer_ip, message.peer_port) for message in received}) == 1


# --- Statistics ------------------------------------------------------------------


def test_sending_statistics(demo, picky_sink):
    for name in ("anna", "gone", "busy", "bruno"):
        subscribe(f"{name}@example.com")
    sending = services.queue_sending(newsletter())

    counters = statistics.sending_statistics(sending)
    assert counters["recipients"] == 4
    assert counters["sent"] == 4
    assert counters["queued"] == 0
    assert counters["delivered"] == 2
    assert counters["deferred"] == 1
    assert counters["failed"] == 1
    assert counters["hard_bounces"] == 1
    assert counters["soft_bounces"] == 0


@pytest.mark.parametrize("pool", [[], ["10.0.0.1"], ["not-an-address"]])
def test_source_pool_outside_loopback_is_rejected(settings, pool):
    settings.SENDING_SOURCE_IPS = pool

    with pytest.raises(ImproperlyConfigured):
        relay_routes.default_pool()


def test_every_attempt_is_recorded(demo, sink, settings):
    subscribe("anna@example.com")
    real_port = settings.SINK_SMTP_PORT
    settings.SINK_SMTP_PORT = free_port()
    services.queue_sending(newsletter())

    settings.SINK_SMTP_PORT = real_port
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    services.sweep_sendings()

    attempts = list(DeliveryAttempt.objects.order_by("number"))
    assert [attempt.number for attempt in attempts] == [1, 2]
    assert [attempt.outcome for attempt in attempts] == ["deferred", "delivered"]
    assert "failed" in attempts[0].response
    assert attempts[1].smtp_code == 250
    assert attempts[1].source_ip in settings.SENDING_SOURCE_IPS
    assert attempts[1].duration_ms is not None
