"""Conventions of every REST path: letter case, unknown paths, wrong methods, CORS, ids."""

import pytest

from mailup_sim.middleware import canonical_path
from tests.rest.conftest import CONSOLE, assert_envelope


@pytest.mark.parametrize(
    "path",
    [
        "/API/v1.1/Rest/ConsoleService.svc/Console/Authentication/Info",
        "/api/v1.1/rest/ConsoleService.svc/Console/authentication/info",
        "/API/V1.1/REST/CONSOLESERVICE.SVC/CONSOLE/AUTHENTICATION/INFO",
        "//API/v1.1/Rest/ConsoleService.svc/Console/Authentication/Info",
    ],
)
def test_path_in_any_case(api, path):
    response = api.http.get(path, headers={"Authorization": f"Bearer {api.access_token}"})
    assert response.status_code == 200
    assert response.json()["Username"] == "m1234"


def test_unknown_path_is_404_envelope(api):
    assert_envelope(api.get("/No/Such/Thing"), 404, "NotFound")


def test_unknown_service_is_404_envelope(api):
    response = api.http.get("/API/v1.1/Rest/NoService.svc/Console/List")
    assert_envelope(response, 404, "NotFound")


def test_plural_lists_is_404(api):
    # djangomailup calls /Console/Lists, which MailUp does not serve either.
    assert_envelope(api.get("/Lists"), 404, "NotFound")


def test_wrong_method_is_405_envelope(api):
    assert_envelope(api.delete("/Authentication/Info"), 405, "MethodNotAllowed")


def test_id_too_large_is_404(api):
    assert_envelope(api.get("/List/99999999999/Groups"), 404, "NotFound")


def test_unknown_list_is_404(api):
    assert_envelope(api.get("/List/77/Groups"), 404, "NotFound")


def test_preflight(demo, http):
    response = http.request(
        "OPTIONS",
        CONSOLE + "/List/1/Recipient",
        headers={"Access-Control-Request-Headers": "authorization, content-type, x-custom"},
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "x-custom" in response.headers["Access-Control-Allow-Headers"]


def test_get_with_null_body(api):
    # fazland/mailup-rest-client sends the literal body null on GET.
    response = api.get("/List/1/Groups", data=b"null")
    assert response.status_code == 200


def test_accept_form_urlencoded_still_gets_json(api):
    # npm mailup asks for application/x-www-form-urlencoded answers.
    response = api.get("/List/1/Groups", headers={"Accept": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert response.json()["IsPaginated"] is True


def test_malformed_json_is_400(api):
    response = api.post("/List/1/Recipient", data=b"{not json")
    assert_envelope(response, 400, "BadRequest")


@pytest.mark.parametrize(
    "given, expected",
    [
        ("//frontend/optout.aspx", "/frontend/optout.aspx"),
        ("/FrontEnd/XmlSubscribe.aspx", "/frontend/xmlsubscribe.aspx"),
        ("/API/v1.1/Rest/ConsoleService.svc/Console/List/1", "/api/v1.1/rest/consoleservice.svc/console/list/1"),
        ("/Authorization/OAuth/Token", "/authorization/oauth/token"),
        ("/sink/api/Messages", "/sink/api/Messages"),
        ("/Admin/", "/Admin/"),
    ],
)
def test_canonical_path(given, expected):
    assert canonical_path(given) == expected


def test_rate_limit_gives_429(api, settings):
    settings.REST_RATE_LIMIT_PER_SECOND = 2
    responses = [api.get("/Recipient/DynamicFields") for _ in range(20)]

    throttled = [response for response in responses if response.status_code == 429]
    assert throttled
    body = throttled[0].json()
    assert body["ErrorCode"] == "429"
    assert body["ErrorName"] is None
    assert body["ErrorDescription"].startswith("Authorization error (too_many_requests): Too many requests. Max:2")
    assert throttled[0].headers["Retry-After"] == "1"
    assert {response.status_code for response in responses} <= {200, 429}
