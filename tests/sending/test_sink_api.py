"""The sink inspection API under /sink/api/, over real HTTP and SMTP."""

import smtplib
from email.message import EmailMessage

import pytest

from sending.sink import store_received_message


def smtp_send(sink, sender, recipients, subject, html=None, attachment=None, headers=None, source_ip="127.0.0.1"):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(f"Text of {subject}")
    if html:
        message.add_alternative(html, subtype="html")
    if attachment:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="offer.pdf")
    with smtplib.SMTP("127.0.0.1", sink.port, source_address=(source_ip, 0)) as client:
        client.send_message(message)


@pytest.fixture
def mailbox(demo, sink):
    smtp_send(sink, "news@demo.example", ["anna@example.com"], "Ciao Anna", headers={"X-MailupSim-List": "1"})
    smtp_send(
        sink,
        "offers@demo.example",
        ["bruno@example.com", "carla@example.com"],
        "Offerta speciale",
        html="<p>Solo <b>oggi</b></p>",
        attachment=b"%PDF-1.4 fake",
        headers={"X-MailupSim-List": "2", "X-MailupSim-Account": "1234"},
        source_ip="127.0.0.3",
    )
    sink.wait_for(2)
    return sink


def test_list_newest_first(mailbox, http):
    body = http.get("/sink/api/messages").json()

    assert body["total"] == 2
    assert [item["subject"] for item in body["messages"]] == ["Offerta speciale", "Ciao Anna"]
    assert body["messages"][0]["source_ip"] == "127.0.0.3"
    assert body["messages"][0]["rcpt_to"] == ["bruno@example.com", "carla@example.com"]


@pytest.mark.parametrize(
    "query, subjects",
    [
        ("to=CARLA@example.com", ["Offerta speciale"]),
        ("from=news@", ["Ciao Anna"]),
        ("subject=offerta", ["Offerta speciale"]),
        ("list=1", ["Ciao Anna"]),
        ("account=1234", ["Offerta speciale"]),
        ("sending=7", []),
        ("since=2000-01-01T00:00:00Z", ["Offerta speciale", "Ciao Anna"]),
        ("since=2999-01-01T00:00:00Z", []),
        ("limit=1", ["Offerta speciale"]),
        ("limit=1&offset=1", ["Ciao Anna"]),
    ],
)
def test_list_filters(mailbox, http, query, subjects):
    body = http.get(f"/sink/api/messages?{query}").json()
    assert [item["subject"] for item in body["messages"]] == subjects


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=abc", "offset=-1", "since=yesterday", "list=x", "to=a%00b", "from=%00", "subject=a%00"]
)
def test_list_bad_filter_returns_400(mailbox, http, query):
    response = http.get(f"/sink/api/messages?{query}")
    assert response.status_code == 400
    assert "error" in response.json()


def test_detail_has_parts_and_raw(mailbox, http):
    newest = http.get("/sink/api/messages?limit=1").json()["messages"][0]
    detail = http.get(f"/sink/api/messages/{newest['id']}").json()

    assert detail["text"].strip() == "Text of Offerta speciale"
    assert detail["html"].strip() == "<p>Solo <b>oggi</b></p>"
    assert detail["attachments"] == [{"filename": "offer.pdf", "content_type": "application/pdf", "size": 13}]
    assert ["Subject", "Offerta speciale"] in detail["headers"]
    assert detail["raw"].startswith("From: offers@demo.example")


def test_raw_is_exact_bytes(mailbox, http):
    stored = mailbox.messages()[0]
    response = http.get(f"/sink/api/messages/{stored.pk}/raw")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "message/rfc822"
    assert response.content == bytes(stored.raw)


def test_unknown_message_returns_404(mailbox, http):
    assert http.get("/sink/api/messages/999999").status_code == 404
    assert http.get("/sink/api/messages/999999/raw").status_code == 404


def test_delete_all(mailbox, http):
    response = http.request("DELETE", "/sink/api/messages")

    assert response.json() == {"deleted": 2}
    assert http.get("/sink/api/messages").json()["total"] == 0


def test_malformed_message_is_stored(demo):
    raw = b"Subject: =?utf-8?q?broken\r\nFrom: <<<\r\nX-MailupSim-List: 99999999999\r\n\r\n\xff\xfe body"
    stored = store_received_message(("127.0.0.9", 2525), "helo", "a@b", ["c@d"], raw)

    assert stored.size == len(raw)
    assert stored.list_id is None
    assert bytes(stored.raw) == raw


def test_malformed_message_detail_is_readable(demo, http):
    raw = (
        b"Subject: =?bogus?x?zz?=\r\nContent-Type: multipart/mixed; boundary=\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n\xff\xfe not base64 ==="
    )
    stored = store_received_message(("127.0.0.9", 2525), "helo", "a@b", ["c@d"], raw)

    response = http.get(f"/sink/api/messages/{stored.pk}")
    assert response.status_code == 200
    assert response.json()["size"] == len(raw)


@pytest.mark.parametrize("path", ["/sink/api/sms?number=3%00", "/sink/api/webhooks?url=http%00"])
def test_nul_search_returns_400(demo, http, path):
    response = http.get(path)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]
