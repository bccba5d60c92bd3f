"""The sending page's opens, clicks, bounces and per-ISP figures."""

import pytest

from lists.models import Recipient, Subscription
from sending import services as sending_services
from sending import statistics as sending_statistics
from sending.models import Delivery, DeliveryEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(demo_account, monkeypatch):
    """A sending of list 1 delivered to two Gmail recipients, one of whom opened it twice and complained."""
    monkeypatch.setattr(sending_services, "_enqueue_fan_out", lambda sending_id: None)
    mailing_list = demo_account.lists.get(list_id=1)
    message = sending_services.create_message(mailing_list, "Engagement", html="<p>x</p>")
    sending = sending_services.queue_sending(message)
    deliveries = []
    for name in ("anna", "bruno"):
        recipient = Recipient.objects.create(account=demo_account, email=f"{name}@gmail.test")
        Subscription.objects.create(recipient=recipient, list=mailing_list, status="subscribed", source="API")
        deliveries.append(
            Delivery.objects.create(
                sending=sending, recipient=recipient, to_email=recipient.email, status="delivered",
                attempts=1, isp="gmail", source_ip="127.0.0.10", delivered_at=sending.created_at,
            )
        )  # fmt: skip
    for kind in ("open", "open", "complaint"):
        sending_services.record_delivery_event(deliveries[0], kind)
    return sending


def test_sending_page_shows_opens_and_complaints(viewer, sent):
    response = viewer.get(f"/console/sendings/{sent.pk}")
    counters = response.context["engagement"]["counters"]

    assert counters["unique_opens"] == 1
    assert counters["opens"] == 2
    assert counters["complaints"] == 1
    assert counters["unique_clicks"] == 0


def test_sending_page_groups_by_isp(viewer, sent):
    response = viewer.get(f"/console/sendings/{sent.pk}")
    isps = dict(response.context["engagement"]["isps"])

    assert isps["gmail"]["delivered"] == 2
    assert isps["gmail"]["unique_opens"] == 1
    assert "gmail" in response.content.decode()


def test_opens_chart_has_one_hour(viewer, sent):
    response = viewer.get(f"/console/sendings/{sent.pk}")

    assert [bar.value for bar in response.context["engagement"]["opens_chart"]["bars"]] == [2]
    assert DeliveryEvent.objects.filter(sending=sent, kind="open").count() == 2


def test_isp_sums_equal_sending_totals(viewer, sent):
    response = viewer.get(f"/console/sendings/{sent.pk}")

    assert response.context["engagement"]["counters"] == sending_statistics.sending_statistics(sent)


def test_sending_page_open_and_click_totals_plural(viewer, sent):
    english = viewer.get(f"/console/sendings/{sent.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    italian = viewer.get(f"/console/sendings/{sent.pk}", HTTP_ACCEPT_LANGUAGE="it").content.decode()

    assert "(2 opens)" in english
    assert "(0 clicks)" in english
    assert "(2 aperture)" in italian
    sending_services.record_delivery_event(sent.deliveries.first(), "click")
    english = viewer.get(f"/console/sendings/{sent.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "(1 click)" in english
