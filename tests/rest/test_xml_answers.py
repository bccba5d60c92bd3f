"""REST responses in XML for clients that send `Accept: application/xml`, as the official samples can."""

import pytest
from defusedxml import ElementTree

from mailup_sim.rest_xml import INSTANCE_NAMESPACE, SERIALIZATION_NAMESPACE, to_xml

XML = {"Accept": "application/xml"}
NIL = f"{{{INSTANCE_NAMESPACE}}}nil"
STATISTICS = "/API/v1.1/Rest/MailStatisticsService.svc"


def parse(response):
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ElementTree.fromstring(response.content)


def test_object_members_in_json_order(api):
    as_json = api.get("/Authentication/Info").json()

    root = parse(api.get("/Authentication/Info", headers=XML))

    assert root.tag == "Response"
    assert [child.tag for child in root] == list(as_json)
    for child in root:
        expected = as_json[child.tag]
        if isinstance(expected, bool):
            assert child.text == str(expected).lower()
        else:
            assert (child.text or "") == str(expected)


def test_paged_items_as_item_elements(api):
    api.post("/List/1/Recipient", json={"Email": "paged.xml@example.com", "Fields": [{"Id": 1, "Value": "Ada"}]})
    as_json = api.get("/List/1/Recipients/Subscribed").json()

    root = parse(api.get("/List/1/Recipients/Subscribed", headers=XML))

    assert root.find("TotalElementsCount").text == str(as_json["TotalElementsCount"])
    items = root.find("Items")
    assert len(items) == len(as_json["Items"]) > 0
    first = items[0]
    assert first.tag == "Item"
    assert first.find("Email").text == as_json["Items"][0]["Email"]
    assert first.find("idRecipient").text == str(as_json["Items"][0]["idRecipient"])
    assert [field.tag for field in first.find("Fields")] == ["Item"] * len(as_json["Items"][0]["Fields"])


def test_created_id_as_int_element(api):
    response = api.post("/List/1/Recipient", json={"Email": "xml.answer@example.com"}, headers=XML)

    root = parse(response)
    assert root.tag == f"{{{SERIALIZATION_NAMESPACE}}}int"
    recipient_id = int(root.text)
    found = api.get("/List/1/Recipients/Subscribed", params={"filterby": "Email=='xml.answer@example.com'"}).json()
    assert found["Items"][0]["idRecipient"] == recipient_id


def test_void_operation_stays_empty(api):
    group_id = api.post("/List/1/Group", json={"Name": "xml", "Notes": ""}).json()["idGroup"]

    response = api.delete(f"/List/1/Group/{group_id}", headers=XML)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"


def test_error_envelope_as_error_element(api):
    response = api.get("/List/999999/Recipients/Subscribed", headers=XML)

    assert response.status_code == 404
    root = parse(response)
    assert root.tag == "Error"
    assert root.find("ErrorCode").text == "404"
    assert root.find("ErrorName").text == "NotFound"
    assert root.find("ErrorDescription").text
    assert root.find("ErrorStack").get(NIL) == "true"


def test_unknown_path_and_bad_token_in_xml(api, http):
    unknown = api.get("/No/Such/Thing", headers=XML)
    assert unknown.status_code == 404
    assert parse(unknown).find("ErrorCode").text == "404"

    expired = http.get("/API/v1.1/Rest/ConsoleService.svc/Console/List", headers={**XML, "Authorization": "Bearer x"})
    assert expired.status_code in (400, 401)
    assert parse(expired).tag == "Error"


def test_statistics_count_in_xml(api, http, tokens):
    headers = {**XML, "Authorization": f"Bearer {tokens['access_token']}"}

    response = http.get(f"{STATISTICS}/Message/1/Count/Views", headers=headers)

    if response.status_code == 200:
        assert parse(response).tag == f"{{{SERIALIZATION_NAMESPACE}}}int"
    else:
        assert parse(response).tag == "Error"


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "*/*",
        "application/json",
        "application/json, application/xml",
        "application/xml;q=0.5, application/json",
        # npm `mailup` and `WyrmxD/mailup-lib` send this.
        "application/x-www-form-urlencoded",
    ],
)
def test_accept_header_keeps_json(api, accept):
    response = api.get("/Authentication/Info", headers={"Accept": accept})

    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "UID" in response.json()


@pytest.mark.parametrize(
    "accept",
    [
        "application/xml",
        "text/xml",
        "application/json;q=0.5, application/xml",
        # Media types are case-insensitive.
        "Application/XML",
        # The exact type of the response, charset included.
        "application/xml; charset=utf-8",
        "text/*, application/json;q=0.9",
    ],
)
def test_accept_header_prefers_xml(api, accept):
    response = api.get("/Authentication/Info", headers={"Accept": accept})

    assert parse(response).tag == "Response"


@pytest.mark.parametrize("accept", ["", "application/xml"])
def test_answer_varies_on_accept(api, accept):
    response = api.get("/Authentication/Info", headers={"Accept": accept})

    assert "Accept" in [name.strip() for name in response.headers["Vary"].split(",")]


def test_lone_surrogate_escape_is_xml_400(api):
    response = api.post("/List/1/Group", data=b'{"Name": "a\\ud800b", "Notes": ""}', headers=XML)

    assert response.status_code == 400
    assert parse(response).find("ErrorName").text == "BadRequest"


def test_serializer_drops_lone_surrogates():
    document = ElementTree.fromstring(to_xml({"A": "a\ud800b\udfff", "B": ["\udc00"]}))

    assert document.find("A").text == "ab"
    assert document.find("B/Item").text is None


def test_serializer_name_ending_in_newline():
    document = ElementTree.fromstring(to_xml({"Name\n": 1}))

    entry = document.find("Entry")
    assert entry.get("Name") == "Name\n"
    assert entry.text == "1"


def test_serializer_object_shapes():
    document = ElementTree.fromstring(
        to_xml({"A": None, "B": [1, [True, False]], "C": {"D": 2.5}, "bad name": "x", "E": "ok\x00\x07!"})
    )

    assert document.find("A").get(NIL) == "true"
    assert [item.text for item in document.find("B")[1]] == ["true", "false"]
    assert document.find("B")[0].text == "1"
    assert document.find("C/D").text == "2.5"
    entry = document.find("Entry")
    assert entry.get("Name") == "bad name"
    assert entry.text == "x"
    assert document.find("E").text == "ok!"


@pytest.mark.parametrize(
    ("value", "tag", "text"),
    [(16, "int", "16"), (2**40, "long", str(2**40)), ("https://x/y.png", "string", "https://x/y.png"), (True, "boolean", "true")],
)
def test_serializer_bare_values(value, tag, text):
    root = ElementTree.fromstring(to_xml(value))

    assert root.tag == f"{{{SERIALIZATION_NAMESPACE}}}{tag}"
    assert root.text == text
