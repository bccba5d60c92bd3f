"""The token endpoint for every request shape MailUp clients send, over real HTTP."""

import base64
import http.client as http_client
import json
import socket
from urllib.parse import urlencode

import pytest

from lists.demo import DEMO_CONSOLE_PASSWORD, DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET
from lists.models import Account, AccountUser
from tests.rest.conftest import TOKEN_PATH, password_grant_form

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(client_id=DEMO_OAUTH_CLIENT_ID, secret=DEMO_OAUTH_CLIENT_SECRET):
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def user_form():
    return {"grant_type": "password", "username": "m1234", "password": DEMO_CONSOLE_PASSWORD}


def assert_token_answer(response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "token_type"}
    assert body["expires_in"] == 3600
    assert body["token_type"] == "bearer"
    assert body["access_token"] and body["refresh_token"]
    return body


def assert_oauth_error(response, error):
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]


def test_password_form_body_and_basic(demo, http):
    # The official samples: all five parameters in the body, and Basic too.
    assert_token_answer(http.post(TOKEN_PATH, data=password_grant_form(), headers=basic()))


def test_password_form_body_only(demo, http):
    # mailupy and django-mailupy.
    assert_token_answer(http.post(TOKEN_PATH, data=password_grant_form()))


def test_password_unencoded_body(demo, http):
    # PHP wrappers concatenate the values without encoding them.
    raw = "&".join(f"{name}={value}" for name, value in password_grant_form().items())
    assert_token_answer(http.post(TOKEN_PATH, data=raw, headers=FORM))


def test_password_basic_only(demo, http):
    # djangomailup: grant_type, username and password only, client in Basic.
    assert_token_answer(http.post(TOKEN_PATH, data=user_form(), headers=basic()))


def test_basic_header_without_colon_is_ignored(demo, http):
    # Their Basic header lacks the colon, so they authenticate in the body.
    broken = {"Authorization": "Basic " + base64.b64encode(DEMO_OAUTH_CLIENT_ID.encode()).decode()}
    assert_token_answer(http.post(TOKEN_PATH, data=password_grant_form(), headers=broken))


def test_password_in_query_of_empty_post(demo, http):
    # npm mailup and WyrmxD/mailup-lib: an empty form POST, parameters in the URL.
    response = http.post(TOKEN_PATH + "?" + urlencode(user_form()), headers={**FORM, **basic()})
    assert_token_answer(response)


def test_password_in_query_with_stray_paging(demo, http):
    # thundersystems/pymailup adds its paging parameters to every call.
    query = urlencode({**user_form(), "PageNumber": 0, "PageSize": 50})
    assert_token_answer(http.post(TOKEN_PATH + "?" + query, headers=basic()))


def test_body_wins_over_query(demo, http):
    query = urlencode({"password": "wrong-password"})
    assert_token_answer(http.post(TOKEN_PATH + "?" + query, data=password_grant_form()))


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded; charset=UTF-8", None],
)
def test_form_body_with_odd_content_type(demo, http, content_type):
    raw = urlencode(password_grant_form())
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.request("POST", TOKEN_PATH, data=raw.encode(), headers=headers)
    assert_token_answer(response)


def test_json_body(demo, http):
    body = json.dumps(password_grant_form())
    response = http.post(TOKEN_PATH, data=body, headers={"Content-Type": "application/json"})
    assert_token_answer(response)


def test_path_in_any_case(demo, http):
    assert_token_answer(http.post("/authorization/oauth/token", data=password_grant_form()))


def test_refresh_rotates_and_old_token_fails(demo, http):
    first = assert_token_answer(http.post(TOKEN_PATH, data=password_grant_form()))
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": DEMO_OAUTH_CLIENT_ID,
        "client_secret": DEMO_OAUTH_CLIENT_SECRET,
    }

    second = assert_token_answer(http.post(TOKEN_PATH, data=refresh))
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]

    assert_oauth_error(http.post(TOKEN_PATH, data=refresh), "invalid_grant")


def test_refresh_in_query_with_basic(demo, http):
    first = assert_token_answer(http.post(TOKEN_PATH, data=password_grant_form()))
    query = urlencode({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert_token_answer(http.post(TOKEN_PATH + "?" + query, headers={**FORM, **basic()}))


def test_wrong_password_is_invalid_grant(demo, http):
    form = {**password_grant_form(), "password": "wrong"}
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "invalid_grant")


def test_suspended_console_gets_no_token(demo, http):
    Account.objects.filter(console_id=1234).update(status=Account.Status.SUSPENDED)

    assert_oauth_error(http.post(TOKEN_PATH, data=password_grant_form()), "invalid_grant")


def test_wrong_secret_is_invalid_client(demo, http):
    form = {**password_grant_form(), "client_secret": "wrong"}
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "invalid_client")


def test_unknown_client_is_invalid_client(demo, http):
    form = {**password_grant_form(), "client_id": "no-such-client"}
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "invalid_client")


def test_body_and_basic_disagree(demo, http):
    response = http.post(TOKEN_PATH, data=password_grant_form(), headers=basic(secret="other-secret"))
    assert_oauth_error(response, "invalid_client")


def test_unknown_grant_type(demo, http):
    form = {**password_grant_form(), "grant_type": "client_credentials_v9"}
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "unsupported_grant_type")


def test_missing_password_is_invalid_request(demo, http):
    form = password_grant_form()
    del form["password"]
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "invalid_request")


def test_user_of_other_console_is_rejected(demo, http, django_user_model):
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    user = django_user_model.objects.create_user("m5678", password="other-console-5678")
    AccountUser.objects.create(account=account, user=user)

    form = {**password_grant_form(), "username": "m5678", "password": "other-console-5678"}
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "invalid_grant")


def test_refresh_declaring_unsent_body(demo, http, server_url):
    # npm mailup's refresh call: parameters in the query string, a
    # Content-Length of 100 and no body at all.
    first = assert_token_answer(http.post(TOKEN_PATH, data=password_grant_form()))
    query = urlencode({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    host, port = server_url.split("//")[1].split(":")
    credentials = base64.b64encode(f"{DEMO_OAUTH_CLIENT_ID}:{DEMO_OAUTH_CLIENT_SECRET}".encode()).decode()
    head = (
        f"POST {TOKEN_PATH}?{query} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: Basic {credentials}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 100\r\n\r\n"
    )

    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode())
        response = http_client.HTTPResponse(connection)
        response.begin()
        body = json.loads(response.read())

    assert response.status == 200
    assert set(body) == {"access_token", "expires_in", "refresh_token", "token_type"}
    assert body["refresh_token"] != first["refresh_token"]


@pytest.mark.parametrize("name", ["username", "password", "client_id", "client_secret"])
def test_nul_in_parameter_is_invalid_request(demo, http, name):
    # PostgreSQL rejects NUL in a text query parameter, so this was a 500 there.
    form = {**password_grant_form(), name: "m1234\x00"}
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "invalid_request")


def test_nul_in_refresh_token_is_invalid_request(demo, http):
    form = {**password_grant_form(), "grant_type": "refresh_token", "refresh_token": "a\x00b"}
    assert_oauth_error(http.post(TOKEN_PATH, data=form), "invalid_request")
