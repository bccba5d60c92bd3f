"""The SMTP+ submission port over real SMTP with smtplib: AUTH, relaying, limits and hostile input."""

import smtplib
from email.message import EmailMessage

import pytest

from sending.models import Delivery, Sending, SmtpUser
from sending.submission import start_submission
from tests.support import free_port


@pytest.fixture
def submission(settings, transactional_db):
    """The SMTP+ server on a free port for one test; yields its port."""
    port = free_port()
    settings.SUBMISSION_MAX_MESSAGE_BYTES = 200_000
    controller = start_submission("127.0.0.1", port)
    yield port
    controller.stop()


def client(port):
    return smtplib.SMTP("127.0.0.1", port, timeout=30)


def order_mail(to="anna@example.com", **headers):
    message = EmailMessage()
    message["From"] = "Shop <shop@demo.example>"
    message["To"] = to
    message["Subject"] = "Ordine 77"
    message["Message-ID"] = "<client-chosen@shop.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Grazie per il tuo ordine.")
    return message


def test_authenticated_message_is_relayed(demo, sink, submission):
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        smtp.send_message(order_mail(X_SMTPAPI='{"CampaignCode": "orders"}'), to_addrs=["anna@example.com", "bruno@example.com"])

    received = sink.wait_for(2)
    assert sorted(stored.rcpt_to[0] for stored in received) == ["anna@example.com", "bruno@example.com"]
    for stored in received:
        raw = bytes(stored.raw)
        assert stored.dkim_result == "pass"
        assert b"Grazie per il tuo ordine." in raw
        assert b"X-SMTPAPI" not in raw
        assert b"client-chosen" not in raw
    sending = Sending.objects.get()
    assert sending.kind == Sending.Kind.TRANSACTIONAL
    assert sending.message.campaign_code == "orders"
    assert sending.smtp_user.username == "s1234_01"
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.DELIVERED}


def test_auth_login_mechanism(demo, sink, submission):
    with client(submission) as smtp:
        smtp.ehlo()
        # smtplib's auth_login reads the credentials from these attributes.
        smtp.user, smtp.password = "s1234_01", "demo-smtp-1234"
        code, _reply = smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        smtp.send_message(order_mail())

    assert code == 235

    assert len(sink.wait_for(1)) == 1


@pytest.mark.parametrize(
    "username, password",
    [("s1234_01", "wrong"), ("s9999_99", "demo-smtp-1234"), ("m1234", "demo-console-1234"), ("", ""), ("s1234_01\x00", "x")],
)
def test_bad_auth_rejected(demo, submission, username, password):
    with client(submission) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as failure:
            smtp.login(username, password)

    assert failure.value.smtp_code == 535


def test_mail_without_auth_rejected(demo, submission):
    with client(submission) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.send_message(order_mail())

    assert refused.value.smtp_code == 530
    assert not Sending.objects.exists()


def test_huge_message_rejected(demo, submission):
    message = order_mail()
    message.set_content("x" * 300_000)

    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPServerDisconnected)) as refused:
            smtp.send_message(message)

    if hasattr(refused.value, "smtp_code"):
        assert refused.value.smtp_code == 552
    assert not Sending.objects.exists()


def test_too_many_recipients_limited(demo, sink, submission):
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        refused = smtp.send_message(order_mail(), to_addrs=[f"r{number}@example.com" for number in range(101)])

    assert list(refused) == ["r100@example.com"]
    assert Delivery.objects.count() == 100


def test_invalid_recipient_refused(demo, submission):
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail("shop@demo.example", ["not an address"], order_mail().as_bytes())

    assert refused.value.recipients["not an address"][0] == 553


def test_bad_smtpapi_header_rejected(demo, submission):
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.send_message(order_mail(X_SMTPAPI="{not json"))

    assert refused.value.smtp_code == 554
    assert b"X-SMTPAPI" in refused.value.smtp_error
    assert not Sending.objects.exists()


@pytest.mark.parametrize(
    "smtp_api, field",
    [
        ('{"CampaignCode": "a\\u0000b"}', b"X-SMTPAPI.CampaignCode"),
        ('{"CampaignName": 5}', b"X-SMTPAPI.CampaignName"),
        ('{"CampaignCode": "%s"}' % ("c" * 201), b"X-SMTPAPI.CampaignCode"),
    ],
)
def test_bad_smtpapi_campaign_rejected(demo, submission, smtp_api, field):
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.send_message(order_mail(X_SMTPAPI=smtp_api))

    assert refused.value.smtp_code == 554
    assert field in refused.value.smtp_error
    assert not Sending.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"no header at all\r\n\r\nbody\r\n",
        b"From: shop@demo.example\r\nBad Name: x\r\n\r\nbody\r\n",
        b"From: shop@demo.example\r\nSubject: x\nnot a field\r\n\r\nbody\r\n",
    ],
)
def test_malformed_header_section_rejected(demo, submission, raw):
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("shop@demo.example", ["anna@example.com"], raw)

    assert refused.value.smtp_code == 554
    assert b"Header line" in refused.value.smtp_error
    assert not Sending.objects.exists()


def test_folded_header_and_unix_newlines_accepted(demo, sink, submission):
    raw = b"From: shop@demo.example\nSubject: a long\n\tsubject\n\nbody\n"

    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        smtp.sendmail("shop@demo.example", ["anna@example.com"], raw)

    [stored] = sink.wait_for(1)
    assert stored.dkim_result == "pass"


def trust_only(domains=(), senders=()):
    SmtpUser.objects.filter(username="s1234_01").update(trusted_domains=list(domains), trusted_senders=list(senders))


def test_trusted_domain_sender_accepted(demo, sink, submission):
    trust_only(domains=["demo.example"])
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        smtp.send_message(order_mail())

    assert len(sink.wait_for(1)) == 1


@pytest.mark.parametrize(
    "envelope_from, header_from",
    [
        ("shop@other.example", "Shop <shop@demo.example>"),
        ("shop@demo.example", "Shop <shop@other.example>"),
        ("shop@sub.demo.example", "Shop <shop@demo.example>"),
    ],
)
def test_untrusted_sender_rejected(demo, submission, envelope_from, header_from):
    trust_only(domains=["demo.example"], senders=["boss@elsewhere.example"])
    message = order_mail()
    message.replace_header("From", header_from)
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.send_message(message, from_addr=envelope_from)

    assert refused.value.smtp_code == 554
    assert b"not among the trusted senders" in refused.value.smtp_error
    assert not Sending.objects.exists()


def test_trusted_sender_address_accepted(demo, sink, submission):
    trust_only(senders=["boss@elsewhere.example"])
    message = order_mail()
    message.replace_header("From", "Boss <Boss@Elsewhere.example>")
    with client(submission) as smtp:
        smtp.login("s1234_01", "demo-smtp-1234")
        smtp.send_message(message)

    assert len(sink.wait_for(1)) == 1
