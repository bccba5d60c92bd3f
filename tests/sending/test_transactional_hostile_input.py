"""Transactional APIs under hostile input: values that once slipped past the checks of the SMS, e-mail and SMTP+ paths."""

import json

import pytest

from sending import transactional
from sending.models import Sending, SinkSms, SmtpUser
from sending.submission import _check_header_senders, _smtp_api
from tests.sending.test_transactional_api import SEND, dto
from tests.sending.test_transactional_sms import assert_error, post_sms, secret, sms_body  # noqa: F401

HUGE_INTEGER = "9" * 5000


@pytest.mark.parametrize("path", ["/api/v2.0/sms/1234/1", "/API/v2.0/messages/sendmessage"])
def test_integer_past_4300_digits_is_code_1(secret, client, path):  # noqa: F811
    body = '{"isUnicode": %s, "Content": "x"}' % HUGE_INTEGER

    response = client.post(path, data=body, content_type="application/json")

    assert_error(response, 400, "1")
    assert "4300 digits" in response.json()["Message"]
    assert not SinkSms.objects.exists()


@pytest.mark.parametrize("flag", ["missing", None])
def test_sms_without_is_unicode_sends_gsm(secret, client, flag):  # noqa: F811
    body = sms_body(secret, Content="x" * 200)
    if flag == "missing":
        del body["isUnicode"]
    else:
        body["isUnicode"] = flag

    response = post_sms(client, body)

    assert response.status_code == 200, response.content
    assert response.json()["Cost"] == 2
    assert len(SinkSms.objects.get().text) == 200


def test_smtpapi_integer_past_4300_digits_rejected():
    raw = ("From: shop@demo.example\r\nX-SMTPAPI: {\"CampaignCode\": %s}\r\n\r\nbody\r\n" % HUGE_INTEGER).encode()

    with pytest.raises(transactional.InvalidField) as rejected:
        _smtp_api(raw)

    assert "X-SMTPAPI" in rejected.value.message


@pytest.mark.parametrize("content_id", ["a>b", "<a<b>", "logo png"])
def test_content_id_with_bracket_is_code_2(demo, client, content_id):
    image = {"Filename": "logo.png", "ContentId": content_id, "Body": "iVBORw=="}

    response = client.post(SEND, data=json.dumps(dto(EmbeddedImages=[image])), content_type="application/json")

    assert_error(response, 400, "2")
    assert "ContentId" in response.json()["Message"]
    assert not Sending.objects.exists()


@pytest.mark.parametrize(
    "trusted_domains, trusted_senders, address",
    [
        (["xn--dmo-bma.example"], [], "shop@démo.example"),
        ([], ["shop@démo.example"], "shop@xn--dmo-bma.example"),
        ([], ["shop@xn--dmo-bma.example"], "Shop@Démo.example"),
    ],
)
def test_trusted_idn_matches_either_form(trusted_domains, trusted_senders, address):
    user = SmtpUser(username="s1234_01", trusted_domains=trusted_domains, trusted_senders=trusted_senders)

    transactional.check_trusted_sender(user, address)


def test_untrusted_idn_still_rejected():
    user = SmtpUser(username="s1234_01", trusted_domains=["xn--dmo-bma.example"])

    with pytest.raises(transactional.InvalidField):
        transactional.check_trusted_sender(user, "shop@demo.example")


def test_utf8_from_header_checked_as_written(demo):
    user = SmtpUser.objects.get(username="s1234_01")
    user.trusted_domains = ["xn--dmo-bma.example"]
    raw = "From: Shop <shop@démo.example>\r\nTo: anna@example.com\r\nSubject: t\r\n\r\nbody\r\n".encode()

    _check_header_senders(user, raw)


@pytest.mark.parametrize(
    "path",
    ["/api/v2.0/sms/-1/1", "/api/v2.0/sms/abc/1", "/api/v2.0/sms/1234/1/", "/API/V2.0/Lists/x/ListSecret", "/api/v2.0/nothing"],
)
def test_unknown_v2_path_is_json_code_4(client, path):
    response = client.post(path, data="{}", content_type="application/json")

    assert_error(response, 404, "4")
    assert response["Content-Type"].startswith("application/json")
