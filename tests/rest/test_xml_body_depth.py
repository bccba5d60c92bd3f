"""REST XML request bodies nested too deeply: a 400 naming the depth, never a 500."""

import pytest

from sending.models import SmtpUser
from tests.rest.conftest import assert_envelope

XML_BODY = {"Content-Type": "application/xml"}


@pytest.mark.parametrize("element", ["Extra", "Item"])
def test_deep_xml_body_is_400(api, element):
    body = "<SmtpPlus>" + f"<{element}>" * 2000 + f"</{element}>" * 2000 + "</SmtpPlus>"

    response = api.post("/List/1/SmtpPlus", data=body, headers=XML_BODY)

    assert_envelope(response, 400, "BadRequest")
    assert "100 levels" in response.json()["ErrorDescription"]
    assert SmtpUser.objects.count() == 1


def test_xml_body_within_depth_accepted(api):
    body = "<SmtpPlus><Note>shallow</Note><TrustedDomains><Item>shop.example</Item></TrustedDomains></SmtpPlus>"

    response = api.post("/List/1/SmtpPlus", data=body, headers=XML_BODY)

    assert response.status_code == 200, response.text
    assert response.json()["TrustedDomains"] == ["shop.example"]
