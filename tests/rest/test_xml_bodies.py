"""REST request bodies sent as XML, typed by the operation's body schema."""

import pytest
from defusedxml import ElementTree

from lists.models import Recipient
from sending.models import Message
from tests.rest.conftest import assert_envelope

XML_BODY = {"Content-Type": "application/xml"}
DATACONTRACT = 'xmlns="http://schemas.datacontract.org/2004/07/MailUp" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
SERIALIZATION = 'xmlns="http://schemas.microsoft.com/2003/10/Serialization/"'


def test_recipient_body_keeps_text_values(api):
    body = (
        f"<RecipientDetails {DATACONTRACT}><Email>xml.body@example.com</Email>"
        "<Fields><FieldDetails><Id>1</Id><Value>007</Value></FieldDetails></Fields>"
        '<MobileNumber i:nil="true"/></RecipientDetails>'
    )

    response = api.post("/List/1/Recipient", data=body, headers=XML_BODY)

    assert response.status_code == 200, response.text
    recipient = Recipient.objects.get(pk=response.json())
    assert recipient.email == "xml.body@example.com"
    assert recipient.fields == {"1": "007"}


def test_group_body_in_text_xml(api):
    response = api.post(
        "/List/1/Group", data="<Group><Name>From XML</Name><Notes/></Group>", headers={"Content-Type": "text/xml"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["Name"] == "From XML"


def test_bare_string_and_boolean_bodies(api):
    tag = api.post("/List/1/Tag", data=f"<string {SERIALIZATION}>xml tag</string>", headers=XML_BODY)
    assert tag.status_code == 200, tag.text
    assert tag.json()["Name"] == "xml tag"

    message_id = api.post("/List/1/Email", json={"Subject": "XML", "Content": "<p>x</p>"}).json()["idMessage"]
    visibility = api.put(
        f"/List/1/Email/{message_id}/Online/Visibility", data=f"<boolean {SERIALIZATION}>true</boolean>", headers=XML_BODY
    )
    assert visibility.status_code == 200, visibility.text
    assert Message.objects.get(pk=message_id).visible_online is True


def test_bulk_import_body_as_array(api):
    body = (
        "<ArrayOfRecipientDetails>"
        "<RecipientDetails><Email>first.xml@example.com</Email></RecipientDetails>"
        "<RecipientDetails><Email>second.xml@example.com</Email></RecipientDetails>"
        "</ArrayOfRecipientDetails>"
    )

    import_id = api.post("/List/1/Recipients", data=body, headers=XML_BODY).json()

    status = api.get(f"/Import/{import_id}").json()
    assert status["CreatedRecipients"] == 2
    assert Recipient.objects.filter(email__endswith=".xml@example.com").count() == 2


def test_xml_body_with_xml_answer(api):
    response = api.post(
        "/List/1/Recipient",
        data="<RecipientDetails><Email>both.xml@example.com</Email></RecipientDetails>",
        headers={**XML_BODY, "Accept": "application/xml"},
    )

    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://schemas.microsoft.com/2003/10/Serialization/}int"
    assert Recipient.objects.get(pk=int(root.text)).email == "both.xml@example.com"


def test_wrong_typed_value_is_named(api):
    body = "<RecipientDetails><Email>typed@example.com</Email><Fields><Item><Id>one</Id></Item></Fields></RecipientDetails>"

    response = api.post("/List/1/Recipient", data=body, headers=XML_BODY)

    assert "Field Id" in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]
    assert not Recipient.objects.filter(email="typed@example.com").exists()


@pytest.mark.parametrize("name", ["<b>Anna</b>", "Anna <b>Rossi</b>"])
def test_markup_in_name_is_named(api, name):
    """A Name with child elements gets 400 naming it, not its leading text stored."""
    body = f"<RecipientDetails><Email>markup@example.com</Email><Name>{name}</Name></RecipientDetails>"

    response = api.post("/List/1/Recipient", data=body, headers=XML_BODY)

    assert "Name" in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]
    assert not Recipient.objects.filter(email="markup@example.com").exists()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("<RecipientDetails><Email>x@example.com</Email>", "not well-formed"),
        ('<!DOCTYPE r [<!ENTITY e "x">]><RecipientDetails><Email>&e;</Email></RecipientDetails>', "DTD"),
        ("not xml at all", "not well-formed"),
    ],
)
def test_bad_xml_bodies_are_400(api, body, words):
    response = api.post("/List/1/Recipient", data=body, headers=XML_BODY)

    assert words in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]


def test_oversized_xml_body_is_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = f"<RecipientDetails><Email>big@example.com</Email><Name>{'x' * 2000}</Name></RecipientDetails>"

    response = api.post("/List/1/Recipient", data=body, headers=XML_BODY)

    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]


def test_empty_xml_body_means_no_body(api):
    response = api.get("/List/1/Groups", headers={**XML_BODY, "Content-Length": "0"})

    assert response.status_code == 200
    assert "Items" in response.json()
