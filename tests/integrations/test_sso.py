"""Single sign-on: POST /Console/Sso issues a one-time link that logs the console user into the panel."""

import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from oauth2_provider.models import get_application_model

from integrations import sso, tasks
from integrations.models import SsoCode
from lists.demo import DEMO_OAUTH_CLIENT_ID
from lists.models import Account

SSO_PATH = "/API/v1.1/Rest/ConsoleService.svc/Console/Sso"


@pytest.fixture
def token(bearer_token):
    return bearer_token


@pytest.fixture
def sso_enabled(demo):
    call_command("sso_client", DEMO_OAUTH_CLIENT_ID, "--enable", stdout=io.StringIO())


def request_link(http, token):
    return http.request("POST", SSO_PATH, headers={"Authorization": f"Bearer {token}"})


def path_and_query(href):
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}"


def test_sso_off_by_default_gets_403(http, token):
    response = request_link(http, token)

    assert response.status_code == 403
    assert response.json() == {
        "ErrorCode": "403",
        "ErrorDescription": (
            "Authorization error: You cannot generate the MailUp platform login url due to permission issue. "
            "Please, contact MailUp for further information."
        ),
        "ErrorName": "Forbidden",
        "ErrorStack": None,
    }
    assert SsoCode.objects.count() == 0


def test_enabled_client_gets_link(http, token, sso_enabled):
    response = request_link(http, token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ExpiresIn"] == 600
    assert body["Link"]["rel"] == "self"
    href = urlsplit(body["Link"]["href"])
    assert href.hostname == "c1234.localhost"
    assert href.path == "/Console/Login.aspx"
    assert len(parse_qs(href.query)["Code"][0]) >= 40


def test_code_stored_only_as_hash(http, token, sso_enabled):
    href = request_link(http, token).json()["Link"]["href"]
    code = parse_qs(urlsplit(href).query)["Code"][0]

    stored = SsoCode.objects.get()

    assert stored.code_sha256 == sso.hash_code(code)
    assert code not in stored.code_sha256


def test_link_logs_user_into_panel(http, token, sso_enabled):
    href = request_link(http, token).json()["Link"]["href"]

    response = http.get(path_and_query(href), allow_redirects=False)

    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    assert "sessionid" in response.cookies
    code = SsoCode.objects.get()
    assert code.used_at is not None
    assert code.user.username == "m1234"


def test_suspended_account_cannot_log_in(http, token, sso_enabled):
    href = request_link(http, token).json()["Link"]["href"]
    Account.objects.filter(console_id=1234).update(status=Account.Status.SUSPENDED)

    response = http.get(path_and_query(href), allow_redirects=False, headers={"Accept-Language": "en"})

    assert response.status_code == 403
    assert "is not active" in response.text
    assert "sessionid" not in response.cookies


def test_used_code_rejected_with_page(http, token, sso_enabled):
    href = request_link(http, token).json()["Link"]["href"]
    http.get(path_and_query(href), allow_redirects=False)

    response = http.get(path_and_query(href), allow_redirects=False, headers={"Accept-Language": "en"})

    assert response.status_code == 403
    assert "This sign-in link has already been used." in response.text
    assert "sessionid" not in response.cookies


def test_expired_code_rejected_in_italian(http, token, sso_enabled):
    href = request_link(http, token).json()["Link"]["href"]
    SsoCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = http.get(path_and_query(href), allow_redirects=False, headers={"Accept-Language": "it"})

    assert response.status_code == 403
    assert "Questo link di accesso è scaduto." in response.text
    assert SsoCode.objects.get().used_at is None


def test_unknown_code_rejected(http, demo):
    response = http.get("/Console/Login.aspx?Code=nope", allow_redirects=False, headers={"Accept-Language": "en"})

    assert response.status_code == 403
    assert "This sign-in link is not valid." in response.text


def test_disabled_again_gets_403(http, token, sso_enabled):
    call_command("sso_client", DEMO_OAUTH_CLIENT_ID, "--disable", stdout=io.StringIO())

    assert request_link(http, token).status_code == 403


def test_code_void_after_sso_disabled(http, token, sso_enabled):
    href = request_link(http, token).json()["Link"]["href"]
    call_command("sso_client", DEMO_OAUTH_CLIENT_ID, "--disable", stdout=io.StringIO())

    response = http.get(path_and_query(href), allow_redirects=False, headers={"Accept-Language": "en"})

    assert response.status_code == 403
    assert "This sign-in link is not valid." in response.text
    assert "sessionid" not in response.cookies
    assert SsoCode.objects.get().used_at is None


def test_sso_without_token_gets_401(http, demo):
    assert http.request("POST", SSO_PATH).status_code == 401


def test_command_rejects_unknown_client(demo):
    with pytest.raises(CommandError, match="OAuth client 'nobody' not found."):
        call_command("sso_client", "nobody", "--enable")
    assert not get_application_model().objects.filter(client_id="nobody").exists()


def test_old_expired_codes_deleted(http, token, sso_enabled):
    request_link(http, token)
    request_link(http, token)
    SsoCode.objects.filter(pk=SsoCode.objects.first().pk).update(expires_at=timezone.now() - timedelta(days=2))

    assert tasks.delete_expired_sso_codes() == 1

    assert SsoCode.objects.count() == 1
