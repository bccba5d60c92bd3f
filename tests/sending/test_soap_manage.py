"""MailupManage over SOAP with zeep: lists and groups."""

import pytest

from lists.models import Group, GroupMembership, List, Subscription
from tests.personas import demo_list
from tests.sending.campaigns import subscribe
from tests.sending.soap_clients import client, error_code, login, options, parse


@pytest.fixture
def manage(demo, sink, server_url):
    return client(server_url, "MailupManage")


@pytest.fixture
def key(manage):
    return login(manage)


def test_get_lists_and_groups(manage, key):
    assert parse(manage.GetLists(key)).findtext("lists/list/listName") == "Newsletter"
    assert [group.findtext("groupName") for group in parse(manage.GetGroups(key, 2)).findall("list/groups/group")] == ["VIP"]


def test_create_group(manage, key):
    result = parse(manage.CreateGroup(key, 1, "Rivenditori", "solo Nord"))

    group = Group.objects.get(name="Rivenditori")
    assert result.tag == "CreateGroupResult"
    assert [child.tag for child in result] == ["errorCode", "errorDescription", "groupID"]
    assert result.findtext("groupID") == str(group.pk)
    assert (group.list, group.notes) == (demo_list(), "solo Nord")


def test_create_group_without_name(manage, key):
    assert error_code(manage.CreateGroup(key, 1, " ", "")) == -2
    assert error_code(manage.CreateGroup(key, 77, "X", "")) == -30


def test_update_group(manage, key):
    group = Group.objects.get(name="VIP")

    result = parse(manage.UpdateGroup(key, group.pk, options(groupName="VIP Oro", GROUPNOTES="top")))

    group.refresh_from_db()
    assert result.findtext("errorCode") == "0"
    assert (group.name, group.notes) == ("VIP Oro", "top")


@pytest.mark.parametrize("chosen, code", [(options(color="red"), -2), (options(groupName=""), -2)])
def test_update_group_rejects_bad_options(manage, key, chosen, code):
    group = Group.objects.get(name="VIP")

    assert error_code(manage.UpdateGroup(key, group.pk, chosen)) == code
    assert Group.objects.get(pk=group.pk).name == "VIP"


def test_update_group_of_other_console(manage, key):
    assert error_code(manage.UpdateGroup(key, 987654, options(groupName="x"))) == -31


@pytest.mark.parametrize("delete_users", [False, True])
def test_delete_group(manage, key, delete_users):
    clienti = Group.objects.get(name="Clienti")
    prospect = Group.objects.get(name="Prospect")
    anna = subscribe("anna@example.com", group_ids=[clienti.pk, prospect.pk])
    bruno = subscribe("bruno@example.com")

    result = parse(manage.DeleteGroup(key, 1, clienti.pk, delete_users))

    assert result.findtext("errorCode") == "0"
    assert not Group.objects.filter(pk=clienti.pk).exists()
    assert Subscription.objects.filter(recipient=anna).exists() is not delete_users
    assert GroupMembership.objects.filter(recipient=anna, group=prospect).exists() is not delete_users
    assert Subscription.objects.filter(recipient=bruno).exists()


def test_delete_group_of_other_list(manage, key):
    vip = Group.objects.get(name="VIP")

    assert error_code(manage.DeleteGroup(key, 1, vip.pk, False)) == -31
    assert Group.objects.filter(pk=vip.pk).exists()


def test_create_list_copies_settings(manage, key):
    chosen = options(description="Per i rivenditori", from_name="Rivendite", from_email="rivendite@demo.example")

    result = parse(manage.CreateList(key, "Rivenditori", "2", False, chosen))

    created = List.objects.get(name="Rivenditori")
    assert [child.tag for child in result] == ["errorCode", "errorDescription", "listID", "listGUID"]
    assert result.findtext("listID") == "3"
    assert result.findtext("listGUID") == str(created.guid)
    assert (created.description, created.sender_name, created.sender_email) == (
        "Per i rivenditori",
        "Rivendite",
        "rivendite@demo.example",
    )
    assert created.language == "en"


def test_create_list_copy_template(manage, key):
    List.objects.filter(list_id=1).update(welcome_subject="Benvenuto!")

    parse(manage.CreateList(key, "Con testi", "1", True, None))
    parse(manage.CreateList(key, "Senza testi", "1", False, None))

    assert List.objects.get(name="Con testi").welcome_subject == "Benvenuto!"
    assert List.objects.get(name="Senza testi").welcome_subject == ""


@pytest.mark.parametrize(
    "name, default_settings, chosen, code",
    [
        ("", "", None, -2),
        ("X", "abc", None, -2),
        ("X", "42", None, -30),
        ("X", "", options(color="red"), -2),
        ("X", "", options(from_email="nope"), -2),
        ("X", "", options(language="de"), -2),
    ],
)
def test_create_list_rejects_bad_input(manage, key, name, default_settings, chosen, code):
    assert error_code(manage.CreateList(key, name, default_settings, False, chosen)) == code
    assert List.objects.count() == 2


def test_update_list(manage, key):
    result = parse(manage.UpdateList(key, 2, options(name="Offerte", language="it", reply_to="info@demo.example")))

    offers = demo_list(2)
    assert result.findtext("errorCode") == "0"
    assert (offers.name, offers.language, offers.reply_to) == ("Offerte", "it", "info@demo.example")
    assert error_code(manage.UpdateList(key, 2, options(name=""))) == -2


def test_delete_list(manage, key):
    subscribe("anna@example.com", list_id=2)

    assert error_code(manage.DeleteList(key, 2)) == 0
    assert list(List.objects.values_list("list_id", flat=True)) == [1]
    assert error_code(manage.DeleteList(key, 2)) == -30


def test_soap12_port(demo, server_url):
    manage = client(server_url, "MailupManage", soap12=True)
    key = login(manage)

    assert error_code(manage.CreateGroup(key, 1, "Via 1.2", "")) == 0
