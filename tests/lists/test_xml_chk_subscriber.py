"""xmlChkSubscriber.aspx over real HTTP: one code per subscription state, 1 for anything wrong."""

import re

import pytest

from lists.models import Subscription
from tests.lists.pages import LIST1_GUID, LIST2_GUID, row_counts

PAGE = "/frontend/xmlChkSubscriber.aspx"


def check(client, **params):
    response = client.get(PAGE, params=params)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    return response.text


def subscribe(http, email, confirm="0", list_id="1", **params):
    params = {"List": list_id, "Email": email, "Confirm": confirm, "retCode": "1", **params}
    response = http.get("/frontend/xmlSubscribe.aspx", params=params)
    assert response.text == "0"


def test_subscribed_returns_2(demo, http):
    subscribe(http, "in@example.com")
    assert check(http, ListGuid=LIST1_GUID, List="1", Email="in@example.com") == "2"


def test_unsubscribed_returns_3(demo, http):
    subscribe(http, "out@example.com")
    http.get("/frontend/xmlUnSubscribe.aspx", params={"ListGuid": LIST1_GUID, "List": "1", "Email": "out@example.com"})
    assert check(http, ListGuid=LIST1_GUID, List="1", Email="out@example.com") == "3"


def test_pending_returns_4(demo, http):
    subscribe(http, "wait@example.com", confirm="1")
    assert check(http, ListGuid=LIST1_GUID, List="1", Email="wait@example.com") == "4"


def test_unknown_address_returns_1(demo, http):
    assert check(http, ListGuid=LIST1_GUID, List="1", Email="nobody@example.com") == "1"


def test_address_on_other_list_returns_1(demo, http):
    subscribe(http, "elsewhere@example.com", list_id="2")
    assert check(http, ListGuid=LIST1_GUID, List="1", Email="elsewhere@example.com") == "1"


def test_address_matched_without_case(demo, http):
    subscribe(http, "case@example.com")
    assert check(http, ListGuid=LIST1_GUID.upper(), List="1", Email="CASE@Example.com") == "2"


def test_sms_subscriber_found(demo, http):
    params = {"List": "1", "Sms": "00393331234567", "Confirm": "0", "retCode": "1"}
    http.get("/frontend/xmlSubscribe.aspx", params=params)
    assert check(http, ListGuid=LIST1_GUID, List="1", Sms="00393331234567") == "2"
    assert check(http, ListGuid=LIST1_GUID, List="1", Sms="3331234567") == "2"
    assert check(http, ListGuid=LIST1_GUID, List="1", Sms="00393339999999") == "1"


def test_magento_settings_probe_returns_1(demo, http):
    subscribe(http, "logintest@test.com")

    response = http.get("/frontend/Xmlchksubscriber.aspx?ListGuid=e347gh87347gh374hg34&List=1&Email=logintest@test.com")
    assert re.fullmatch(r"1\s*", response.text)
    assert response.text == "1"


def test_woocommerce_probe_without_guid_returns_1(demo, http):
    subscribe(http, "woo@example.com")

    response = http.post(f"{PAGE}?list=1&email=woo@example.com")
    assert response.status_code == 200
    assert response.text == "1"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ListGuid": LIST1_GUID, "List": "1"},
        {"ListGuid": LIST1_GUID, "Email": "in@example.com"},
        {"ListGuid": LIST2_GUID, "List": "1", "Email": "in@example.com"},
        {"ListGuid": "", "List": "1", "Email": "in@example.com"},
        {"ListGuid": LIST1_GUID + "0", "List": "1", "Email": "in@example.com"},
        {"ListGuid": LIST1_GUID, "List": "x", "Email": "in@example.com"},
        {"ListGuid": LIST1_GUID, "List": "1,2", "Email": "in@example.com"},
        {"ListGuid": LIST1_GUID, "List": "3", "Email": "in@example.com"},
        {"ListGuid": LIST1_GUID, "List": "1", "Email": "not an address"},
        {"ListGuid": LIST1_GUID, "List": "1", "Sms": "+393331234567"},
    ],
)
def test_wrong_parameters_return_1(demo, http, params):
    subscribe(http, "in@example.com")
    assert check(http, **params) == "1"


def test_unregistered_caller_gets_minus_1011(demo, http, outsider):
    subscribe(http, "in@example.com")
    assert check(outsider, ListGuid=LIST1_GUID, List="1", Email="in@example.com") == "-1011"


def test_check_changes_nothing(demo, http):
    subscribe(http, "in@example.com", confirm="1")
    before = row_counts()

    check(http, ListGuid=LIST1_GUID, List="1", Email="in@example.com")
    check(http, ListGuid=LIST1_GUID, List="1", Email="other@example.com")
    assert row_counts() == before
    assert Subscription.objects.get().status == Subscription.Status.PENDING


def test_other_account_list_is_separate(demo, http, other_account):
    subscribe(http, "in@example.com")
    other_guid = str(other_account.lists.get().guid)

    assert check(http, ListGuid=other_guid, List="1", Email="in@example.com") == "1"
    assert check(http, ListGuid=LIST1_GUID, List="1", Email="in@example.com") == "2"
