"""The campaign's MIME template yields the same message as the email package, part by part."""

from email import message_from_bytes, policy

import pytest

from sending import campaign_rendering, mime_template, services
from sending.models import Delivery, Sending
from tests.personas import demo_list
from tests.sending.campaigns import subscribe

LONG_LINE = "<p>" + "Una riga lunghissima senza a capo, " * 60 + "</p>"


def both_renderings(html, subject, preheader="", attachments=()):
    """Return (template message, email package message) for one delivery, parsed.

    `attachments` lists (filename, content type, bytes) to attach first.
    """
    recipient = subscribe("anna@example.com", fields={"1": "Anna Maria"})
    message = services.create_message(demo_list(), subject, html, preheader=preheader)
    for filename, content_type, content in attachments:
        services.add_attachment(message, filename, content, content_type)
    sending = Sending.objects.create(message=message, list=message.list)
    delivery = Delivery.objects.create(sending=sending, recipient=recipient, to_email=recipient.email)
    campaign = campaign_rendering.load_campaign(Sending.objects.select_related("message", "list__account").get(pk=sending.pk))
    values = campaign_rendering.merge_values(campaign, delivery)

    fast = mime_template.fill(campaign.template, values, campaign_rendering._own_headers(campaign, delivery, values), campaign_rendering._insert_preheader)
    slow = campaign_rendering._build_message(campaign, delivery, values)
    assert fast is not None
    return message_from_bytes(fast, policy=policy.default), message_from_bytes(slow, policy=policy.default)


def body(message, subtype):
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else None


@pytest.mark.parametrize(
    "html, subject, preheader",
    [
        ("<p>Ciao [nome]</p>", "Novità di dicembre", ""),
        ("<p>Ciao [nome]</p>", "Offerte per [nome] – solo oggi", "Sconti fino al 50%"),
        (LONG_LINE, "Plain subject", ""),
        ("", "Only text", ""),
    ],
)
def test_template_matches_email_package(demo, html, subject, preheader):
    fast, slow = both_renderings(html, subject, preheader)

    for name in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "X-Abuse"):
        assert str(fast[name]) == str(slow[name]), name
    assert fast.get_content_type() == slow.get_content_type()
    assert body(fast, "plain") == body(slow, "plain")
    assert body(fast, "html") == body(slow, "html")


def test_attachments_match_email_package(demo):
    attachments = [
        ("listino.pdf", "application/pdf", b"%PDF-1.4 " + bytes(range(256)) * 40),
        ("però.txt", "text/plain", "Prezzi più bassi\n".encode()),
    ]

    fast, slow = both_renderings("<p>Ciao [nome]</p>", "Listino", attachments=attachments)

    assert fast.get_content_type() == slow.get_content_type() == "multipart/mixed"
    assert body(fast, "plain") == body(slow, "plain")
    assert body(fast, "html") == body(slow, "html")
    fast_files = [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True)) for part in fast.iter_attachments()]
    slow_files = [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True)) for part in slow.iter_attachments()]
    assert fast_files == slow_files
    assert [name for name, _type, _content in fast_files] == ["listino.pdf", "però.txt"]


def test_tracked_links_match_email_package(demo):
    html = '<html><body><a href="https://shop.example/?e=[email]">Negozio</a></body></html>'

    fast, slow = both_renderings(html, "Offerte")

    fast_html = body(fast, "html")
    assert fast_html == body(slow, "html")
    assert "/track/click/" in fast_html
    assert "/track/open/" in fast_html
    assert "[mailupsim_tracking_token]" not in fast_html
    assert body(fast, "plain") == body(slow, "plain")


def test_long_line_is_quoted_printable(demo):
    fast, _slow = both_renderings(LONG_LINE, "Plain subject")

    html_part = fast.get_body(preferencelist=("html",))
    assert html_part["Content-Transfer-Encoding"] == "quoted-printable"


def test_line_break_in_shared_header_is_rejected():
    with pytest.raises(ValueError, match="line break"):
        mime_template.build("s", "t", "h", "", [("From", "a\r\nBcc: x@example.com")])
