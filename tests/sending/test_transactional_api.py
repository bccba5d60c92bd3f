"""Transactional e-mail API v2.0 over raw HTTP: sendmessage and sendtemplate, with hostile bodies."""

import base64
import json
from email import message_from_bytes, policy

import pytest

from sending import services
from sending.models import Delivery, Sending, SinkMessage, SmtpUser
from tests.sending.campaigns import newsletter

USER = {"Username": "s1234_01", "Secret": "demo-smtp-1234"}
SEND = "/API/v2.0/messages/sendmessage"
TEMPLATE = "/API/v2.0/messages/sendtemplate"


def dto(**extra):
    body = {
        "Subject": "Ordine [Order] confermato",
        "Html": {"DocType": "<!DOCTYPE html>", "Head": "<title>x</title>", "Body": "<p>Grazie [Name]! [attach1]</p>", "BodyTag": "<body>"},
        "From": {"Name": "Shop", "Email": "shop@demo.example"},
        "To": [{"Name": "Anna Rossi", "Email": "anna@example.com"}],
        "Cc": [{"Name": "", "Email": "carla@example.com"}],
        "Bcc": [{"Name": "", "Email": "audit@example.com"}],
        "ReplyTo": "help@demo.example",
        "ExtendedHeaders": [{"N": "X-Order", "V": "77"}],
        "Attachments": [{"Filename": "fattura.pdf", "Body": base64.b64encode(b"%PDF-1.4 fake").decode()}],
        "XSmtpAPI": {"CampaignCode": "orders", "DynamicFields": [{"N": "Name", "V": "Anna"}, {"N": "Order", "V": "77"}]},
        "User": USER,
    }
    body.update(extra)
    return body


