"""OAuth authorization-code flow: the LogOn login page, the redirect with a code, and the code exchange."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth2_provider.models import Grant, get_application_model

from lists.demo import DEMO_CONSOLE_PASSWORD, DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET
from tests.rest.conftest import CONSOLE, TOKEN_PATH

CALLBACK = "http://127.0.0.1:9/callback"
LOGON = "/Authorization/OAuth/LogOn"


def logon_query(**extra):
    query = {
        "client_id": DEMO_OAUTH_CLIENT_ID,
        "client_secret": DEMO_OAUTH_CLIENT_SECRET,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        **extra,
    }
    return query


def sign_in(http, path=LOGON, password=DEMO_CONSOLE_PASSWORD, **extra):
    """Open the login page like a browser, post the form, and return the final response (not followed)."""
    session = http.session
    page = session.get(http.base_url + path, params=logon_query(**extra))
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    form = {"csrfmiddlewaretoken": token, "username": "m1234", "password": password}
    return session.post(page.url, data=form, allow_redirects=False, headers={"Referer": page.url})


def code_of(response):
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK)
    return parse_qs(urlsplit(location).query)


@pytest.fixture
def browser(demo, http):
    return http


def test_logon_page_in_italian_and_english(browser):
    italian = browser.get(LOGON, params=logon_query(), headers={"Accept-Language": "it"})
    assert italian.status_code == 200
    assert "Accedi" in italian.text
    english = browser.get(LOGON, params=logon_query(lang="en"))
    assert "Sign in" in english.text


def test_login_redirects_with_code(browser):
    query = code_of(sign_in(browser))
    assert list(query) == ["code"]
    assert Grant.objects.get(code=query["code"][0]).application.client_id == DEMO_OAUTH_CLIENT_ID


def test_state_is_echoed(browser):
    query = code_of(sign_in(browser, state="xyz"))
    assert query["state"] == ["xyz"]


def test_authorization_path_serves_same_page(browser):
    assert "code" in code_of(sign_in(browser, path="/Authorization/OAuth/Authorization"))


def test_wrong_password_shows_page_again(browser):
    response = sign_in(browser, password="wrong")
    assert response.status_code == 200
    assert 'role="alert"' in response.text
    assert Grant.objects.count() == 0


def test_unknown_client_is_400(browser):
    response = browser.get(LOGON, params=logon_query(client_id="nobody"))
    assert response.status_code == 400
    assert "client_id" in response.text


def test_missing_client_is_400(browser):
    response = browser.get(LOGON, params=logon_query(client_id=""), headers={"Accept-Language": "en"})

    assert response.status_code == 400
    assert "client_id parameter is missing" in response.text


def test_unregistered_redirect_is_400(browser):
    application = get_application_model().objects.get(client_id=DEMO_OAUTH_CLIENT_ID)
    application.redirect_uris = "https://crm.example/callback"
    application.save()
    assert browser.get(LOGON, params=logon_query()).status_code == 400


def test_code_exchange_with_get_and_no_client(browser):
    # The official samples exchange the code with GET and no client credentials.
    code = code_of(sign_in(browser))["code"][0]
    response = browser.get(TOKEN_PATH, params={"code": code, "grant_type": "authorization_code"})
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert set(tokens) == {"access_token", "expires_in", "refresh_token", "token_type"}

    info = browser.get(CONSOLE + "/Authentication/Info", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json()["Username"] == "m1234"


def test_code_exchange_standard_form_post(browser):
    # mailup-socialite posts client_id, client_secret, code and redirect_uri.
    code = code_of(sign_in(browser))["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": DEMO_OAUTH_CLIENT_ID,
        "client_secret": DEMO_OAUTH_CLIENT_SECRET,
        "redirect_uri": CALLBACK,
    }
    assert browser.post(TOKEN_PATH, data=form).status_code == 200


def test_code_is_single_use(browser):
    code = code_of(sign_in(browser))["code"][0]
    params = {"code": code, "grant_type": "authorization_code"}
    assert browser.get(TOKEN_PATH, params=params).status_code == 200
    second = browser.get(TOKEN_PATH, params=params)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_code_with_wrong_secret_is_rejected(browser):
    code = code_of(sign_in(browser))["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "client_id": DEMO_OAUTH_CLIENT_ID, "client_secret": "x"}
    response = browser.post(TOKEN_PATH, data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_nul_client_id_is_400(browser):
    # PostgreSQL rejects NUL in a text query parameter, so this was a 500 there.
    response = browser.get(LOGON, params=logon_query(client_id=DEMO_OAUTH_CLIENT_ID + "\x00"))
    assert response.status_code == 400
    assert "client_id" in response.text


def test_nul_user_name_shows_page_again(browser):
    session = browser.session
    page = session.get(browser.base_url + LOGON, params=logon_query())
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    form = {"csrfmiddlewaretoken": token, "username": "m1234\x00", "password": DEMO_CONSOLE_PASSWORD}
    response = session.post(page.url, data=form, allow_redirects=False, headers={"Referer": page.url})

    assert response.status_code == 200
    assert 'role="alert"' in response.text
    assert Grant.objects.count() == 0
