"""Recipient listing pages in XML, written directly by the listing, equal the JSON page converted by rest_xml."""

import pytest

from mailup_sim.rest_xml import to_xml

XML = {"Accept": "application/xml"}


@pytest.fixture
def recipients(api):
    bodies = [
        {"Email": "page.one@example.com", "Fields": [{"Id": 1, "Value": "Rossi & Figli <srl>"}]},
        {"Email": "page.two@example.com", "MobilePrefix": "+39", "MobileNumber": "3331112222"},
        {"Email": "page.three@example.com", "Fields": [{"Id": 2, "Value": "tab\there ]]> 😀"}]},
    ]
    for body in bodies:
        assert api.post("/List/1/Recipient", json=body).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"pageSize": "2", "pageNumber": "1"},
        {"filterby": "Email.Contains('page.')", "orderby": "Email desc"},
        # A page past the end has no items.
        {"pageSize": "2", "pageNumber": "50"},
    ],
    ids=["first page", "second page", "filtered", "past the end"],
)
def test_xml_page_equals_converted_json(api, recipients, query):
    as_json = api.get("/List/1/Recipients/Subscribed", params=query)

    as_xml = api.get("/List/1/Recipients/Subscribed", params=query, headers=XML)

    assert as_xml.status_code == as_json.status_code == 200
    assert as_xml.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert "Accept" in [name.strip() for name in as_xml.headers["Vary"].split(",")]
    assert as_xml.content == to_xml(as_json.json())
