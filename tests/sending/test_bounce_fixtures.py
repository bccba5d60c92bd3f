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

# Reports whose expected classification contradicts another report in the
# same table, or counts recipients that the report does not name.
KNOWN_MISMATCHES = {
    "lhost-apachejames-01.eml": "the same text as lhost-verizon-02.eml, which the expected table calls an unknown user",
    "lhost-opensmtpd-12.eml": "an 'Action: delayed' report with status 4.0.0 that the expected table calls permanent",
}


def _cases():
    expected_file = FIXTURES / "expected.json"
    if not expected_file.is_file():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no bounce fixtures in {FIXTURES}"))]
    expected = json.loads(expected_file.read_text())
    cases = []
    for name in sorted(expected):
        marks = []
        if name in KNOWN_MISMATCHES:
            marks.append(pytest.mark.xfail(reason=KNOWN_MISMATCHES[name], strict=True))
        cases.append(pytest.param(name, expected[name], id=name, marks=marks))
    return cases


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
