"""The inbound MX's parser against real reports from many MTAs, as the shared `expected.json` classifies them.

The fixtures live outside the repository, under `MAILUP_SIM_SHARED_DIR`
(default `../shared`); the test is skipped when they are absent.
"""

import json
import mailbox

import pytest
from django.conf import settings

from sending.inbound.parsing import parse_report
from sending.inbound.reasons import classify

FIXTURES = settings.SHARED_DATA_DIR / "fixtures" / "bounces"
BOUNCE_OUTCOMES = {"hard_bounce", "soft_bounce"}


def _cases():
    expected_file = FIXTURES / "expected.json"
    if not expected_file.is_file():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no bounce fixtures in {FIXTURES}"))]
    expected = json.loads(expected_file.read_text())
    return [pytest.param(name, expected[name], id=name) for name in sorted(expected)]


def _fixture_messages(path):
    """Return the messages of a fixture file: one, or each message of a file in mbox format.

    An mbox file starts with a "From " line and contains the bounce and, for
    example, its postmaster copy. The inbound MX receives each of them as a
    message of its own, and the expected table counts the recipients of all.
    """
    raw = path.read_bytes()
    if not raw.startswith(b"From "):
        return [raw]
    folder = mailbox.mbox(path, create=False)
    try:
        return [folder.get_bytes(key) for key in folder.keys()]
    finally:
        folder.close()


@pytest.mark.parametrize(("name", "expected"), _cases())
def test_report_classified_as_expected(name, expected):
    reports = [parse_report(message) for message in _fixture_messages(FIXTURES / "messages" / name)]

    assert {report.outcome for report in reports} == {expected["outcome"]}
    if expected["outcome"] in BOUNCE_OUTCOMES:
        expected_flags = sorted(recipient["hard_bounce"] for recipient in expected["recipients"])
        assert sorted(recipient.hard for report in reports for recipient in report.recipients) == expected_flags


# The rules below hold without the shared fixtures.


def test_user_unknown_with_empty_address_slot_is_filter():
    reason, hard = classify("550 : User unknown", "5.0.0", "550")

    assert reason == "filtered"
    assert hard is False


def test_user_unknown_at_rcpt_beats_mailbox_disabled_status():
    text = "550 5.2.1 <anna@example.com>... User Unknown (in reply to RCPT TO command)"

    assert classify(text, "5.2.1", "550") == ("user_unknown", True)


def test_mailbox_disabled_status_beats_user_unknown_wording():
    reason, hard = classify("550 5.2.1 <anna@example.com>... User Unknown", "5.2.1", "550")

    assert reason == "suspended"
    assert hard is False


def test_data_reply_with_summary_5_1_1():
    context = ">>> DATA\n<<< 550 5.5.0 Invalid recipient\n550 5.1.1 <anna@example.com>... User unknown\n"

    assert classify("550 5.5.0 Invalid recipient", "5.5.0", "550", context=context) == ("user_unknown", True)


def test_report_with_wrong_declared_boundary_is_read():
    raw = (
        b"From: MAILER-DAEMON@example.net\r\nTo: anna@example.org\r\nSubject: Undelivered Mail\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="declared"\r\n\r\n'
        b"--actual\r\nContent-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n"
        b"--actual\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; example.net\r\n\r\n"
        b"Final-Recipient: rfc822; bruno@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--actual--\r\n"
    )

    report = parse_report(raw)

    assert report.outcome == "hard_bounce"
    assert [recipient.address for recipient in report.recipients] == ["bruno@example.com"]


def test_user_unknown_without_phase_is_filter():
    reason, hard = classify("550 Unknown user anna@example.com", "5.0.0", "550")

    assert reason == "filtered"
    assert hard is False


def test_user_unknown_echoing_address_is_hard():
    assert classify("550 <anna@example.com>: User unknown", "5.0.0", "550") == ("user_unknown", True)


def test_postfix_reply_without_command_is_filter():
    text = "<anna@example.com>: host mx.example.com[192.0.2.1] said: 550 <anna@example.com>: User unknown"

    assert classify(text, "", "550") == ("filtered", False)


