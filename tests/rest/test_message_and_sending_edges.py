"""Hostile input on REST messages and sendings gets 400 with the envelope and changes nothing."""

import base64

import pytest

from lists.models import Recipient
from sending import services
from sending.models import Image, Message, Sending
from tests.rest.conftest import assert_envelope
from tests.sending.campaigns import newsletter, subscribe


@pytest.mark.parametrize("name", ["Ufficio\r\nBcc: x@example.com", "Uff\x00icio", "Uff\x85icio", "Uff\u2028icio"])
def test_sender_name_with_line_break_is_400(api, name):
    subscribe("anna@example.com")
    message = newsletter()

    response = api.post(f"/List/1/Email/{message.pk}/Send", params={"SenderName": name})
    assert_envelope(response, 400, "BadRequest")
    assert "SenderName" in response.json()["ErrorDescription"]
    assert Sending.objects.count() == 0


def test_sender_name_in_body_with_line_break_is_400(api):
    message = newsletter()
    response = api.post(f"/List/1/Email/{message.pk}/Send", json={"SenderName": "a\nb"})
    assert_envelope(response, 400, "BadRequest")
    assert Sending.objects.count() == 0


def test_queue_sending_rejects_sender_name_with_line_break(demo):
    with pytest.raises(ValueError):
        services.queue_sending(newsletter(), from_name="a\r\nb")
    assert Sending.objects.count() == 0


DEEP_ARRAY = "[" * 900 + "1" + "]" * 900


@pytest.mark.parametrize(
    "fields",
    [
        '[{"Id": %s, "Value": "a"}]' % DEEP_ARRAY,
        '[{"Id": {"a": 1}, "Value": "a"}]',
        '[{"Id": 1, "Value": ["a"]}]',
        '[{"Id": 1, "Description": {"x": "y"}, "Value": "a"}]',
    ],
)
def test_message_fields_with_nested_values_are_400(api, fields):
    # The deeply nested Id made the XML reading of the message a 500 outside the envelope.
    response = api.post("/List/1/Email", data=('{"Subject": "a", "Fields": %s}' % fields).encode())
    assert_envelope(response, 400, "BadRequest")
    assert Message.objects.count() == 0


def test_message_with_scalar_fields_reads_back_as_xml(api):
    fields = [{"Id": 1, "Description": "nome", "Value": "Anna"}, {"Id": "2", "Value": 5}, {"Id": 3, "Value": None}]
    created = api.post("/List/1/Email", json={"Subject": "a", "Fields": fields})
    assert created.status_code == 200, created.text

    response = api.get(f"/List/1/Email/{created.json()['idMessage']}", headers={"Accept": "application/xml"})
    assert response.status_code == 200
    assert b"<Fields>" in response.content


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_in_body_is_400(api, number):
    # Python's json module reads these, but neither JSON nor the database column can hold them.
    body = '{"Subject": "a", "Fields": [{"Id": 1, "Value": %s}]}' % number
    response = api.post("/List/1/Email", data=body.encode())
    assert_envelope(response, 400, "BadRequest")
    assert Message.objects.count() == 0


def test_single_send_to_other_list_changes_nothing(api):
    recipient = subscribe("other@example.com", list_id=2, fields={1: "Olga"})
    message = newsletter()
    fields = [{"Id": 1, "Value": "Changed"}]

    response = api.post("/Email/Send", json={"idMessage": message.pk, "Email": "other@example.com", "Fields": fields})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Sent"] == 0
    assert body["UnprocessedRecipients"] == [{"Email": "other@example.com"}]
    assert Sending.objects.count() == 0
    assert Recipient.objects.get(pk=recipient.pk).fields == {"1": "Olga"}


def test_single_send_with_bad_fields_is_400(api):
    subscribe("anna@example.com")
    message = newsletter()
    body = {"idMessage": message.pk, "Email": "anna@example.com", "Fields": [{"Id": 40, "Value": "x"}]}
    assert_envelope(api.post("/Email/Send", json=body), 400, "BadRequest")
    assert Sending.objects.count() == 0


@pytest.mark.parametrize("name", ["a b%?#.png", "città.png"])
def test_image_url_leads_back_to_image(api, http, name):
    upload = {"Name": name, "Base64Data": base64.b64encode(b"\x89PNG data").decode()}
    url = api.post("/Images", json=upload).json()

    served = http.get("/images/" + url.split("/images/", 1)[1])
    assert served.status_code == 200
    assert served.content == b"\x89PNG data"

    assert api.delete("/Images", json=url).status_code == 200
    assert Image.objects.count() == 0


def test_failed_xml_response_keeps_envelope(api, monkeypatch):
    def fail(document, root_name):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("mailup_sim.rest_xml.to_xml", fail)
    response = api.get(f"/List/1/Email/{newsletter().pk}", headers={"Accept": "application/xml"})
    assert_envelope(response, 500, "InternalServerError")


def test_image_with_line_wrapped_base64_is_stored(api):
    # MIME encoders and PHP's chunk_split() break Base64 into 76-character lines, which attachment uploads accept too.
    data = bytes(range(256)) * 2
    wrapped = base64.encodebytes(data).decode()
    assert "\n" in wrapped

    response = api.post("/Images", json={"Name": "wrapped.png", "Base64Data": wrapped})
    assert response.status_code == 200, response.text
    assert bytes(Image.objects.get().data) == data


def test_image_without_data_is_400(api):
    assert_envelope(api.post("/Images", json={"Name": "empty.png", "Base64Data": ""}), 400, "BadRequest")
    assert Image.objects.count() == 0
