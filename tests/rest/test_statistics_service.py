"""MailStatisticsService: counts and lists per message and per recipient, from deliveries and their events."""

import re

import pytest

from lists import services as lists_services
from lists.models import Account, List, Recipient, Source
from sending import rest_statistics_urls, services
from sending.models import Delivery, DeliveryEvent
from tests.rest.conftest import assert_envelope
from tests.sending.campaigns import newsletter, subscribe

STATISTICS = "/API/v1.1/Rest/MailStatisticsService.svc"
Kind = DeliveryEvent.Kind


@pytest.fixture
def sent(api, sink):
    """A newsletter to Anna, Bruno and Carla: Anna opened it twice and clicked, Bruno's bounced and he unsubscribed,
    and Carla's was refused with a 550 during the SMTP session."""
    anna = subscribe("anna@example.com")
    bruno = subscribe("bruno@example.com")
    carla = subscribe("carla@example.com")
    message = newsletter(subject="Statistiche", html="<p><a href='https://shop.example/'>Shop</a></p>")
    sending_id = api.post(f"/List/1/Email/{message.pk}/Send").json()["Id"]
    sink.wait_for(3, sending_id=sending_id)

    anna_delivery = Delivery.objects.get(sending_id=sending_id, recipient=anna)
    services.record_open(anna_delivery.pk, "127.0.0.1", "test")
    services.record_open(anna_delivery.pk, "127.0.0.1", "test")
    assert services.record_click(anna_delivery.pk, 1, "127.0.0.1", "test") == "https://shop.example/"
    services.record_delivery_event(Delivery.objects.get(sending_id=sending_id, recipient=bruno), Kind.HARD_BOUNCE)
    mailing_list = message.list
    contact = lists_services.Contact(email="bruno@example.com")
    lists_services.unsubscribe(mailing_list.account, mailing_list, contact, Source.RECIPIENT, message_id=message.pk)
    # The sink accepted Carla's message; her delivery is rewritten as a
    # refusal during the session, which leaves no bounce report behind.
    Delivery.objects.filter(sending_id=sending_id, recipient=carla).update(
        status=Delivery.Status.FAILED, smtp_code=550, delivered_at=None
    )
    return {"message": message, "anna": anna, "bruno": bruno, "carla": carla}


def stat(api, path):
    response = api.http.get(STATISTICS + path, headers={"Authorization": f"Bearer {api.access_token}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_message_counts(api, sent):
    message_id = sent["message"].pk
    expected = {"Recipients": 2, "Views": 1, "Clicks": 1, "Bounces": 2, "Unsubscriptions": 1, "UrlClicks": 1}
    for kind, count in expected.items():
        assert stat(api, f"/Message/{message_id}/Count/{kind}") == count, kind


def test_message_views_list(api, sent):
    body = stat(api, f"/Message/{sent['message'].pk}/List/Views")
    assert body["Items"] == [{"Count": 2, "Email": "anna@example.com", "IdRecipient": sent["anna"].pk}]


def test_message_bounces_include_refusals_during_the_session(api, sent):
    body = stat(api, f"/message/{sent['message'].pk}/list/bounces?orderby=Email+desc")
    assert [item["Email"] for item in body["Items"]] == ["carla@example.com", "bruno@example.com"]


def test_url_clicks(api, sent):
    message_id = sent["message"].pk
    items = stat(api, f"/Message/{message_id}/List/UrlClicks")["Items"]
    assert items == [{"Count": 1, "IdMessage": message_id, "Url": "https://shop.example/"}]
    details = stat(api, f"/Message/{message_id}/List/UrlClickDetails")["Items"]
    assert details[0]["Email"] == "anna@example.com"


def test_recipient_statistics(api, sent):
    anna_id = sent["anna"].pk
    assert stat(api, f"/Recipient/{anna_id}/Count/Deliveries") == 1
    assert stat(api, f"/Recipient/{anna_id}/Count/Views") == 1
    deliveries = stat(api, f"/Recipient/{anna_id}/List/Deliveries")["Items"]
    assert deliveries == [
        {"Count": 1, "IdList": 1, "IdMessage": sent["message"].pk, "Notes": "", "Subject": "Statistiche"}
    ]
    clicks = stat(api, f"/Recipient/{anna_id}/List/ClicksDetails")["Items"]
    assert clicks[0]["Url"] == "https://shop.example/"
    assert clicks[0]["Date"].endswith("Z")


def test_recipient_bounces_and_unsubscriptions(api, sent):
    bruno_id = sent["bruno"].pk
    assert stat(api, f"/Recipient/{bruno_id}/Count/Bounces") == 1
    assert stat(api, f"/Recipient/{bruno_id}/List/BouncesDetails")["Items"][0]["Type"] == "hard_bounce"
    assert stat(api, f"/Recipient/{bruno_id}/Count/Unsubscriptions") == 1
    carla_details = stat(api, f"/Recipient/{sent['carla'].pk}/List/BouncesDetails")["Items"]
    assert [item["Type"] for item in carla_details] == ["hard_bounce"]
    assert carla_details[0]["Date"].endswith("Z")


def test_filterby_narrows_the_list_but_not_the_count(api, sent):
    message_id = sent["message"].pk
    body = stat(api, f"/Message/{message_id}/List/Recipients?filterby=Email.Contains('anna')")
    assert [item["Email"] for item in body["Items"]] == ["anna@example.com"]
    assert stat(api, f"/Message/{message_id}/Count/Recipients?filterby=Email.Contains('anna')") == 2


def test_unknown_message_is_404(api, demo):
    response = api.http.get(
        STATISTICS + "/Message/999/Count/Views", headers={"Authorization": f"Bearer {api.access_token}"}
    )
    assert_envelope(response, 404, "NotFound")


def test_statistics_need_token(http, demo):
    assert_envelope(http.get(STATISTICS + "/Message/1/Count/Views"), 401, "Unauthorized")


def test_other_console_ids_are_404(api, demo):
    other = Account.objects.create(console_id=5678, name="Other S.r.l.")
    other_list = List.objects.create(
        account=other, list_id=9, name="Other news", sender_name="Other", sender_email="n@other.example"
    )
    ids = {
        "message_id": services.create_message(other_list, "Other news", html="<p>Hi</p>").pk,
        "recipient_id": Recipient.objects.create(account=other, email="stranger@other.example").pk,
    }

    for pattern in rest_statistics_urls.urlpatterns:
        path = re.sub(r"<id:(\w+)>", lambda match: str(ids[match.group(1)]), str(pattern.pattern))
        response = api.http.get(f"{STATISTICS}/{path}", headers={"Authorization": f"Bearer {api.access_token}"})
        assert_envelope(response, 404, "NotFound")
