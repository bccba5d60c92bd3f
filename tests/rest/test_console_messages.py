"""ConsoleService e-mail messages: create, read, update, copy, delete, listings, tags, templates and images."""

import base64
from urllib.parse import urlsplit

import pytest

from sending.models import Image, Message, Sending, Tag, Template
from tests.personas import demo_list
from tests.rest.conftest import assert_envelope

MESSAGE_BODY = {
    "Subject": "Novità di dicembre",
    "Content": "<html><body><p>Ciao [nome]</p></body></html>",
    "Embed": True,
    "Fields": [],
    "IsConfirmation": False,
    "Notes": "prima bozza",
    "Tags": [{"Enabled": True, "Name": "natale"}],
    "TrackingInfo": {"CustomParams": "utm_source=mailup", "Enabled": True, "Protocols": ["http:", "https:"]},
    "UseDynamicField": False,
    "PreHeader": "Le offerte",
}


def create(api, list_id=1, **changes):
    response = api.post(f"/List/{list_id}/Email", json={**MESSAGE_BODY, **changes})
    assert response.status_code == 200, response.text
    return response.json()


def test_create_returns_mailup_shape(api):
    body = create(api)
    assert set(body) == {"CreationDate", "Notes", "Subject", "idList", "idMessage"}
    assert body["idList"] == 1
    assert body["Subject"] == "Novità di dicembre"
    assert body["CreationDate"].endswith("Z")

    message = Message.objects.get(pk=body["idMessage"])
    assert message.preheader == "Le offerte"
    assert message.tracking_params == "utm_source=mailup"
    assert message.text.strip() == "Ciao [nome]"


def test_create_adds_tag_to_list(api):
    create(api)
    tags = api.get("/List/1/Tags").json()
    assert [tag["Name"] for tag in tags] == ["natale"]
    assert tags[0]["Enabled"] is True


def test_create_without_subject_is_400(api):
    response = api.post("/List/1/Email", json={**MESSAGE_BODY, "Subject": "  "})
    assert_envelope(response, 400, "BadRequest")
    assert Message.objects.count() == 0


@pytest.mark.parametrize("subject", ["Offerta\r\nBcc: x@example.org", "Offerta\nnuova", "Offerta\tnuova"])
def test_subject_with_line_break_is_400(api, subject):
    response = api.post("/List/1/Email", json={**MESSAGE_BODY, "Subject": subject})
    body = assert_envelope(response, 400, "BadRequest")
    assert "Subject" in body["ErrorDescription"]
    assert Message.objects.count() == 0


def test_update_subject_with_line_break_is_400(api):
    message_id = create(api)["idMessage"]
    response = api.put(f"/List/1/Email/{message_id}", json={"Subject": "Nuovo\roggetto"})
    assert_envelope(response, 400, "BadRequest")
    assert Message.objects.get(pk=message_id).subject == "Novità di dicembre"


def test_notes_and_content_keep_line_breaks(api):
    body = create(api, Notes="riga 1\r\nriga 2", Content="<p>a</p>\n<p>b</p>")
    message = Message.objects.get(pk=body["idMessage"])
    assert message.note == "riga 1\r\nriga 2"
    assert message.html == "<p>a</p>\n<p>b</p>"


def test_read_details(api):
    message_id = create(api)["idMessage"]
    body = api.get(f"/List/1/Email/{message_id}").json()
    assert body["Content"] == MESSAGE_BODY["Content"]
    assert body["Embed"] is True
    assert body["Tags"][0]["Name"] == "natale"
    assert body["TrackingInfo"]["CustomParams"] == "utm_source=mailup"
    assert body["Attachments"] == []


def test_read_from_wrong_list_is_404(api):
    message_id = create(api)["idMessage"]
    assert_envelope(api.get(f"/List/2/Email/{message_id}"), 404, "NotFound")


