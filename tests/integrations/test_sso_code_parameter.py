"""The Code parameter of the single sign-on link, in any letter case, as MailUp matches parameter names."""

import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command

from lists.demo import DEMO_OAUTH_CLIENT_ID
from tests.integrations.test_sso import request_link


@pytest.fixture
def code(bearer_token, http, demo):
    call_command("sso_client", DEMO_OAUTH_CLIENT_ID, "--enable", stdout=io.StringIO())
    href = request_link(http, bearer_token).json()["Link"]["href"]
    return parse_qs(urlsplit(href).query)["Code"][0]


@pytest.mark.parametrize("name", ["Code", "code", "CODE"])
def test_code_name_any_case(http, code, name):
    response = http.get(f"/Console/Login.aspx?{name}={code}", allow_redirects=False)

    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