def post(http, path, body, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return http.post(path, data=data, headers={"Content-Type": "application/json", **kwargs.pop("headers", {})}, **kwargs)


def parsed(stored):
    return message_from_bytes(bytes(stored.raw), policy=policy.default)


def test_sendmessage_delivers_to_every_recipient(demo, sink, http):
    response = post(http, SEND, dto())

    assert response.status_code == 200
    assert response.json()["Code"] == "0"
    assert response.json()["Status"] == "done"
    received = sink.wait_for(3)
    assert sorted(message.rcpt_to[0] for message in received) == [
        "anna@example.com",
        "audit@example.com",
        "carla@example.com",
    ]
    for stored in received:
        assert stored.dkim_result == "pass"
        assert stored.subject == "Ordine 77 confermato"
        assert parsed(stored)["Bcc"] is None
        assert parsed(stored)["X-Order"] == "77"
        assert parsed(stored)["Reply-To"] == "help@demo.example"


def test_sendmessage_builds_parts_and_fields(demo, sink, http):
    post(http, SEND, dto(Bcc=[], Cc=[]))

    [stored] = sink.wait_for(1)
    message = parsed(stored)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert html.startswith("<!DOCTYPE html><html><head><title>x</title></head><body>")
    assert "Grazie Anna! fattura.pdf" in html
    assert "Grazie Anna! fattura.pdf" in text
    assert attachment.get_filename() == "fattura.pdf"
    assert attachment.get_content() == b"%PDF-1.4 fake"
    assert message["To"] == "Anna Rossi <anna@example.com>"


def test_deliveries_recorded_under_campaign(demo, sink, http):
    post(http, SEND, dto())
    post(http, SEND, dto(To=[{"Email": "bruno@example.com"}], Cc=[], Bcc=[]))

    sink.wait_for(4)
    sendings = Sending.objects.filter(kind=Sending.Kind.TRANSACTIONAL).order_by("id")
    assert len(sendings) == 2
    assert sendings[0].message_id == sendings[1].message_id
    assert sendings[0].message.campaign_code == "orders"
    assert Delivery.objects.filter(sending__in=sendings, status=Delivery.Status.DELIVERED).count() == 4
    messages = {stored.message_id for stored in SinkMessage.objects.all()}
    assert messages == set(Delivery.objects.values_list("message_id", flat=True))


def test_smtp_plus_header_authenticates(demo, sink, http):
    token = base64.b64encode(b"s1234_01:demo-smtp-1234").decode()
    body = dto()
    del body["User"]

    response = post(http, SEND, body, headers={"Authorization": f"SMTP+ {token}"})

    assert response.json()["Code"] == "0"


def test_header_and_body_must_agree(demo, http):
    token = base64.b64encode(b"s1234_01:other-secret").decode()

    response = post(http, SEND, dto(), headers={"Authorization": f"SMTP+ {token}"})

    assert response.status_code == 403
    assert response.json()["Code"] == "3"


@pytest.mark.parametrize(
    "user",
    [
        {"Username": "s1234_01", "Secret": "wrong"},
        {"Username": "s9999_01", "Secret": "demo-smtp-1234"},
        {"Username": "m1234", "Secret": "demo-console-1234"},
        {"Username": None, "Secret": None},
        {"Username": ["s1234_01"], "Secret": {"$ne": ""}},
        {},
    ],
)
def test_bad_credentials_get_403(demo, sink, http, user):
    response = post(http, SEND, dto(User=user))

    assert response.status_code == 403
    assert response.json() == {"Code": "3", "Message": response.json()["Message"], "Status": "error"}
    assert not Sending.objects.exists()


def test_missing_credentials_get_403(demo, http):
    body = dto()
    del body["User"]

    assert post(http, SEND, body).status_code == 403


def test_disabled_user_gets_403(demo, http):
    from sending.models import SmtpUser

    SmtpUser.objects.filter(username="s1234_01").update(active=False)

    assert post(http, SEND, dto()).status_code == 403


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b"[1, 2]", b"\xff\xfe{}", b'"a string"', b"[" * 100_000 + b"]" * 100_000, b"null"],
)
def test_malformed_bodies_get_400(demo, http, raw):
    response = post(http, SEND, raw)

    assert response.status_code == 400
    assert response.json()["Status"] == "error"
    assert response.json()["Code"] == "1"
    assert not Sending.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"To": []}, "To"),
        ({"To": "anna@example.com"}, "To"),
        ({"To": [{"Email": "not an address"}]}, "To[1].Email"),
        ({"From": {"Email": "shop@demo.example\r\nBcc: x@y.z"}}, "From.Email"),
        ({"From": {"Name": "Shop\r\nBcc: x@y.z", "Email": "shop@demo.example"}}, "From.Name"),
        ({"Subject": ""}, "Subject"),
        ({"Subject": 42}, "Subject"),
        ({"Html": {"Body": ""}, "Text": ""}, "Html.Body or Text"),
        ({"ExtendedHeaders": [{"N": "Bcc", "V": "x@y.z"}]}, "ExtendedHeaders[1]"),
        ({"ExtendedHeaders": [{"N": "X-A", "V": "a\r\nBcc: x@y.z"}]}, "ExtendedHeaders[1]"),
        ({"ExtendedHeaders": [{"N": "X-A", "V": "a\u2028Bcc: x@y.z"}]}, "ExtendedHeaders[1]"),
        ({"ExtendedHeaders": [{"N": "X-A", "V": "a\x0bb"}]}, "ExtendedHeaders[1]"),
        ({"ReplyTo": "evil\r\nBcc: x@example.com"}, "ReplyTo"),
        ({"Attachments": [{"Filename": "a.txt", "Body": "***"}]}, "Attachments[1].Body"),
        ({"Attachments": [{"Filename": "", "Body": "YQ=="}]}, "Attachments[1].Filename"),
        ({"ReplyTo": "nobody"}, "ReplyTo"),
        ({"To": [{"Email": f"r{n}@example.com"} for n in range(101)]}, "limit is 100"),
        ({"Html": {"Body": "<p>x</p>", "BodyTag": "<script>"}}, "Html.BodyTag"),
    ],
)
def test_invalid_fields_named(demo, http, change, field):
    response = post(http, SEND, dto(**change))

    assert response.status_code == 400
    assert response.json()["Code"] == "2"
    assert field in response.json()["Message"]
    assert not Sending.objects.exists()


