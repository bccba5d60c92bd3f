"""Rules shared by every frontend page: request forms, names and paths in any case, CORS, hosts, the allow-list."""

import pytest

from lists.models import Account, ConsoleHost, Subscription
from tests.lists.pages import LIST1_GUID, recipient, status

Status = Subscription.Status
SUBSCRIBE = "/frontend/xmlSubscribe.aspx"
CHECK = "/frontend/xmlChkSubscriber.aspx"


# --- Request forms -----------------------------------------------------------------


def test_get_with_query_string(demo, http):
    response = http.get(f"{SUBSCRIBE}?List=1&Email=get%40example.com&Confirm=0&retCode=1")
    assert response.text == "0"
    assert status("get@example.com") == Status.SUBSCRIBED


def test_post_with_query_string_and_empty_body(demo, http):
    response = http.post(f"{SUBSCRIBE}?list=1&email=empty%40example.com&confirm=0&retCode=1")
    assert response.text == "0"
    assert status("empty@example.com") == Status.SUBSCRIBED


def test_post_urlencoded_body(demo, http):
    data = {"source": "wordpress", "Email": "form@example.com", "List": "1", "Confirm": "false", "retCode": "1"}
    response = http.post(SUBSCRIBE, data=data)
    assert response.text == "0"
    assert status("form@example.com") == Status.SUBSCRIBED


def test_post_unencoded_body(demo, raw):
    body = b"Email=raw@example.com&List=1&Confirm=0&retCode=1&csvFldNames=campo1&csvFldValues=Anna Maria"
    response = raw.post_form(SUBSCRIBE, body)
    assert response.text == "0"
    assert recipient("raw@example.com").fields == {"1": "Anna Maria"}


def test_post_multipart_body(demo, http):
    fields = {"Email": "multi@example.com", "List": "1", "Confirm": "0", "retCode": "1"}
    response = http.post(SUBSCRIBE, files={name: (None, value) for name, value in fields.items()})
    assert response.request.headers["Content-Type"].startswith("multipart/form-data")
    assert response.text == "0"
    assert status("multi@example.com") == Status.SUBSCRIBED


def test_get_with_form_body(demo, raw):
    body = b"List=1&Email=getbody@example.com&Confirm=0&retCode=1"
    response = raw.request("GET", SUBSCRIBE, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.text == "0"
    assert status("getbody@example.com") == Status.SUBSCRIBED


def test_query_string_wins_over_body(demo, http):
    data = {"email": "body@example.com", "List": "1"}
    response = http.post(f"{SUBSCRIBE}?Email=query%40example.com&retCode=1", data=data)
    assert response.text == "0"
    assert status("query@example.com") == Status.PENDING
    assert recipient("body@example.com") is None


def test_parameter_names_any_case(demo, http):
    response = http.get(f"{SUBSCRIBE}?LIST=1&eMaIl=case%40example.com&CONFIRM=0&RetCode=1")
    assert response.text == "0"
    assert status("case@example.com") == Status.SUBSCRIBED


def test_unknown_parameters_ignored(demo, http):
    params = {
        "List": "1",
        "Email": "extra@example.com",
        "retCode": "1",
        "source": "wordpress",
        "ipAddress": "10.0.0.1",
        "name": "x",
    }
    assert http.get(SUBSCRIBE, params=params).text == "0"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", Status.PENDING),
        ("TRUE", Status.PENDING),
        ("", Status.PENDING),
        ("False", Status.SUBSCRIBED),
        ("0", Status.SUBSCRIBED),
    ],
)
def test_boolean_spellings(demo, http, value, expected):
    response = http.get(SUBSCRIBE, params={"List": "1", "Email": "bool@example.com", "Confirm": value, "retCode": "1"})
    assert response.text == "0"
    assert status("bool@example.com") == expected


def test_numeric_body_is_bare(demo, http):
    response = http.get(SUBSCRIBE, params={"List": "1", "Email": "bare@example.com", "retCode": "1"})
    assert response.content == b"0"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.json() == 0


# --- Paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/FrontEnd/XMLSUBSCRIBE.aspx",
        "/frontend/Xmlsubscribe.aspx",
        "/FRONTEND/xmlsubscribe.ASPX",
        "//frontend/xmlSubscribe.aspx",
    ],
)
def test_path_any_case(demo, raw, path):
    response = raw.get(f"{path}?List=1&Email=path%40example.com&retCode=1")
    assert response.status == 200
    assert response.text == "0"


@pytest.mark.parametrize(
    "path", ["/frontend/nothing.aspx", "/frontend/xmlSubscribe", "/frontend/xmlSubscribe.aspx.bak"]
)
def test_unknown_page_returns_404(demo, http, path):
    response = http.get(path)
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "page, body",
    [
        ("xmlSubscribe.aspx", None),
        ("xmlChkSubscriber.aspx", "1"),
        ("xmlUnSubscribe.aspx", "1"),
        ("xmlUpdSubscriber.aspx", "1"),
        ("updSubscriber.aspx", "1"),
    ],
)
def test_bare_get_of_page_returns_200(demo, http, page, body):
    response = http.get(f"/frontend/{page}")
    assert response.status_code == 200
    if body is not None:
        assert response.text == body


