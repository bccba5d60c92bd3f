"""ConsoleService message attachments: upload to a slot, list, replace, delete, and delivery as MIME parts."""

import base64
from email import message_from_bytes, policy

import pytest

from lists.models import Account, List
from sending import services
from sending.models import Attachment
from tests.rest.conftest import assert_envelope
from tests.sending.campaigns import newsletter, subscribe

BINARY = bytes(range(256)) * 8 + b"%PDF-1.4 end"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload_body(message_id, data=BINARY, name="listino.pdf", slot=1, list_id=1):
    return {
        "Base64Data": base64.b64encode(data).decode(),
        "Name": name,
        "Slot": slot,
        "idList": list_id,
        "idMessage": message_id,
    }


def upload(api, message_id, slot=1, **changes):
    response = api.post(f"/List/1/Email/{message_id}/Attachment/{slot}", json={**upload_body(message_id, slot=slot), **changes})
    assert response.status_code == 200, response.text
    return response


def stored_bytes(attachment):
    with attachment.file.open("rb") as file:
        return file.read()


def test_php_sample_upload_answers_empty(api):
    message = newsletter()
    # The official PHP sample's body and path, byte for byte apart from the id.
    body = {"Base64Data": "QmFzZSA2NCBTdHJlYW0=", "Name": "TestFile.txt", "Slot": 1, "idList": 1, "idMessage": message.pk}

    response = api.post(f"/List/1/Email/{message.pk}/Attachment/1", json=body)

    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    [attachment] = Attachment.objects.filter(message=message)
    assert (attachment.slot, attachment.filename, attachment.content_type) == (1, "TestFile.txt", "text/plain")
    assert stored_bytes(attachment) == b"Base 64 Stream"


def test_details_list_attachments(api):
    message = newsletter()
    upload(api, message.pk, slot=2, Name="b.txt", Base64Data=base64.b64encode(b"bb").decode())
    upload(api, message.pk, slot=1)

    details = api.get(f"/List/1/Email/{message.pk}").json()

    assert details["Attachments"] == [
        {"Name": "listino.pdf", "Size": len(BINARY), "Slot": 1, "idList": 1, "idMessage": message.pk},
        {"Name": "b.txt", "Size": 2, "Slot": 2, "idList": 1, "idMessage": message.pk},
    ]


def test_listing_in_slot_order(api):
    message = newsletter()
    upload(api, message.pk, slot=3, Name="c.txt")
    upload(api, message.pk, slot=1, Name="a.txt")

    response = api.get(f"/List/1/Email/{message.pk}/Attachment")

    assert response.status_code == 200
    assert [(item["Slot"], item["Name"]) for item in response.json()] == [(1, "a.txt"), (3, "c.txt")]


def test_listing_without_attachments_is_empty(api):
    message = newsletter()
    assert api.get(f"/List/1/Email/{message.pk}/Attachment").json() == []
    assert api.get(f"/List/1/Email/{message.pk}").json()["Attachments"] == []


def test_lower_case_paths(api, http):
    message = newsletter()
    prefix = f"/api/v1.1/rest/consoleservice.svc/console/list/1/email/{message.pk}/attachment"
    headers = {"Authorization": f"Bearer {api.access_token}"}

    response = http.post(f"{prefix}/2", json=upload_body(message.pk, slot=2), headers=headers)
    assert response.status_code == 200, response.text
    assert [item["Slot"] for item in http.get(prefix, headers=headers).json()] == [2]
    assert http.request("DELETE", f"{prefix}/2", headers=headers).status_code == 200
    assert not Attachment.objects.exists()


def test_body_ids_may_be_absent(api):
    message = newsletter()
    body = {"Base64Data": base64.b64encode(b"hello").decode(), "Name": "hello.txt"}

    response = api.post(f"/List/1/Email/{message.pk}/Attachment/4", json=body)

    assert response.status_code == 200, response.text
    assert Attachment.objects.get(message=message).slot == 4


def test_base64_with_line_breaks_accepted(api):
    message = newsletter()
    encoded = base64.encodebytes(BINARY).decode()
    assert "\n" in encoded

    upload(api, message.pk, Base64Data=encoded)

    assert stored_bytes(Attachment.objects.get(message=message)) == BINARY


def test_occupied_slot_replaced(api):
    message = newsletter()
    upload(api, message.pk, slot=1, Name="old.txt", Base64Data=base64.b64encode(b"old").decode())

    upload(api, message.pk, slot=1, Name="new.pdf")

    [item] = api.get(f"/List/1/Email/{message.pk}/Attachment").json()
    assert (item["Slot"], item["Name"], item["Size"]) == (1, "new.pdf", len(BINARY))
    assert stored_bytes(Attachment.objects.get(message=message)) == BINARY


def test_delete_empties_slot(api):
    message = newsletter()
    upload(api, message.pk, slot=1)
    upload(api, message.pk, slot=2, Name="kept.txt")

    response = api.delete(f"/List/1/Email/{message.pk}/Attachment/1")

    assert response.status_code == 200
    assert response.content == b""
    assert [item["Name"] for item in api.get(f"/List/1/Email/{message.pk}/Attachment").json()] == ["kept.txt"]


