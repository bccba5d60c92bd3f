"""Numbers of thousands of digits, which Python's int() refuses, get 400 or the capped page, never a 500."""

import pytest

from lists.models import Recipient
from sending.models import Sending
from tests.rest.conftest import assert_envelope
from tests.sending.campaigns import newsletter

# int() raises ValueError past 4300 digits, leading zeros included.
HUGE = "9" * 5000
PADDED_ONE = "0" * 5000 + "1"
STATISTICS = "/API/v1.1/Rest/MailStatisticsService.svc"


@pytest.mark.parametrize("number", [HUGE, PADDED_ONE])
def test_group_id_in_send_is_400(api, number):
    message = newsletter()
    for name in ("inGroups", "notInGroups"):
        response = api.post(f"/List/1/Email/{message.pk}/Send?{name}=1,{number}")
        assert_envelope(response, 400, "BadRequest")
    assert Sending.objects.count() == 0


def test_huge_message_id_in_single_send_is_400(api):
    response = api.post("/Email/Send", json={"idMessage": HUGE, "Email": "anna@example.com"})
    assert_envelope(response, 400, "BadRequest")


def test_padded_message_id_in_single_send_is_read(api):
    message = newsletter()
    padded_id = "0" * 5000 + str(message.pk)
    response = api.post("/Email/Send", json={"idMessage": padded_id, "Email": "anna@example.com"})
    assert response.status_code == 200, response.text
    assert response.json()["idMessage"] == message.pk


def test_huge_field_id_is_400(api):
    response = api.post("/List/1/Recipient", json={"Email": "anna@example.com", "Fields": [{"Id": HUGE, "Value": "x"}]})
    assert_envelope(response, 400, "BadRequest")
    assert not Recipient.objects.exists()


def test_huge_recipient_id_in_update_is_400(api):
    response = api.put("/Recipient/Detail", json={"idRecipient": HUGE, "Email": "anna@example.com"})
    assert_envelope(response, 400, "BadRequest")


@pytest.mark.parametrize(
    "query, page_number, page_size",
    [
        (f"pageNumber={HUGE}", 2_147_483_647, 20),
        (f"pageNumber={PADDED_ONE}", 1, 20),
        (f"pageSize={HUGE}", 0, 2_147_483_647),
        (f"pageSize={PADDED_ONE}", 0, 1),
    ],
)
def test_huge_paging_values_are_capped(api, query, page_number, page_size):
    body = api.get(f"/List/1/Emails?{query}").json()
    assert body["PageNumber"] == page_number
    assert body["PageSize"] == page_size


def test_huge_page_number_in_statistics_is_capped(api):
    message = newsletter()
    headers = {"Authorization": f"Bearer {api.access_token}"}
    response = api.http.get(f"{STATISTICS}/Message/{message.pk}/List/Views?pageNumber={HUGE}", headers=headers)
    assert response.status_code == 200
    assert response.json()["Items"] == []


@pytest.mark.parametrize("query", ["pageNumber=--1", "pageNumber=-1", "pageNumber=1-"])
def test_malformed_page_number_is_400(api, query):
    assert_envelope(api.get(f"/List/1/Emails?{query}"), 400, "BadRequest")


@pytest.mark.parametrize("query", ["pageSize=--5", "pageSize=-5", "pageNumber=-0"])
def test_odd_paging_values_read_as_defaults(api, query):
    body = api.get(f"/List/1/Emails?{query}").json()
    assert body["PageNumber"] == 0
    assert body["PageSize"] == 20
