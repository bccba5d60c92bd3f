"""Fixtures for the REST API and OAuth tests: a token of the demo console and a bearer client."""

import pytest

from lists.demo import demo_password_grant_form

TOKEN_PATH = "/Authorization/OAuth/Token"
CONSOLE = "/API/v1.1/Rest/ConsoleService.svc/Console"


@pytest.fixture(autouse=True)
def mail_sink(sink):
    """Start the SMTP sink for every test here, so confirmation requests never reach the default SMTP port."""
    return sink


@pytest.fixture(autouse=True)
def no_rate_limit(settings):
    """Turn the per-second REST limit off, so fast test loops never meet HTTP 429 by chance."""
    settings.REST_RATE_LIMIT_PER_SECOND = 0


def password_grant_form():
    return demo_password_grant_form()


@pytest.fixture
def tokens(demo, http):
    """A fresh access and refresh token of console user m1234, as mailupy asks for them."""
    response = http.post(TOKEN_PATH, data=password_grant_form())
    assert response.status_code == 200, response.text
    return response.json()


class Api:
    """A REST caller that sends the bearer token and JSON the way mailupy does."""

    def __init__(self, http, access_token):
        self.http = http
        self.access_token = access_token

    def call(self, method, path, **kwargs):
        headers = {"Authorization": f"Bearer {self.access_token}", "Content-Type": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, CONSOLE + path, headers=headers, **kwargs)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.call("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api(http, tokens):
    return Api(http, tokens["access_token"])


def assert_envelope(response, status, name):
    """Check MailUp's REST error envelope: ErrorCode is the status as a string."""
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"ErrorCode", "ErrorDescription", "ErrorName", "ErrorStack"}
    assert body["ErrorCode"] == str(status)
    assert body["ErrorName"] == name
    assert body["ErrorStack"] is None
    assert body["ErrorDescription"]
    return body