def test_dsn_without_diagnostic_trusts_explanation():
    text = "Your message wasn't delivered to anna@example.com because the address couldn't be found."

    assert classify(text, "5.0.0", "", remote_reply=False) == ("user_unknown", True)


def test_forwarded_inline_report_is_read():
    raw = (
        b"From: anna@example.org\r\nTo: help@example.org\r\nSubject: Fwd: Returned mail\r\n\r\n"
        b"Begin forwarded message:\r\n\r\n"
        b"> From: Mail Delivery Subsystem <MAILER-DAEMON@example.org>\r\n"
        b"> Subject: Returned mail: see transcript for details\r\n"
        b">\r\n"
        b">    ----- The following addresses had permanent fatal errors -----\r\n"
        b"> <bruno@example.com>\r\n"
        b">     (reason: 550 5.1.1 <bruno@example.com>... User unknown)\r\n"
    )

    report = parse_report(raw)

    assert report.outcome == "hard_bounce"
    assert [recipient.address for recipient in report.recipients] == ["bruno@example.com"]


def test_help_desk_address_is_not_recipient():
    raw = (
        b"From: MAILER-DAEMON@example.org\r\nTo: anna@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n"
        b"For further assistance, please contact <support@example.org>\r\n\r\n"
        b"<bruno@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 <bruno@example.com>:\r\n"
        b"    Recipient address rejected: User unknown (in reply to RCPT TO command)\r\n"
    )

    report = parse_report(raw)

    assert [recipient.address for recipient in report.recipients] == ["bruno@example.com"]


JAMES_NOTICE = (
    "From: post_master@{domain}\r\nTo: anna@example.org\r\nSubject: Re:Offers\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    "Error: Invalid user address\r\n\r\nError message below:\r\n"
    "550 - Requested action not taken: no such user here\r\n\r\n"
    "Message details:\r\n  Subject: Offers\r\n  MAIL FROM: anna@example.org\r\n"
    "  RCPT TO: 3331234567@{domain}\r\n  Size (in bytes): 39\r\n"
)


def test_envelope_summary_is_not_phase():
    report = parse_report(JAMES_NOTICE.format(domain="sms.example.net").encode())

    assert [(recipient.reason, recipient.hard) for recipient in report.recipients] == [("filtered", False)]


def test_vtext_reply_is_unknown_user():
    report = parse_report(JAMES_NOTICE.format(domain="vtext.com").encode())

    assert [(recipient.reason, recipient.hard) for recipient in report.recipients] == [("user_unknown", True)]


def _opensmtpd_notice(line, status, action):
    return (
        "From: Mailer Daemon <MAILER-DAEMON@mx.example.org>\r\nTo: anna@example.org\r\n"
        "Subject: Delivery status notification: delayed\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n"
        "    Hi!\r\n\r\n    This is the MAILER-DAEMON, please DO NOT REPLY to this email.\r\n\r\n"
        "    A message is delayed for more than 4 hours for the following\r\n    list of recipients:\r\n\r\n"
        f"{line}\r\n\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; bruno@example.net\r\nAction: {action}\r\nStatus: {status}\r\n\r\n--b--\r\n"
    ).encode()


def test_opensmtpd_delay_without_mx_hard():
    report = parse_report(_opensmtpd_notice("bruno@example.net: No MX found for domain", "4.0.0", "delayed"))

    assert report.outcome == "hard_bounce"


def test_opensmtpd_network_delay_soft():
    report = parse_report(_opensmtpd_notice("bruno@example.net: Network error on destination MXs", "4.0.0", "delayed"))

    assert report.outcome == "soft_bounce"


def test_other_mta_delay_stays_soft():
    raw = _opensmtpd_notice("bruno@example.net: No MX found for domain", "4.0.0", "delayed")
    raw = raw.replace(b"This is the MAILER-DAEMON, please DO NOT REPLY to this email.", b"Delivery is delayed.")

    assert parse_report(raw).outcome == "soft_bounce"
