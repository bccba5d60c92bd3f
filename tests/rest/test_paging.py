"""The paged envelope: page size and number in any case, pages past the end, bad values."""

import pytest
from django.db import connection

from lists.models import FieldDefinition, List
from lists.services import REASON_ADMINISTRATOR, Contact, Source, unsubscribe
from tests.rest.conftest import assert_envelope

FIELD_COUNT = 39


def envelope(response):
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"IsPaginated", "Items", "PageNumber", "PageSize", "Skipped", "TotalElementsCount"}
    assert body["IsPaginated"] is True
    return body


def test_default_page_is_20(api):
    body = envelope(api.get("/Recipient/DynamicFields"))
    assert body["PageSize"] == 20
    assert body["PageNumber"] == 0
    assert body["Skipped"] == 0
    assert body["TotalElementsCount"] == FIELD_COUNT
    assert [item["Id"] for item in body["Items"]] == list(range(1, 21))
    assert body["Items"][0] == {"Description": "nome", "Id": 1}


@pytest.mark.parametrize(
    "query", ["pageNumber=1&pageSize=30", "PageNumber=1&PageSize=30", "PAGENUMBER=1&pagesize=30"]
)
def test_page_parameters_in_any_case(api, query):
    body = envelope(api.get("/Recipient/DynamicFields?" + query))
    assert body["PageNumber"] == 1
    assert body["PageSize"] == 30
    assert body["Skipped"] == 30
    assert [item["Id"] for item in body["Items"]] == list(range(31, 40))


def test_page_past_end_is_empty(api):
    body = envelope(api.get("/Recipient/DynamicFields?pageNumber=2&pageSize=20"))
    assert body["Items"] == []
    assert body["TotalElementsCount"] == FIELD_COUNT
    assert body["Skipped"] == 40


def test_clients_that_stop_on_empty_page_see_every_item(api):
    seen = []
    for number in range(10):
        body = envelope(api.get(f"/Recipient/DynamicFields?pageNumber={number}&pageSize=7"))
        if not body["Items"]:
            break
        seen.extend(item["Id"] for item in body["Items"])
    assert seen == list(range(1, FIELD_COUNT + 1))


@pytest.mark.parametrize("size", ["0", "-5", "abc", ""])
def test_bad_page_size_means_20(api, size):
    body = envelope(api.get(f"/Recipient/DynamicFields?pageSize={size}"))
    assert body["PageSize"] == 20


@pytest.mark.parametrize("number", ["-1", "x"])
def test_bad_page_number_is_400(api, number):
    assert_envelope(api.get(f"/Recipient/DynamicFields?pageNumber={number}"), 400, "BadRequest")


def test_official_sample_pagenum_is_ignored(api):
    body = envelope(api.get("/Recipient/DynamicFields?pageSize=5&pageNum=3"))
    assert body["PageNumber"] == 0


def test_orderby_with_quotes_and_plus(api):
    # The PHP wrappers send PageNumber=0&PageSize=30&orderby="Id+asc".
    body = envelope(api.get('/Recipient/DynamicFields?PageNumber=0&PageSize=30&orderby="Id+desc"'))
    assert body["Items"][0]["Id"] == FIELD_COUNT


def test_unknown_orderby_key_is_400(api):
    assert_envelope(api.get("/Recipient/DynamicFields?orderby=Colour"), 400, "BadRequest")


def test_total_follows_changes_between_pages(api, monkeypatch):
    """The count a page repeats follows subscriptions made by the API and by other connections."""
    if connection.vendor == "sqlite":
        # Server threads keep their connection, and the count it cached, between requests, as in production.
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)

    before = envelope(api.get("/List/1/Recipients/Subscribed?pageSize=1"))["TotalElementsCount"]
    assert api.post("/List/1/Recipient", json={"Email": "paging-total@example.com"}).status_code == 200
    assert envelope(api.get("/List/1/Recipients/Subscribed?pageSize=1"))["TotalElementsCount"] == before + 1

    # The test's own connection is not the server thread's one.
    mailing_list = List.objects.get(account__console_id=1234, list_id=1)
    contact = Contact(email="paging-total@example.com")
    unsubscribe(mailing_list.account, mailing_list, contact, Source.API, REASON_ADMINISTRATOR)
    assert envelope(api.get("/List/1/Recipients/Subscribed?pageSize=1"))["TotalElementsCount"] == before


def test_fields_follow_rename_between_pages(api, monkeypatch):
    """A field renamed by another connection shows its new name on the next page."""
    if connection.vendor == "sqlite":
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    assert api.post("/List/1/Recipient", json={"Email": "paging-fields@example.com"}).status_code == 200
    first = envelope(api.get("/List/1/Recipients/Subscribed?pageSize=1"))["Items"][0]
    assert first["Fields"][0]["Description"] == "nome"

    FieldDefinition.objects.filter(account__console_id=1234, field_id=1).update(name="first name")

    item = envelope(api.get("/List/1/Recipients/Subscribed?pageSize=1"))["Items"][0]
    assert item["Fields"][0]["Description"] == "first name"
