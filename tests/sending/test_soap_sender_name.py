"""MailupSend: a from_name option with a line break gets errorCode -2 and queues nothing."""

import pytest

from sending.models import Message, Sending
from tests.sending.campaigns import subscribe
from tests.sending.soap_clients import options, parse
from tests.sending.test_soap_send import key, send  # noqa: F401  (fixtures)

BAD_NAMES = ["Promo\r\nBcc: x@example.com", "Pro\u2028mo"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_send_newsletter_with_bad_sender_name(send, key, name):
    subscribe("anna@example.com")
    message_id = int(parse(send.CreateNewsletter(key, 1, "Nome", "HTML", "<p>x</p>", None)).findtext("newsletterID"))

    result = parse(send.SendNewsletter(key, 1, message_id, options(from_name=name)))
    assert result.findtext("errorCode") == "-2"
    assert Sending.objects.count() == 0


@pytest.mark.parametrize("name", BAD_NAMES)
def test_send_single_newsletter_with_bad_sender_name(send, key, name):
    result = parse(send.SendSingleNewsletter(key, 1, "S", "HTML", "<p>x</p>", "anna@example.com", options(from_name=name)))
    assert result.findtext("errorCode") == "-2"
    assert not Message.objects.exists()
    assert Sending.objects.count() == 0
