"""ConsoleService SMS: messages, sends to a list, a group or one number, and the SMS sink that receives them."""

import pytest

from lists.models import Group
from sending.models import SinkSms
from tests.rest.conftest import assert_envelope


def subscribe_mobile(api, number, name, path="/List/1/Recipient"):
    body = {
        "Email": f"{name}@example.com",
        "MobilePrefix": "0039",
        "MobileNumber": number,
        "Fields": [{"Id": 1, "Value": name}],
    }
    response = api.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def create_sms(api, text="Ciao [nome], sconto 10%"):
    response = api.post("/Sms/List/1/Message", json={"Subject": "Sconto", "Content": text, "Notes": ""})
    assert response.status_code == 200, response.text
    return response.json()


def test_sms_message_crud(api):
    created = create_sms(api)
    assert created["Content"] == "Ciao [nome], sconto 10%"
    message_id = created["idMessage"]

    updated = api.put(f"/Sms/List/1/Message/{message_id}", json={"Subject": "Nuovo", "Content": "Testo nuovo"}).json()
    assert updated["Content"] == "Testo nuovo"
    assert api.get(f"/Sms/List/1/Message/{message_id}").json()["Subject"] == "Nuovo"
    assert [item["idMessage"] for item in api.get("/Sms/List/1/Messages").json()["Items"]] == [message_id]


def test_sms_without_text_is_400(api):
    assert_envelope(api.post("/Sms/List/1/Message", json={"Subject": "x", "Content": " "}), 400, "BadRequest")


def test_send_to_list_goes_to_sms_sink(api, http):
    subscribe_mobile(api, "3331234567", "Anna")
    subscribe_mobile(api, "3337654321", "Bruno")
    message_id = create_sms(api)["idMessage"]

    body = api.post(f"/Sms/List/1/Message/{message_id}/Send").json()
    assert body["Sent"] == 2
    texts = sorted(SinkSms.objects.values_list("number", "text"))
    assert texts == [("00393331234567", "Ciao Anna, sconto 10%"), ("00393337654321", "Ciao Bruno, sconto 10%")]

    listed = http.get("/sink/api/sms?number=3331234567").json()
    assert listed["total"] == 1
    assert listed["messages"][0]["text"] == "Ciao Anna, sconto 10%"
    assert listed["messages"][0]["account"] == 1234


def test_send_to_group(api):
    group = Group.objects.get(list__list_id=1, name="Clienti")
    subscribe_mobile(api, "3331234567", "Anna", path=f"/Group/{group.pk}/Recipient")
    subscribe_mobile(api, "3337654321", "Bruno")
    message_id = create_sms(api)["idMessage"]

    body = api.post(f"/Sms/Group/{group.pk}/Message/{message_id}/Send").json()
    assert body["Sent"] == 1
    assert list(SinkSms.objects.values_list("number", flat=True)) == ["00393331234567"]


def test_single_send_and_report(api):
    subscribe_mobile(api, "3331234567", "Anna")
    message_id = create_sms(api)["idMessage"]

    body = api.post("/Sms/Send", json={"Number": "3331234567", "Prefix": "+39", "idMessage": message_id}).json()
    assert body["Sent"] == 1
    assert body["UnprocessedRecipients"] == []

    report = api.get(f"/Sms/{message_id}/Sendings/Report").json()
    assert report["Delivered"] == 1
    details = api.get(f"/Sms/{message_id}/Sendings/ReportDetails").json()
    assert details["Items"][0]["Number"] == "00393331234567"


def test_single_send_to_unknown_number(api):
    message_id = create_sms(api)["idMessage"]
    body = api.post("/Sms/Send", json={"Number": "3339999999", "Prefix": "0039", "idMessage": message_id}).json()
    assert body["Sent"] == 0
    assert body["UnprocessedRecipients"] == [{"Number": "3339999999", "Prefix": "0039"}]
    assert SinkSms.objects.count() == 0


def test_sms_queues_empty_without_sendings(api):
    for queue in ("Immediate", "Deferred", "Undefined"):
        body = api.get(f"/Sms/Sendings/{queue}").json()
        assert body["Items"] == []
        assert body["TotalElementsCount"] == 0


@pytest.mark.parametrize("name", ["Content", "Notes"])
def test_nul_in_sms_message_is_400(api, name):
    body = {"Content": "Offerta", "Subject": "Promo", "Notes": "", name: "a\x00b"}
    assert_envelope(api.post("/Sms/List/1/Message", json=body), 400, "BadRequest")


@pytest.mark.parametrize("subject", ["Promo\r\nnuova", "Promo\nnuova"])
def test_sms_subject_with_line_break_is_400(api, subject):
    body = {"Content": "Offerta", "Subject": subject, "Notes": "riga 1\nriga 2"}
    response = api.post("/Sms/List/1/Message", json=body)
    assert "Subject" in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]