def test_bare_get_of_activation_returns_200(demo, http):
    response = http.get("/frontend/wsActivation.aspx")
    assert response.status_code == 200
    assert "<ReturnCode>-30</ReturnCode>" in response.text


# --- CORS ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{SUBSCRIBE}?List=1&Email=cors%40example.com&retCode=1",
        f"{SUBSCRIBE}?List=x",
        f"{CHECK}?List=1",
        "/frontend/wsActivation.aspx",
        "/frontend/optout.aspx",
    ],
)
def test_cors_header_on_every_answer(demo, http, path):
    response = http.get(path, headers={"Origin": "https://shop.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_header_for_unregistered_caller(demo, outsider):
    response = outsider.get(f"{CHECK}?ListGuid={LIST1_GUID}&List=1&Email=x%40example.com")
    assert response.text == "-1011"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_preflight(demo, outsider):
    headers = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-requested-with",
    }
    response = outsider.request("OPTIONS", "/FrontEnd/xmlSubscribe.aspx", headers=headers)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE, OPTIONS"
    allowed = [name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")]
    assert {"authorization", "content-type", "accept", "x-requested-with"} <= set(allowed)
    assert len(allowed) == len(set(allowed))
    assert response.headers["Access-Control-Max-Age"] == "86400"


def test_preflight_changes_nothing(demo, http):
    http.request("OPTIONS", f"{SUBSCRIBE}?List=1&Email=pre%40example.com&Confirm=0")
    assert recipient("pre@example.com") is None


# --- Accounts by host ----------------------------------------------------------------


def test_console_host_picks_account(other_account, client_for):
    client = client_for("c5678.localhost", source_ip="127.0.0.2")
    response = client.get(SUBSCRIBE, params={"List": "1", "Email": "host@example.com", "Confirm": "0", "retCode": "1"})

    assert response.text == "0"
    assert status("host@example.com", console_id=5678) == Status.SUBSCRIBED
    assert recipient("host@example.com", console_id=1234) is None


def test_console_host_with_port(other_account, client_for):
    client = client_for("C5678.localhost:8000")
    client.get(SUBSCRIBE, params={"List": "1", "Email": "port@example.com", "Confirm": "0", "retCode": "1"})
    assert status("port@example.com", console_id=5678) == Status.SUBSCRIBED


def test_alias_host_picks_account(other_account, client_for):
    ConsoleHost.objects.create(account=other_account, name="news.other.localhost")
    client = client_for("News.Other.localhost")
    client.get(SUBSCRIBE, params={"List": "1", "Email": "alias@example.com", "Confirm": "0", "retCode": "1"})

    assert status("alias@example.com", console_id=5678) == Status.SUBSCRIBED


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "c9999.localhost", "unclaimed.localhost", "c1234.localhost"]
)
def test_unclaimed_host_uses_default_account(other_account, client_for, host):
    client = client_for(host)
    params = {"List": "1", "Email": "default@example.com", "Confirm": "0", "retCode": "1"}
    response = client.get(SUBSCRIBE, params=params)

    assert response.text == "0"
    assert status("default@example.com", console_id=1234) == Status.SUBSCRIBED


def test_allow_list_is_per_account(other_account, client_for):
    Account.objects.filter(console_id=5678).update(frontend_ip_restricted=True)
    client = client_for("c5678.localhost")
    params = {"ListGuid": str(other_account.lists.get().guid), "List": "1", "Email": "x@example.com"}
    response = client.get(CHECK, params=params)
    assert response.text == "-1011"


# --- The FrontEnd allow-list ---------------------------------------------------------------


def test_outsider_on_every_xml_page(demo, outsider):
    params = {"ListGuid": LIST1_GUID, "List": "1", "Email": "x@example.com", "retCode": "1"}
    for page in ("xmlSubscribe.aspx", "xmlChkSubscriber.aspx", "xmlUnSubscribe.aspx", "xmlUpdSubscriber.aspx"):
        response = outsider.get(f"/frontend/{page}", params=params)
        assert response.status_code == 200
        assert response.text == "-1011", page
    assert recipient("x@example.com") is None


def test_outsider_ret_code_in_body(demo, outsider):
    response = outsider.post(SUBSCRIBE, data={"Email": "wp@example.com", "List": "1", "retCode": "1"})
    assert response.text == "-1011"
    assert recipient("wp@example.com") is None


def test_outsider_malformed_request(demo, outsider):
    response = outsider.get(SUBSCRIBE, params={"List": "x", "retCode": "1"})
    assert response.text == "-1011"


def test_forwarded_for_header_not_trusted(demo, outsider):
    headers = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}
    params = {"List": "1", "Email": "spoof@example.com", "retCode": "1"}
    response = outsider.get(SUBSCRIBE, params=params, headers=headers)
    assert response.text == "-1011"


def test_restriction_off_admits_everyone(demo, outsider):
    Account.objects.filter(console_id=1234).update(frontend_ip_restricted=False)

    response = outsider.get(SUBSCRIBE, params={"List": "1", "Email": "open@example.com", "retCode": "1"})
    assert response.text == "0"
