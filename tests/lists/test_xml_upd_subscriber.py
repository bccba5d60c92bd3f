"""xmlUpdSubscriber.aspx over real HTTP: fields and groups of a recipient who is on the list."""

import pytest

from lists.models import Subscription, SubscriptionEvent
from tests.lists.pages import LIST1_GUID, LIST2_GUID, events, group_id, group_names, recipient, row_counts, status

PAGE = "/frontend/xmlUpdSubscriber.aspx"
Status = Subscription.Status


def update(client, page=PAGE, **params):
    response = client.get(page, params=params)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    return response.text


def subscribe(http, email, confirm="0", **params):
    response = http.get(
        "/frontend/xmlSubscribe.aspx",
        params={"List": "1", "Email": email, "Confirm": confirm, "retCode": "1", **params},
    )
    assert response.text == "0"


def test_fields_updated(demo, http):
    subscribe(http, "upd@example.com", csvFldNames="campo1;campo2", csvFldValues="Mario;Rossi")

    fields = {"csvFldNames": "campo2;campo7", "csvFldValues": "Bianchi;Lazio"}
    code = update(http, ListGuid=LIST1_GUID, List="1", Email="upd@example.com", **fields)
    assert code == "0"
    assert recipient("upd@example.com").fields == {"1": "Mario", "2": "Bianchi", "7": "Lazio"}
    [change] = events("upd@example.com", kind=SubscriptionEvent.Kind.PROFILE_CHANGE)
    assert change.source == "API"
    assert change.details["fields"] == [2, 7]


def test_empty_value_clears_field(demo, http):
    subscribe(http, "clear@example.com", csvFldNames="campo1", csvFldValues="Mario")

    code = update(http, ListGuid=LIST1_GUID, List="1", Email="clear@example.com", csvFldNames="campo1", csvFldValues="")
    assert code == "0"
    assert recipient("clear@example.com").fields == {"1": ""}


def test_magento_reset_of_cart_fields(demo, http):
    subscribe(http, "cart@example.com", csvFldNames="campo20;campo21;campo22", csvFldValues="2026-01-01;99.90;77")

    response = http.get(
        f"/frontend/XmlUpdSubscriber.aspx?ListGuid={LIST1_GUID}&List=1&Email=cart%40example.com"
        "&csvFldNames=campo22;campo21;campo20&csvFldValues=0;0;0"
    )
    assert response.text == "0"
    assert recipient("cart@example.com").fields == {"20": "0", "21": "0", "22": "0"}


def test_no_change_records_no_event(demo, http):
    subscribe(http, "same@example.com", csvFldNames="campo1", csvFldValues="Same")

    fields = {"csvFldNames": "campo1", "csvFldValues": "Same"}
    code = update(http, ListGuid=LIST1_GUID, List="1", Email="same@example.com", **fields)
    assert code == "0"
    assert events("same@example.com", kind=SubscriptionEvent.Kind.PROFILE_CHANGE) == []


@pytest.mark.parametrize("separator", [";", ","])
def test_groups_added_with_either_separator(demo, http, separator):
    subscribe(http, "groups@example.com")

    groups = f"{group_id('Clienti')}{separator}{group_id('Prospect')}"
    assert update(http, ListGuid=LIST1_GUID, List="1", Email="groups@example.com", Group=groups) == "0"
    assert group_names("groups@example.com") == ["Clienti", "Prospect"]


@pytest.mark.parametrize("replace", ["1", "true", "TRUE", "True"])
def test_replace_true_replaces_groups(demo, http, replace):
    subscribe(http, "swap@example.com", Group=str(group_id("Clienti")))

    code = update(
        http, ListGuid=LIST1_GUID, List="1", Email="swap@example.com", Group=str(group_id("Prospect")), Replace=replace
    )
    assert code == "0"
    assert group_names("swap@example.com") == ["Prospect"]
    [change] = events("swap@example.com", kind=SubscriptionEvent.Kind.PROFILE_CHANGE)
    assert change.details["groups_removed"] == [group_id("Clienti")]


@pytest.mark.parametrize("replace", ["0", "false", "False", ""])
def test_replace_false_keeps_groups(demo, http, replace):
    subscribe(http, "keep@example.com", Group=str(group_id("Clienti")))

    code = update(
        http, ListGuid=LIST1_GUID, List="1", Email="keep@example.com", Group=str(group_id("Prospect")), Replace=replace
    )
    assert code == "0"
    assert group_names("keep@example.com") == ["Clienti", "Prospect"]


def test_replace_with_semicolon_and_comma_groups(demo, http):
    subscribe(http, "mixed@example.com", Group=str(group_id("Clienti")))

    response = http.get(
        f"{PAGE}?ListGuid={LIST1_GUID}&list=1&email=mixed%40example.com"
        f"&group={group_id('Clienti')};{group_id('Prospect')},&replace=true"
    )
    assert response.text == "0"
    assert group_names("mixed@example.com") == ["Clienti", "Prospect"]


