"""ConsoleService list and group changes: create, update and delete through both list path shapes."""

import pytest

from lists.models import Group, List
from sending.models import Message, Sending
from tests.rest.conftest import assert_envelope
from tests.sending.campaigns import newsletter

LIST_SETTINGS = {
    "Name": "Eventi",
    "OwnerEmail": "eventi@demo.example",
    "ReplyTo": "risposte@demo.example",
    "NLSenderName": "Demo Eventi",
    "CompanyName": "Demo S.r.l.",
    "Charset": "UTF-8",
    "TimeZoneCode": "W. Europe Standard Time",
    "DefaultPrefix": "+39",
}


def test_create_list_returns_bare_id(api):
    response = api.post("/List", json=LIST_SETTINGS)
    assert response.status_code == 200, response.text
    assert response.json() == 3
    created = List.objects.get(account__console_id=1234, list_id=3)
    assert created.sender_email == "eventi@demo.example"
    assert created.default_prefix == "0039"
    assert created.extra_settings["Charset"] == "UTF-8"


def test_create_through_user_lists(api):
    assert api.post("/User/Lists", json=LIST_SETTINGS).json() == 3
    assert api.get("/User/Lists").json()["TotalElementsCount"] == 3


def test_create_list_without_sender_is_400(api):
    response = api.post("/List", json={"Name": "Senza mittente"})
    assert_envelope(response, 400, "BadRequest")
    assert List.objects.count() == 2


def test_update_list_returns_settings(api):
    response = api.put("/List/2", json={**LIST_SETTINGS, "IdList": 2, "Name": "Offerte"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Name"] == "Offerte"
    assert body["IdList"] == 2
    assert body["TimeZoneCode"] == "W. Europe Standard Time"
    assert body["HeaderXAbuse"] == "Please report abuse here: http://[host]/p"

    # mailup-ruby updates through /Console/User/List/{id}.
    assert api.put("/User/List/2", json={**LIST_SETTINGS, "Name": "Offers"}).json()["Name"] == "Offers"


def test_delete_list(api):
    assert api.delete("/List/2").status_code == 200
    assert not List.objects.filter(list_id=2, account__console_id=1234).exists()
    assert_envelope(api.delete("/List/2"), 404, "NotFound")


@pytest.mark.parametrize("status", [Sending.Status.QUEUED, Sending.Status.PREPARING, Sending.Status.SENDING])
def test_delete_list_with_sending_in_progress_is_400(api, status):
    message = newsletter(list_id=2)
    Sending.objects.create(message=message, list=message.list, status=status)

    response = api.delete("/List/2")

    assert_envelope(response, 400, "BadRequest")
    assert "sending in progress" in response.json()["ErrorDescription"]
    assert List.objects.filter(list_id=2, account__console_id=1234).exists()
    assert Sending.objects.filter(status=status).exists()


@pytest.mark.parametrize("status", [Sending.Status.SCHEDULED, Sending.Status.PAUSED, Sending.Status.DONE])
def test_delete_list_with_idle_sending(api, status):
    message = newsletter(list_id=2)
    Sending.objects.create(message=message, list=message.list, status=status)

    assert api.delete("/List/2").status_code == 200

    assert not List.objects.filter(list_id=2, account__console_id=1234).exists()
    assert not Message.objects.exists()
    assert not Sending.objects.exists()


def test_update_and_delete_group(api):
    group = Group.objects.get(list__list_id=1, name="Prospect")
    body = api.put(f"/List/1/Group/{group.pk}", json={"Name": "Lead", "Notes": "rinominato", "Deletable": True}).json()
    assert body["Name"] == "Lead"
    assert body["Notes"] == "rinominato"

    assert api.delete(f"/List/1/Group/{group.pk}").status_code == 200
    assert not Group.objects.filter(pk=group.pk).exists()


def test_group_through_wrong_list_is_404(api):
    group = Group.objects.get(list__list_id=1, name="Prospect")
    assert_envelope(api.put(f"/List/2/Group/{group.pk}", json={"Name": "x"}), 404, "NotFound")
    assert_envelope(api.delete(f"/List/2/Group/{group.pk}"), 404, "NotFound")