def test_update_keeps_absent_properties(api):
    message_id = create(api)["idMessage"]
    response = api.put(f"/List/1/Email/{message_id}", json={"Subject": "Nuovo oggetto", "Tags": ["saldi"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Subject"] == "Nuovo oggetto"
    assert body["Notes"] == "prima bozza"
    assert [tag["Name"] for tag in body["Tags"]] == ["saldi"]


def test_copy_makes_new_message(api):
    message_id = create(api)["idMessage"]
    response = api.post(f"/List/1/Email/{message_id}", data="")
    assert response.status_code == 200, response.text
    copy_id = response.json()["idMessage"]
    assert copy_id != message_id
    assert Message.objects.get(pk=copy_id).html == MESSAGE_BODY["Content"]


def test_delete_message(api):
    message_id = create(api)["idMessage"]
    response = api.delete(f"/List/1/Email/{message_id}", headers={"Content-Length": "0"})
    assert response.status_code == 200
    assert response.content == b""
    assert not Message.objects.filter(pk=message_id).exists()


def test_delete_with_running_sending_is_400(api):
    message_id = create(api)["idMessage"]
    Sending.objects.create(message_id=message_id, list=Message.objects.get(pk=message_id).list)
    assert_envelope(api.delete(f"/List/1/Email/{message_id}"), 400, "BadRequest")
    assert Message.objects.filter(pk=message_id).exists()


def test_enable_dynamic_fields_and_visibility(api):
    message_id = create(api)["idMessage"]
    assert api.put(f"/List/1/Email/{message_id}/EnableDynamicFields/true").status_code == 200
    assert api.put(f"/List/1/Email/{message_id}/Online/Visibility", data="true").status_code == 200
    message = Message.objects.get(pk=message_id)
    assert message.use_dynamic_fields is True
    assert message.visible_online is True

    online = api.get("/List/1/Online/Emails").json()["Items"]
    assert [item["idMessage"] for item in online] == [message_id]
    assert online[0]["Url"].endswith(f"/frontend/nl_preview_window.aspx?idNL={message_id}")


def test_visibility_needs_boolean(api):
    message_id = create(api)["idMessage"]
    assert_envelope(api.put(f"/List/1/Email/{message_id}/Online/Visibility", data='"yes"'), 400, "BadRequest")


def test_list_emails_paged_and_by_tags(api):
    first = create(api)["idMessage"]
    second = create(api, Subject="Senza tag", Tags=[])["idMessage"]
    create(api, list_id=2)

    body = api.get("/List/1/Emails").json()
    assert [item["idMessage"] for item in body["Items"]] == [first, second]
    assert body["Items"][0]["ServiceType"] == "Email"
    # mailupy sends tags=a,b (an empty value when it has none).
    assert [item["idMessage"] for item in api.get("/List/1/Emails?tags=natale").json()["Items"]] == [first]
    assert api.get("/List/1/Emails?tags=").json()["TotalElementsCount"] == 2
    assert api.get("/User/Emails").json()["TotalElementsCount"] == 3


def test_list_emails_filter_by_subject(api):
    create(api)
    create(api, Subject="Altro")
    items = api.get("/List/1/Emails?filterby=\"Subject.Contains('Altro')\"").json()["Items"]
    assert [item["Subject"] for item in items] == ["Altro"]


def test_tag_crud(api):
    tag = api.post("/List/1/Tag", data='"my-new-tag"').json()
    assert tag["Name"] == "my-new-tag"
    # mailup/rest-samples-php posts the raw text without JSON quotes.
    raw = api.post("/List/1/Tag", data="test tag").json()
    assert raw["Name"] == "test tag"

    updated = api.put(f"/List/1/Tag/{tag['Id']}", json={"Name": "renamed", "Enabled": False}).json()
    assert updated == {"Enabled": False, "Id": tag["Id"], "Name": "renamed"}
    assert api.delete(f"/List/1/Tag/{tag['Id']}").status_code == 200
    assert [item["Name"] for item in api.get("/List/1/Tags").json()] == ["test tag"]


def test_renaming_tag_follows_on_messages(api):
    message_id = create(api)["idMessage"]
    tag_id = Tag.objects.get(name="natale").pk
    api.put(f"/List/1/Tag/{tag_id}", json={"Name": "inverno", "Enabled": True})
    assert Message.objects.get(pk=message_id).tags == ["inverno"]
    api.delete(f"/List/1/Tag/{tag_id}")
    assert Message.objects.get(pk=message_id).tags == []


def test_templates_and_message_from_template(api):
    template = Template.objects.create(
        account=demo_list(1).account, title="Benvenuto", html="<p>Benvenuto [nome]</p>", text="Benvenuto"
    )
    page = api.get("/List/1/Templates").json()
    assert page["Items"][0] == {
        "Content": "<p>Benvenuto [nome]</p>",
        "Id": template.pk,
        "Text": "Benvenuto",
        "Thumbnail": "",
        "Title": "Benvenuto",
    }
    assert api.get(f"/List/1/Templates/{template.pk}").json()["Title"] == "Benvenuto"

    response = api.post(f"/List/1/Email/Template/{template.pk}", data="")
    assert response.status_code == 200, response.text
    assert Message.objects.get(pk=response.json()["idMessage"]).html == "<p>Benvenuto [nome]</p>"


def test_image_upload_list_and_delete(api, http):
    png = b"\x89PNG\r\n\x1a\nfake"
    response = api.post("/Images", json={"Base64Data": base64.b64encode(png).decode(), "Name": "logo.png"})
    assert response.status_code == 200, response.text
    url = response.json()
    assert url.endswith("/logo.png")
    assert api.get("/Images").json() == [url]
    assert api.get("/List/1/Images").json() == []

    served = http.get(urlsplit(url).path)
    assert served.status_code == 200
    assert served.content == png
    assert served.headers["Content-Type"] == "image/png"
    # PostgreSQL rejects NUL in a text query parameter, so this was a 500 there.
    assert http.get(urlsplit(url).path.replace("logo.png", "logo%00.png")).status_code == 404

    assert api.delete("/Images", json=url).status_code == 200
    assert Image.objects.count() == 0


@pytest.mark.parametrize("name", ["../x.exe", "logo\n.png", "lo\rgo.png", "lo\tgo.png"])
def test_image_with_bad_name_is_400(api, name):
    # The name becomes the stored file name and the last segment of the image URL.
    response = api.post("/List/1/Images", json={"Base64Data": "aGVsbG8=", "Name": name})
    assert_envelope(response, 400, "BadRequest")
    assert Image.objects.count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"Content": "<p>a\x00b</p>"},
        {"Notes": "a\x00b"},
        {"PreHeader": "a\x00b"},
        {"Fields": [{"Id": 1, "Value": "a\x00b"}]},
        {"Fields": [{"Id": 1, "Value": [[{"x": "a\x00b"}]]}]},
        {"TrackingInfo": {"Enabled": True, "CustomParams": "a\x00b", "Protocols": ["http:"]}},
        {"TrackingInfo": {"Enabled": True, "Protocols": ["http\x00:"]}},
    ],
)
def test_nul_in_message_is_400(api, change):
    # PostgreSQL cannot store NUL in text or jsonb, so these were 500s there.
    response = api.post("/List/1/Email", json={**MESSAGE_BODY, **change})
    assert_envelope(response, 400, "BadRequest")
    assert Message.objects.count() == 0


def test_too_long_preheader_is_400(api):
    response = api.post("/List/1/Email", json={**MESSAGE_BODY, "PreHeader": "x" * 301})
    assert_envelope(response, 400, "BadRequest")
    assert Message.objects.count() == 0
