"""Statistics per sending, message, source IP and link, from deliveries and their events."""

import pytest

from lists import services as lists_services
from lists.models import Source
from sending import services, statistics
from sending.models import Delivery, DeliveryEvent, Sending
from tests.personas import demo_list
from tests.sending.campaigns import newsletter, subscribe

HTML = '<p><a href="https://shop.example/a">A</a> <a href="https://shop.example/b">B</a></p>'


@pytest.fixture
def sent(demo, sink):
    """A delivered sending to four recipients of list 1, with its deliveries by address."""
    for name in ("anna", "bruno", "carla", "dario"):
        subscribe(f"{name}@example.com")
    sending = services.queue_sending(newsletter(html=HTML))
    sink.wait_for(4, sending_id=sending.pk)
    return sending, {delivery.to_email.split("@")[0]: delivery for delivery in Delivery.objects.filter(sending=sending)}


def click(delivery, number):
    return services.record_click(delivery.pk, number, "127.0.0.1", "test")


def test_opens_and_clicks_unique_and_total(sent):
    sending, by_name = sent
    services.record_open(by_name["anna"].pk, "127.0.0.1", "test")
    services.record_open(by_name["anna"].pk, "127.0.0.1", "test")
    services.record_open(by_name["bruno"].pk, "127.0.0.1", "test")
    click(by_name["anna"], 1)
    click(by_name["anna"], 1)
    click(by_name["anna"], 2)

    counters = statistics.sending_statistics(sending)

    assert counters["recipients"] == 4
    assert counters["delivered"] == 4
    assert counters["opens"] == 3
    assert counters["unique_opens"] == 2
    assert counters["clicks"] == 3
    assert counters["unique_clicks"] == 1


def test_bounces_complaints_and_unsubscribes(sent):
    sending, by_name = sent
    services.record_delivery_event(by_name["anna"], DeliveryEvent.Kind.HARD_BOUNCE)
    services.record_delivery_event(by_name["bruno"], DeliveryEvent.Kind.SOFT_BOUNCE)
    services.record_delivery_event(by_name["carla"], DeliveryEvent.Kind.COMPLAINT)
    lists_services.unsubscribe_recipient(
        by_name["dario"].recipient_id, demo_list(), Source.RECIPIENT, "2", message_id=sending.message_id
    )

    counters = statistics.sending_statistics(sending)

    assert counters["hard_bounces"] == 1
    assert counters["soft_bounces"] == 1
    assert counters["complaints"] == 1
    assert counters["unsubscribes"] == 1


def test_admin_unsubscribe_is_not_counted(sent):
    sending, by_name = sent
    lists_services.unsubscribe_recipient(
        by_name["dario"].recipient_id, demo_list(), Source.API, "0", message_id=sending.message_id
    )

    assert statistics.sending_statistics(sending)["unsubscribes"] == 0


def test_per_source_ip_adds_up(sent):
    sending, by_name = sent
    services.record_open(by_name["anna"].pk, "127.0.0.1", "test")

    by_ip = statistics.statistics_by_source_ip(Delivery.objects.filter(sending=sending))

    assert sum(counters["delivered"] for counters in by_ip.values()) == 4
    assert sum(counters["opens"] for counters in by_ip.values()) == 1
    assert by_ip[by_name["anna"].source_ip]["unique_opens"] == 1
    assert all(ip.startswith("127.0.0.") for ip in by_ip)


def test_per_isp_groups_by_domain(demo, sink):
    subscribe("anna@gmail.test")
    subscribe("bruno@gmail.test")
    subscribe("carla@libero.test")
    sending = services.queue_sending(newsletter(html=HTML))
    sink.wait_for(3, sending_id=sending.pk)
    anna = Delivery.objects.get(sending=sending, to_email="anna@gmail.test")
    services.record_open(anna.pk, "127.0.0.1", "test")

    by_isp = statistics.statistics_by_isp(Delivery.objects.filter(sending=sending))

    assert by_isp["gmail"]["delivered"] == 2
    assert by_isp["gmail"]["unique_opens"] == 1
    assert by_isp["libero"]["delivered"] == 1
    assert by_isp["libero"]["opens"] == 0


def test_message_statistics_sum_sendings(sent):
    sending, by_name = sent
    services.record_open(by_name["anna"].pk, "127.0.0.1", "test")
    second = services.queue_sending(sending.message)

    counters = statistics.message_statistics(sending.message)

    assert Sending.objects.get(pk=second.pk).status == Sending.Status.DONE
    assert counters["recipients"] == 8
    assert counters["opens"] == 1


def test_top_links(sent):
    sending, by_name = sent
    click(by_name["anna"], 2)
    click(by_name["bruno"], 2)
    click(by_name["bruno"], 2)
    click(by_name["carla"], 1)

    links = statistics.top_links(Sending.objects.filter(pk=sending.pk))

    assert [link["url"] for link in links] == ["https://shop.example/b", "https://shop.example/a"]
    assert links[0]["clicks"] == 3
    assert links[0]["unique_clicks"] == 2


def test_empty_sending_counts_zero(demo):
    sending = services.queue_sending(newsletter())

    counters = statistics.sending_statistics(sending)

    assert set(counters.values()) == {0}
    assert set(counters) == set(statistics.COUNTERS)