def test_delete_empty_slot_is_404(api):
    message = newsletter()
    body = assert_envelope(api.delete(f"/List/1/Email/{message.pk}/Attachment/1"), 404, "NotFound")
    assert "slot 1" in body["ErrorDescription"]


@pytest.mark.parametrize("slot", [0, 6, 99999999999])
def test_delete_slot_out_of_range_is_400(api, slot):
    message = newsletter()
    body = assert_envelope(api.delete(f"/List/1/Email/{message.pk}/Attachment/{slot}"), 400, "BadRequest")
    assert body["ErrorDescription"].startswith("Slot ")


def test_mailup_ruby_delete_path_is_404(api):
    # mailup-ruby 1.2.0 deletes without the /Attachment segment, a path MailUp's documentation does not list.
    message = newsletter()
    upload(api, message.pk, slot=1)

    assert_envelope(api.delete(f"/List/1/Email/{message.pk}/1"), 404, "NotFound")
    assert Attachment.objects.filter(message=message).count() == 1


def test_put_of_details_keeps_attachments(api):
    # The PHP sample reads the details, changes the tags and sends everything back with PUT.
    message = newsletter()
    upload(api, message.pk, slot=1)
    details = api.get(f"/List/1/Email/{message.pk}").json()

    response = api.put(f"/List/1/Email/{message.pk}", json={**details, "Attachments": []})

    assert response.status_code == 200, response.text
    assert [item["Slot"] for item in response.json()["Attachments"]] == [1]


def test_single_send_carries_attachment(api, sink):
    subscribe("anna@example.com")
    message = newsletter()
    upload(api, message.pk, slot=1, Name="listino.pdf")
    upload(api, message.pk, slot=2, Name="note.txt", Base64Data=base64.b64encode(b"Nota bene").decode())

    body = api.post("/Email/Send", json={"idMessage": message.pk, "Email": "anna@example.com"}).json()

    assert body["Sent"] == 1
    [received] = sink.wait_for(1, sending_id=body["Id"])
    parsed = message_from_bytes(bytes(received.raw), policy=policy.default)
    parts = list(parsed.iter_attachments())
    assert [part.get_filename() for part in parts] == ["listino.pdf", "note.txt"]
    assert parts[0].get_content_type() == "application/pdf"
    assert parts[0].get_content() == BINARY
    assert parts[1].get_content() == "Nota bene"


def test_list_send_carries_replaced_file(api, sink):
    subscribe("anna@example.com")
    subscribe("bruno@example.com")
    message = newsletter()
    upload(api, message.pk, slot=1, Name="old.txt", Base64Data=base64.b64encode(b"old").decode())
    upload(api, message.pk, slot=1, Name="listino.pdf")

    body = api.post(f"/List/1/Email/{message.pk}/Send", data="").json()

    received = sink.wait_for(2, sending_id=body["Id"])
    assert len(received) == 2
    for item in received:
        parsed = message_from_bytes(bytes(item.raw), policy=policy.default)
        [part] = list(parsed.iter_attachments())
        assert part.get_filename() == "listino.pdf"
        assert part.get_content() == BINARY


# --- Bad input -------------------------------------------------------------------------

BAD_UPLOADS = [
    pytest.param(0, {}, "Slot", id="slot-0"),
    pytest.param(6, {"Slot": 6}, "Slot", id="slot-6"),
    pytest.param(2, {"Slot": 1}, "Slot", id="slot-disagrees"),
    pytest.param(1, {"Slot": "uno"}, "Slot", id="slot-not-number"),
    pytest.param(1, {"idList": 2}, "idList", id="list-disagrees"),
    pytest.param(1, {"idMessage": 999999}, "idMessage", id="message-disagrees"),
    pytest.param(1, {"Name": None}, "Name", id="name-missing"),
    pytest.param(1, {"Name": ""}, "Name", id="name-empty"),
    pytest.param(1, {"Name": "   "}, "Name", id="name-blank"),
    pytest.param(1, {"Name": 5}, "Name", id="name-not-string"),
    pytest.param(1, {"Name": "../"}, "Name", id="name-only-folder"),
    pytest.param(1, {"Base64Data": None}, "Base64Data", id="data-missing"),
    pytest.param(1, {"Base64Data": ""}, "Base64Data", id="data-empty"),
    pytest.param(1, {"Base64Data": "not base64!"}, "Base64Data", id="data-not-base64"),
    pytest.param(1, {"Base64Data": "QUJ"}, "Base64Data", id="data-bad-padding"),
    pytest.param(1, {"Base64Data": "QUJDàA=="}, "Base64Data", id="data-non-ascii"),
    pytest.param(1, {"Base64Data": 12}, "Base64Data", id="data-not-string"),
]


