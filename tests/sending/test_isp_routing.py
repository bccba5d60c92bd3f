"""Recognition of the recipient's ISP by domain or MX, and its record on deliveries."""

from sending import dns_zone, services
from sending.isp import OTHER, isp_for
from sending.models import Delivery, DeliveryAttempt, Isp
from tests.sending.campaigns import newsletter, subscribe


def test_zone_has_mx_of_provider_domains(demo):
    assert dns_zone.resolve_mx("gmail.test") == ["gmail-smtp-in.l.google.test"]
    assert dns_zone.resolve_mx("example.com") == []


def test_isp_matched_by_domain(demo):
    assert isp_for("anna@gmail.test") == "gmail"
    assert isp_for("Bruno@LIBERO.TEST") == "libero"


def test_isp_matched_by_mx(demo):
    # acme.test is listed by no Isp, but its MX is Outlook's.
    assert isp_for("carla@acme.test") == "outlook"


def test_unknown_domain_is_other(demo):
    assert isp_for("dario@example.com") == OTHER


def test_new_isp_row_applies_at_once(demo):
    assert isp_for("elena@tiscali.test") == OTHER

    Isp.objects.create(key="tiscali", name="Tiscali", mx_hosts=["mx.tiscali.test"])

    assert isp_for("elena@tiscali.test") == "tiscali"


def test_delivery_records_isp_and_source_ip(demo, sink):
    subscribe("anna@gmail.test")
    subscribe("bruno@example.com")

    sending = services.queue_sending(newsletter())

    received = sink.wait_for(2, sending_id=sending.pk)
    by_email = {delivery.to_email: delivery for delivery in Delivery.objects.filter(sending=sending)}
    assert by_email["anna@gmail.test"].isp == "gmail"
    assert by_email["bruno@example.com"].isp == OTHER
    assert {message.peer_ip for message in received} == {delivery.source_ip for delivery in by_email.values()}
    attempt = DeliveryAttempt.objects.get(delivery=by_email["anna@gmail.test"])
    assert attempt.isp == "gmail"
    assert attempt.source_ip == by_email["anna@gmail.test"].source_ip
