"""ConsoleService lists and groups: MailUp's two list shapes, group listing and creation."""

from lists.models import Group
from tests.rest.conftest import assert_envelope

GUID_1 = "0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e01"


def test_console_list_shape(api):
    body = api.get("/List").json()
    assert body["TotalElementsCount"] == 2
    assert body["Items"][0] == {
        "Company": "Demo S.r.l.",
        "Description": "",
        "IdList": 1,
        "ListGuid": GUID_1,
        "Name": "Newsletter",
    }


def test_user_lists_shape(api):
    item = api.get("/User/Lists").json()["Items"][0]
    assert item == {"Company": "Demo S.r.l.", "Description": "", "Name": "Newsletter", "idList": 1, "listGuid": GUID_1}


def test_list_filter_in_brackets(api):
    # taniot/gravityforms-to-mailup sends filterby=[idList==2].
    items = api.get("/List?filterby=[idList==2]").json()["Items"]
    assert [item["IdList"] for item in items] == [2]


def test_name_filter_with_quotes(api):
    items = api.get("/User/Lists?filterby=\"Name=='Offers'\"").json()["Items"]
    assert [item["idList"] for item in items] == [2]


def test_groups_of_list(api):
    body = api.get("/List/1/Groups?orderby=Name desc").json()
    assert [item["Name"] for item in body["Items"]] == ["Prospect", "Clienti"]
    item = body["Items"][0]
    assert set(item) == {"Count", "Deletable", "Name", "Notes", "idGroup", "idList"}
    assert item["idList"] == 1


def test_create_group_returns_group(api):
    response = api.post("/List/2/Group", json={"Name": "Nuovi", "Notes": "da REST", "Deletable": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Name"] == "Nuovi"
    assert body["idList"] == 2
    assert Group.objects.get(pk=body["idGroup"]).list.list_id == 2


def test_create_group_without_name_is_400(api):
    assert_envelope(api.post("/List/2/Group", json={"Notes": "x"}), 400, "BadRequest")