@pytest.mark.parametrize("slot, change, field", BAD_UPLOADS)
def test_bad_upload_is_400_naming_field(api, slot, change, field):
    message = newsletter()
    body = {key: value for key, value in {**upload_body(message.pk, slot=1), **change}.items() if value is not None}

    response = api.post(f"/List/1/Email/{message.pk}/Attachment/{slot}", json=body)

    envelope = assert_envelope(response, 400, "BadRequest")
    assert envelope["ErrorDescription"].startswith(field + " "), envelope["ErrorDescription"]
    assert not Attachment.objects.exists()


@pytest.mark.parametrize("body", [[], "text", 5])
def test_upload_body_not_object_is_400(api, body):
    message = newsletter()
    assert_envelope(api.post(f"/List/1/Email/{message.pk}/Attachment/1", json=body), 400, "BadRequest")
    assert not Attachment.objects.exists()


def test_file_over_limit_is_400(api, settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    message = newsletter()

    response = api.post(f"/List/1/Email/{message.pk}/Attachment/1", json=upload_body(message.pk, data=b"x" * 101))

    envelope = assert_envelope(response, 400, "BadRequest")
    assert envelope["ErrorDescription"].startswith("Base64Data ")
    assert "limit is 100" in envelope["ErrorDescription"]
    assert not Attachment.objects.exists()


def test_message_total_over_limit_is_400(api, settings):
    settings.MESSAGE_ATTACHMENTS_MAX_BYTES = 150
    message = newsletter()
    upload(api, message.pk, slot=1, Base64Data=base64.b64encode(b"x" * 100).decode())

    response = api.post(f"/List/1/Email/{message.pk}/Attachment/2", json=upload_body(message.pk, data=b"y" * 51, slot=2))

    envelope = assert_envelope(response, 400, "BadRequest")
    assert envelope["ErrorDescription"].startswith("Base64Data ")
    assert "limit is 150" in envelope["ErrorDescription"]
    assert [attachment.slot for attachment in Attachment.objects.filter(message=message)] == [1]


def test_failed_replacement_keeps_old_file(api, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    message = newsletter()
    upload(api, message.pk, slot=1, Name="old.txt", Base64Data=base64.b64encode(b"old").decode())

    response = api.post(f"/List/1/Email/{message.pk}/Attachment/1", json=upload_body(message.pk, data=b"x" * 11))

    assert_envelope(response, 400, "BadRequest")
    [attachment] = Attachment.objects.filter(message=message)
    assert (attachment.filename, stored_bytes(attachment)) == ("old.txt", b"old")


def test_body_over_read_limit_is_400(api, settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    message = newsletter()
    huge = "A" * (2 * 100 + 64 * 1024 + 4)

    response = api.post(f"/List/1/Email/{message.pk}/Attachment/1", json=upload_body(message.pk) | {"Base64Data": huge})

    envelope = assert_envelope(response, 400, "BadRequest")
    assert "larger than" in envelope["ErrorDescription"]
    assert not Attachment.objects.exists()


# --- Other lists and consoles ------------------------------------------------------------


@pytest.fixture
def foreign_message(demo):
    """A message with one attachment in list 9 of console 5678, a list number the demo console lacks."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    mailing_list = List.objects.create(
        account=account, list_id=9, name="Other news", sender_name="Other", sender_email="n@other.example"
    )
    message = services.create_message(mailing_list, "Other news", html="<p>Hi</p>")
    services.add_attachment(message, "secret.pdf", b"%PDF secret", slot=1)
    return message


@pytest.mark.parametrize(
    "method, suffix", [("GET", "/Attachment"), ("POST", "/Attachment/1"), ("POST", "/Attachment/2"), ("DELETE", "/Attachment/1")]
)
def test_other_console_message_is_404(api, foreign_message, method, suffix):
    response = api.call(method, f"/List/9/Email/{foreign_message.pk}{suffix}", json=upload_body(foreign_message.pk, list_id=9))

    assert_envelope(response, 404, "NotFound")
    [attachment] = Attachment.objects.filter(message=foreign_message)
    assert (attachment.slot, attachment.filename) == (1, "secret.pdf")


def test_foreign_message_in_own_list_is_404(api, foreign_message):
    response = api.post(f"/List/1/Email/{foreign_message.pk}/Attachment/2", json=upload_body(foreign_message.pk))

    assert_envelope(response, 404, "NotFound")
    assert Attachment.objects.filter(message=foreign_message).count() == 1


@pytest.mark.parametrize("method, suffix", [("GET", "/Attachment"), ("POST", "/Attachment/1"), ("DELETE", "/Attachment/1")])
def test_message_of_another_list_is_404(api, method, suffix):
    message = newsletter(list_id=1)
    services.add_attachment(message, "a.txt", b"a", slot=1)

    response = api.call(method, f"/List/2/Email/{message.pk}{suffix}", json=upload_body(message.pk, list_id=2))

    assert_envelope(response, 404, "NotFound")
    [attachment] = Attachment.objects.filter(message=message)
    assert stored_bytes(attachment) == b"a"