def test_huge_body_gets_413(demo, http, settings):
    settings.TRANSACTIONAL_MAX_BODY_BYTES = 10_000
    body = dto(Text="x" * 20_000)

    response = post(http, SEND, body)

    assert response.status_code == 413
    assert response.json()["Code"] == "5"


def test_get_is_rejected(demo, http):
    response = http.get(SEND)

    assert response.status_code == 405
    assert response.json()["Status"] == "error"


def test_lower_case_path(demo, sink, http):
    assert post(http, "/api/v2.0/messages/sendmessage", dto()).json()["Code"] == "0"


def test_sendtemplate_uses_message(demo, sink, http):
    template = newsletter(subject="Benvenuto [Name]", html="<p>Ciao [Name]</p>")
    body = dto(TemplateId=template.pk, Cc=[], Bcc=[])
    del body["Subject"], body["Html"]

    response = post(http, TEMPLATE, body)

    assert response.json()["Code"] == "0"
    [stored] = sink.wait_for(1)
    assert stored.subject == "Benvenuto Anna"
    assert "Ciao Anna" in parsed(stored).get_body(("html",)).get_content()


@pytest.mark.parametrize("template_id, status", [(999_999, 404), ("abc", 400), (None, 400), (True, 400)])
def test_sendtemplate_bad_template(demo, http, template_id, status):
    response = post(http, TEMPLATE, dto(TemplateId=template_id))

    assert response.status_code == status
    assert not Sending.objects.exists()


def test_template_of_other_list_not_found(demo, http):
    other = services.create_message(newsletter(list_id=2).list, "Offers", "<p>x</p>")

    assert post(http, TEMPLATE, dto(TemplateId=other.pk)).status_code == 404


def test_embedded_images_are_related_parts(demo, sink, http):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    body = dto(
        Cc=[],
        Bcc=[],
        Attachments=[],
        Html={"Body": '<p><img src="cid:logo"></p>'},
        EmbeddedImages=[{"Filename": "logo.png", "ContentId": "logo", "Body": png}],
    )

    assert post(http, SEND, body).json()["Code"] == "0"

    [stored] = sink.wait_for(1)
    message = parsed(stored)
    related = [part for part in message.walk() if part.get_content_type() == "multipart/related"]
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(related) == 1
    assert image["Content-ID"] == "<logo>"
    assert image.get_content() == b"\x89PNG\r\n\x1a\nfake"


def test_from_outside_trusted_domains_rejected(demo, http):
    SmtpUser.objects.filter(username="s1234_01").update(trusted_domains=["shop.example"])

    response = post(http, SEND, dto())

    assert response.status_code == 400
    assert response.json()["Code"] == "2"
    assert "trusted senders" in response.json()["Message"]
    assert not Sending.objects.exists()


def test_from_in_trusted_senders_accepted(demo, sink, http):
    SmtpUser.objects.filter(username="s1234_01").update(
        trusted_domains=["shop.example"], trusted_senders=["shop@demo.example"]
    )

    response = post(http, SEND, dto())

    assert response.status_code == 200, response.text
    assert len(sink.wait_for(3)) == 3


@pytest.mark.parametrize(
    "key, escaped",
    [("Subject", '"Ordine \\ud800"'), ("Text", '"\\udc00 fine"'), ("ReplyTo", '"help\\ud83d@demo.example"')],
)
def test_lone_surrogate_escape_gets_400(demo, sink, http, key, escaped):
    body = dto()
    body.pop(key, None)
    raw = json.dumps(body)[:-1] + f', "{key}": {escaped}}}'

    response = post(http, SEND, raw)

    assert response.status_code == 400
    assert response.json()["Status"] == "error"
    assert not Sending.objects.exists()
