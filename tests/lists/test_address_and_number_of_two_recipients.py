"""xmlUnSubscribe and xmlUpdSubscriber with the address of one recipient and the mobile number of another."""

import pytest

from lists.models import Subscription
from tests.lists.pages import LIST1_GUID, recipient, row_counts

Status = Subscription.Status
ANNA_NUMBER = "00393330000001"
BRUNO_NUMBER = "00393330000002"


def call(http, page, **params):
    response = http.get(f"/frontend/{page}", params={"ListGuid": LIST1_GUID, "List": "1", **params})
    assert response.status_code == 200
    return response.text


@pytest.fixture
def anna_and_bruno(demo, http):
    """Anna with an address and a number, Bruno with a number only, both subscribed to list 1."""
    for params in ({"Email": "anna@example.com", "Sms": ANNA_NUMBER}, {"Sms": BRUNO_NUMBER}):
        response = http.get("/frontend/xmlSubscribe.aspx", params={"List": "1", "Confirm": "0", "retCode": "1", **params})
        assert response.text == "0"


def statuses():
    rows = Subscription.objects.select_related("recipient").order_by("recipient_id", "channel")
    return [(row.recipient.mobile_number, row.channel, row.status) for row in rows]


def test_unsubscribe_two_recipients_returns_1(anna_and_bruno, http):
    before = statuses()
    counts = row_counts()

    assert call(http, "xmlUnSubscribe.aspx", Email="anna@example.com", Sms=BRUNO_NUMBER) == "1"

    assert statuses() == before
    assert row_counts() == counts


def test_update_two_recipients_returns_1(anna_and_bruno, http):
    params = {"Email": "anna@example.com", "Sms": BRUNO_NUMBER, "csvFldNames": "campo1", "csvFldValues": "Anna"}

    assert call(http, "xmlUpdSubscriber.aspx", **params) == "1"

    assert recipient("anna@example.com").fields == {}


def test_unsubscribe_own_address_and_number(anna_and_bruno, http):
    assert call(http, "xmlUnSubscribe.aspx", Email="anna@example.com", Sms=ANNA_NUMBER) == "0"

    assert statuses() == [
        ("3330000001", "email", Status.UNSUBSCRIBED),
        ("3330000001", "sms", Status.UNSUBSCRIBED),
        ("3330000002", "sms", Status.SUBSCRIBED),
    ]


def test_unsubscribe_address_with_unknown_number(anna_and_bruno, http):
    assert call(http, "xmlUnSubscribe.aspx", Email="anna@example.com", Sms="00393330000009") == "0"

    assert ("3330000001", "email", Status.UNSUBSCRIBED) in statuses()
    assert ("3330000002", "sms", Status.SUBSCRIBED) in statuses()
