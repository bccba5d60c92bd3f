"""ConsoleService sendings: send to a list or group, single send, queues, deferred start, stop and history."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lists.models import Group
from sending import services
from sending.models import Delivery, Sending
from tests.rest.conftest import assert_envelope
from tests.sending.campaigns import newsletter, subscribe

Status = Sending.Status


def test_send_to_list_delivers_to_sink(api, sink):
    subscribe("anna@example.com")
    subscribe("bruno@example.com")
    message = newsletter()

    # The official samples post an empty body.
    response = api.post(f"/List/1/Email/{message.pk}/Send", data="")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"Id", "InvalidRecipients", "Sent", "UnprocessedRecipients", "idMessage"}
    assert body["Sent"] == 2
    assert body["idMessage"] == message.pk

    received = sink.wait_for(2, sending_id=body["Id"])
    assert sorted(item.rcpt_to[0] for item in received) == ["anna@example.com", "bruno@example.com"]


def test_send_with_sender_and_groups(api, sink):
    clienti = Group.objects.get(list__list_id=1, name="Clienti")
    prospect = Group.objects.get(list__list_id=1, name="Prospect")
    subscribe("anna@example.com", group_ids=[clienti.pk])
    subscribe("bruno@example.com", group_ids=[clienti.pk, prospect.pk])
    subscribe("carla@example.com")
    message = newsletter()

    query = f"SenderName=Ufficio&SenderAddress=ufficio@demo.example&inGroups={clienti.pk}&notInGroups={prospect.pk}"
    body = api.post(f"/List/1/Email/{message.pk}/Send?{query}").json()
    assert body["Sent"] == 1

    [received] = sink.wait_for(1, sending_id=body["Id"])
    assert received.rcpt_to == ["anna@example.com"]
    assert "ufficio@demo.example" in received.from_header
    assert received.dkim_result == "pass"


def test_send_with_group_of_other_list_is_400(api):
    vip = Group.objects.get(list__list_id=2, name="VIP")
    message = newsletter()
    assert_envelope(api.post(f"/List/1/Email/{message.pk}/Send?inGroups={vip.pk}"), 400, "BadRequest")
    assert Sending.objects.count() == 0


def test_send_to_group(api, sink):
    clienti = Group.objects.get(list__list_id=1, name="Clienti")
    subscribe("anna@example.com", group_ids=[clienti.pk])
    subscribe("bruno@example.com")
    message = newsletter()

    body = api.post(f"/Group/{clienti.pk}/Email/{message.pk}/Send").json()
    assert body["Sent"] == 1
    assert [item.rcpt_to for item in sink.wait_for(1, sending_id=body["Id"])] == [["anna@example.com"]]


def test_single_send(api, sink):
    subscribe("anna@example.com")
    message = newsletter(html="<p>Ciao [nome]</p>")

    fields = [{"Id": 1, "Value": "Anna"}]
    response = api.post("/Email/Send", json={"idMessage": message.pk, "Email": "Anna@Example.com", "Fields": fields})
    body = response.json()
    assert body["Sent"] == 1
    assert body["UnprocessedRecipients"] == []
    [received] = sink.wait_for(1, sending_id=body["Id"])
    assert received.rcpt_to == ["anna@example.com"]
    assert b"Ciao Anna" in bytes(received.raw)


def test_single_send_to_unknown_address(api):
    message = newsletter()
    body = api.post("/Email/Send", json={"idMessage": message.pk, "Email": "nobody@example.com"}).json()
    assert body["Sent"] == 0
    assert body["UnprocessedRecipients"] == [{"Email": "nobody@example.com"}]
    assert Sending.objects.count() == 0


def test_single_send_to_invalid_address(api):
    message = newsletter()
    body = api.post("/Email/Send", json={"idMessage": message.pk, "Email": "not an address"}).json()
    assert body["Sent"] == 0
    assert body["InvalidRecipients"] == [{"Email": "not an address"}]


def test_single_send_unknown_message_is_404(api):
    assert_envelope(api.post("/Email/Send", json={"idMessage": 999, "Email": "a@example.com"}), 404, "NotFound")


def test_deferred_send_waits_in_queue(api):
    subscribe("anna@example.com")
    message = newsletter()
    later = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%SZ")

    body = api.post(f"/List/1/Email/{message.pk}/Send?datetime={later}").json()
    sending = Sending.objects.get(pk=body["Id"])
    assert sending.status == Status.SCHEDULED

    deferred = api.get("/Email/Sendings/Deferred").json()
    assert [item["Id"] for item in deferred["Items"]] == [sending.pk]
    assert api.get("/Email/Sendings/Immediate").json()["Items"] == []


def test_stop_restart_and_delete(api, sink):
    subscribe("anna@example.com")
    message = newsletter()
    later = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%SZ")
    sending_id = api.post(f"/List/1/Email/{message.pk}/Send?datetime={later}").json()["Id"]

    assert api.post(f"/Email/Sendings/{sending_id}/Stop").status_code == 200
    assert [item["Id"] for item in api.get("/Email/Sendings/Undefined").json()["Items"]] == [sending_id]

    next_week = (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S")
    assert api.post(f"/Email/Sendings/{sending_id}/Deferred", json={"Date": next_week}).status_code == 200
    assert Sending.objects.get(pk=sending_id).status == Status.SCHEDULED

    assert api.post(f"/Email/Sendings/{sending_id}/Immediate").status_code == 200
    assert [item.rcpt_to for item in sink.wait_for(1, sending_id=sending_id)] == [["anna@example.com"]]

    # A finished sending cannot be deleted before it is stopped, and stopping it changes nothing.
    assert_envelope(api.delete(f"/Email/Sendings/{sending_id}"), 400, "BadRequest")


def test_delete_stopped_sending(api):
    message = newsletter()
    sending = Sending.objects.create(message=message, list=message.list, status=Status.CANCELLED)
    assert api.delete(f"/Email/Sendings/{sending.pk}").status_code == 200
    assert not Sending.objects.filter(pk=sending.pk).exists()


def test_stopped_sending_delivers_nothing(api):
    message = newsletter()
    sending = Sending.objects.create(message=message, list=message.list, status=Status.SENDING)
    recipient = subscribe("bruno@example.com")
    delivery = Delivery.objects.create(sending=sending, recipient=recipient, to_email="bruno@example.com")

    api.post(f"/Email/Sendings/{sending.pk}/Stop")
    assert services.claim_deliveries([delivery.pk]) == []


def test_deferred_in_the_past_is_400(api):
    message = newsletter()
    sending = Sending.objects.create(message=message, list=message.list, status=Status.CANCELLED)
    response = api.post(f"/Email/Sendings/{sending.pk}/Deferred", json={"Date": "2001-01-01 00:00:00"})
    assert_envelope(response, 400, "BadRequest")


def test_earliest_deferred_date(api):
    message = newsletter()
    sending = Sending.objects.create(message=message, list=message.list, status=Status.CANCELLED)
    assert api.get(f"/Email/Sendings/{sending.pk}/Deferred").json().endswith("Z")


def test_send_history(api, sink):
    subscribe("anna@example.com")
    message = newsletter()
    first = api.post(f"/List/1/Email/{message.pk}/Send").json()["Id"]
    sink.wait_for(1, sending_id=first)

    history = api.get(f"/List/1/Email/{message.pk}/SendHistory").json()
    assert history["TotalElementsCount"] == 1
    item = history["Items"][0]
    assert item["Id"] == first
    assert item["idMessage"] == message.pk
    assert item["Subject"] == message.subject


@pytest.mark.parametrize("when", ["9999-12-31 23:30:00Z", "9999-12-30 00:00:00"])
def test_send_date_too_late_is_400(api, when):
    subscribe("anna@example.com")
    message = newsletter()

    response = api.post(f"/List/1/Email/{message.pk}/Send?datetime={when}")

    assert_envelope(response, 400, "BadRequest")
    assert "too late" in response.json()["ErrorDescription"]
    assert not Sending.objects.exists()


def test_deferred_date_too_late_is_400(api):
    subscribe("anna@example.com")
    message = newsletter()
    later = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%SZ")
    sending_id = api.post(f"/List/1/Email/{message.pk}/Send?datetime={later}").json()["Id"]
    scheduled_at = Sending.objects.get(pk=sending_id).scheduled_at

    response = api.post(f"/Email/Sendings/{sending_id}/Deferred", json={"Date": "9999-12-31 23:30:00"})

    assert_envelope(response, 400, "BadRequest")
    assert Sending.objects.get(pk=sending_id).scheduled_at == scheduled_at