def test_replace_keeps_groups_of_other_lists(demo, http):
    subscribe(http, "multi@example.com", List="1,2", Group=f"{group_id('Clienti')},{group_id('VIP')}")

    code = update(
        http, ListGuid=LIST1_GUID, List="1", Email="multi@example.com", Group=str(group_id("Prospect")), Replace="1"
    )
    assert code == "0"
    assert group_names("multi@example.com") == ["Prospect", "VIP"]


def test_groups_of_other_lists_ignored(demo, http):
    subscribe(http, "only@example.com")

    groups = f"{group_id('VIP')};{group_id('Clienti')};424242"
    assert update(http, ListGuid=LIST1_GUID, List="1", Email="only@example.com", Group=groups) == "0"
    assert group_names("only@example.com") == ["Clienti"]


@pytest.mark.parametrize("state", ["pending", "unsubscribed"])
def test_recipient_in_any_state_is_updated(demo, http, state):
    subscribe(http, "any@example.com", confirm="1")
    if state == "unsubscribed":
        http.get(
            "/frontend/xmlUnSubscribe.aspx", params={"ListGuid": LIST1_GUID, "List": "1", "Email": "any@example.com"}
        )

    code = update(http, ListGuid=LIST1_GUID, List="1", Email="any@example.com", csvFldNames="campo1", csvFldValues="Ok")
    assert code == "0"
    assert recipient("any@example.com").fields == {"1": "Ok"}
    assert status("any@example.com") == state


def test_recipient_not_in_list_returns_1(demo, http):
    subscribe(http, "two@example.com", List="2")

    code = update(http, ListGuid=LIST1_GUID, List="1", Email="two@example.com", csvFldNames="campo1", csvFldValues="No")
    assert code == "1"
    assert recipient("two@example.com").fields == {}


def test_unknown_recipient_returns_1(demo, http):
    fields = {"csvFldNames": "campo1", "csvFldValues": "x"}
    code = update(http, ListGuid=LIST1_GUID, List="1", Email="ghost@example.com", **fields)
    assert code == "1"
    assert row_counts()["recipients"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"List": "1"},
        {"ListGuid": "", "List": "1"},
        {"ListGuid": LIST2_GUID, "List": "1"},
        {"ListGuid": "{" + LIST1_GUID + "}x", "List": "1"},
        {"ListGuid": LIST1_GUID, "List": "uno"},
        {"ListGuid": LIST1_GUID, "List": "1", "csvFldNames": "campo1;campo2", "csvFldValues": "a"},
        {"ListGuid": LIST1_GUID, "List": "1", "csvFldNames": "campo1", "csvFldValues": "Via Roma; 1"},
        {"ListGuid": LIST1_GUID, "List": "1", "csvFldNames": "campo1", "csvFldValues": "a--b"},
        {"ListGuid": LIST1_GUID, "List": "1", "csvFldNames": "nome", "csvFldValues": "a"},
        {"ListGuid": LIST1_GUID, "List": "1", "Group": "Clienti"},
        {"ListGuid": LIST1_GUID, "List": "1", "Replace": "maybe"},
    ],
)
def test_wrong_parameters_return_1_without_change(demo, http, params):
    subscribe(http, "fixed@example.com", csvFldNames="campo1", csvFldValues="Fixed", Group=str(group_id("Clienti")))
    before = row_counts()

    code = update(http, Email="fixed@example.com", **{"csvFldNames": "campo1", "csvFldValues": "Changed", **params})
    assert code == "1"
    assert recipient("fixed@example.com").fields == {"1": "Fixed"}
    assert group_names("fixed@example.com") == ["Clienti"]
    assert row_counts() == before


@pytest.mark.parametrize(
    "page", ["/frontend/Updsubscriber.aspx", "/frontend/updSubscriber.aspx", "/frontend/xmlupdsubscriber.aspx"]
)
def test_older_page_names(demo, http, page):
    subscribe(http, "old@example.com")

    fields = {"csvFldNames": "campo3", "csvFldValues": "Acme"}
    code = update(http, page, ListGuid=LIST1_GUID, List="1", Email="old@example.com", **fields)
    assert code == "0"
    assert recipient("old@example.com").fields == {"3": "Acme"}


def test_unregistered_caller_gets_minus_1011(demo, http, outsider):
    subscribe(http, "safe@example.com")

    fields = {"csvFldNames": "campo1", "csvFldValues": "x"}
    code = update(outsider, ListGuid=LIST1_GUID, List="1", Email="safe@example.com", **fields)
    assert code == "-1011"
    assert recipient("safe@example.com").fields == {}
