"""xmlUnSubscribe.aspx over real HTTP: 0 on a change, 3 when nothing to do, 1 for a wrong list."""

import pytest

from lists.models import Subscription, SubscriptionEvent
from tests.lists.pages import LIST1_GUID, LIST2_GUID, demo_list, events, row_counts, status, system_mails

PAGE = "/frontend/xmlUnSubscribe.aspx"
Status = Subscription.Status


def unsubscribe(client, **params):
    response = client.get(PAGE, params=params)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    return response.text


def subscribe(http, confirm="0", **params):
    response = http.get("/frontend/xmlSubscribe.aspx", params={"Confirm": confirm, "retCode": "1", **params})
    assert response.text == "0"


def test_subscribed_address_returns_0(demo, http):
    subscribe(http, List="1", Email="leave@example.com")

    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="leave@example.com") == "0"
    assert status("leave@example.com") == Status.UNSUBSCRIBED
    [event] = events("leave@example.com", kind=SubscriptionEvent.Kind.UNSUBSCRIBE)
    assert event.source == "API"
    assert event.channel == "email"


def test_pending_address_returns_0(demo, http):
    subscribe(http, confirm="1", List="1", Email="undecided@example.com")

    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="undecided@example.com") == "0"
    assert status("undecided@example.com") == Status.UNSUBSCRIBED


def test_already_unsubscribed_returns_3(demo, http):
    subscribe(http, List="1", Email="gone@example.com")
    unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="gone@example.com")
    before = row_counts()

    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="gone@example.com") == "3"
    assert row_counts() == before


def test_unknown_address_returns_3(demo, http):
    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="stranger@example.com") == "3"
    assert row_counts()["recipients"] == 0


def test_address_only_on_other_list_returns_3(demo, http):
    subscribe(http, List="2", Email="offers@example.com")

    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="offers@example.com") == "3"
    assert status("offers@example.com", list_id=2) == Status.SUBSCRIBED


def test_other_lists_untouched(demo, http):
    subscribe(http, List="1,2", Email="both@example.com")

    assert unsubscribe(http, ListGuid=LIST2_GUID, List="2", Email="both@example.com") == "0"
    assert status("both@example.com", list_id=1) == Status.SUBSCRIBED
    assert status("both@example.com", list_id=2) == Status.UNSUBSCRIBED


def test_sms_channel_unsubscribed_alone(demo, http):
    subscribe(http, List="1", Email="phone@example.com", Sms="00393331234567")

    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Sms="00393331234567") == "0"
    assert status("phone@example.com", channel="sms") == Status.UNSUBSCRIBED
    assert status("phone@example.com", channel="email") == Status.SUBSCRIBED


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"List": "1", "Email": "kept@example.com"},
        {"ListGuid": "", "List": "1", "Email": "kept@example.com"},
        {"ListGuid": LIST2_GUID, "List": "1", "Email": "kept@example.com"},
        {"ListGuid": "not-a-guid", "List": "1", "Email": "kept@example.com"},
        {"ListGuid": LIST1_GUID, "Email": "kept@example.com"},
        {"ListGuid": LIST1_GUID, "List": "first", "Email": "kept@example.com"},
        {"ListGuid": LIST1_GUID, "List": "1"},
        {"ListGuid": LIST1_GUID, "List": "1", "Email": "kept at example.com"},
    ],
)
def test_wrong_parameters_return_1(demo, http, params):
    subscribe(http, List="1", Email="kept@example.com")
    before = row_counts()

    assert unsubscribe(http, **params) == "1"
    assert status("kept@example.com") == Status.SUBSCRIBED
    assert row_counts() == before


def test_unregistered_caller_gets_minus_1011(demo, http, outsider):
    subscribe(http, List="1", Email="kept@example.com")

    assert unsubscribe(outsider, ListGuid=LIST1_GUID, List="1", Email="kept@example.com") == "-1011"
    assert status("kept@example.com") == Status.SUBSCRIBED


def test_confirmation_sent_when_list_asks(demo, http, mail_sink):
    newsletter = demo_list(1)
    newsletter.send_unsubscribe_confirmation = True
    newsletter.save()
    subscribe(http, List="1", Email="bye@example.com")

    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="bye@example.com") == "0"
    [mail] = system_mails(kind="unsubscribe_confirmation")
    assert mail.to_email == "bye@example.com"
    [message] = mail_sink.wait_for(1)
    assert message.rcpt_to == ["bye@example.com"]


def test_no_confirmation_by_default(demo, http):
    subscribe(http, List="1", Email="quiet@example.com")

    assert unsubscribe(http, ListGuid=LIST1_GUID, List="1", Email="quiet@example.com") == "0"
    assert system_mails() == []


def test_magento_spelling_of_page_and_names(demo, http):
    subscribe(http, List="1", Email="mage@example.com")

    response = http.get(f"/frontend/Xmlunsubscribe.aspx?ListGuid={LIST1_GUID}&list=1&email=mage%40example.com")
    assert response.text == "0"
    assert status("mage@example.com") == Status.UNSUBSCRIBED
