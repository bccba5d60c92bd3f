"""25 dynamic fields and 45 recipients, walked the way the two kinds of REST client page.

mailupy counts pages from TotalElementsCount and PageSize (and asks for
one page too many); thundersystems/pymailup and others ask until a page
comes back empty. Both must see every item exactly once.
"""

import math

import pytest

from lists.models import FieldDefinition
from tests.personas import demo_list
from tests.sending.campaigns import subscribe

FIELD_COUNT = 25
RECIPIENT_COUNT = 45


def walk_until_empty(api, path):
    items = []
    for number in range(100):
        body = api.get(f"{path}?pageNumber={number}").json()
        if not body["Items"]:
            return items
        items.extend(body["Items"])
    raise AssertionError(f"{path} never returned an empty page")


def walk_counting_pages(api, path):
    """Page the way mailupy 1.1.4's _download_all_pages does, including its extra page."""
    items = []
    total_pages, current = 1, 0
    while total_pages - current:
        body = api.get(f"{path}?pageNumber={current}").json()
        total_pages = math.ceil(body["TotalElementsCount"] / body["PageSize"])
        if body["TotalElementsCount"] % body["PageSize"]:
            total_pages += 1
        items.extend(body["Items"])
        current += 1
    return items


@pytest.fixture
def twenty_five_fields(demo):
    FieldDefinition.objects.filter(account=demo_list(1).account, field_id__gt=FIELD_COUNT).delete()


@pytest.fixture
def forty_five_recipients(demo):
    for number in range(RECIPIENT_COUNT):
        subscribe(f"user{number:02d}@example.com")


@pytest.mark.parametrize("walk", [walk_until_empty, walk_counting_pages])
def test_fields_page_for_both_styles(api, twenty_five_fields, walk):
    items = walk(api, "/Recipient/DynamicFields")
    assert [item["Id"] for item in items] == list(range(1, FIELD_COUNT + 1))


@pytest.mark.parametrize("walk", [walk_until_empty, walk_counting_pages])
def test_recipients_page_for_both_styles(api, forty_five_recipients, walk):
    items = walk(api, "/List/1/Recipients/Subscribed")
    assert [item["Email"] for item in items] == [f"user{number:02d}@example.com" for number in range(RECIPIENT_COUNT)]


@pytest.mark.parametrize("walk", [walk_until_empty, walk_counting_pages])
def test_recipient_fields_list_25(api, twenty_five_fields, forty_five_recipients, walk):
    items = walk(api, "/List/1/Recipients/Subscribed")
    assert len(items[0]["Fields"]) == FIELD_COUNT
