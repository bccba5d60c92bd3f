"""MailupSend users, credits, user hashes, templates, messages, CloneMessage and GetListIdentity over SOAP with zeep."""

import pytest
from django.contrib.auth import get_user_model

from lists import services as lists_services
from lists.models import Account, AccountUser, List
from sending import services
from sending.models import Message, SmsMessage, Template
from tests.personas import demo_list
from tests.sending.soap_clients import client, error_code, login, parse


@pytest.fixture
def send(demo, server_url):
    return client(server_url, "MailupSend")


@pytest.fixture
def manage(demo, server_url):
    return client(server_url, "MailupManage")


@pytest.fixture
def key(send):
    return login(send)


@pytest.fixture
def other_console(demo):
    """Console 5678 with one list, one message, one template and one panel user."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    mailing_list = List.objects.create(account=account, list_id=1, name="Altro", sender_email="altro@example.com", auto_id="shared-key")
    message = services.create_message(mailing_list, "Altro messaggio", html="<p>altro</p>")
    Template.objects.create(account=account, title="Altro modello", html="<p>t</p>")
    user = get_user_model().objects.create_user("m5678", password="other-console-5678")
    AccountUser.objects.create(account=account, user=user)
    return {"account": account, "list": mailing_list, "message": message, "user_id": user.pk}


def console_user_id():
    return get_user_model().objects.get(username="m1234").pk


# --- GetIdUser, GetListsUser ---------------------------------------------------------


def test_get_id_user_of_ws_user(send, key):
    result = parse(send.GetIdUser(key))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "idUser"]
    assert result.tag == "GetIdUserResult"
    assert result.findtext("errorCode") == "0"
    assert result.findtext("idUser") == "1234"


def test_get_id_user_of_console_user(send):
    key = login(send, "m1234", "demo-console-1234")

    assert parse(send.GetIdUser(key)).findtext("idUser") == str(console_user_id())


def test_get_id_user_matches_wsmailupimport(demo):
    account = demo_list().account

    assert lists_services.user_id_for_name(account, "a1234") == 1234
    assert lists_services.user_id_for_name(account, "M1234") == console_user_id()
    assert lists_services.user_id_for_name(account, "nobody") is None


def test_get_id_user_bad_key(send):
    result = parse(send.GetIdUser("not-a-key"))

    assert result.findtext("errorCode") == "-20"
    assert result.findtext("idUser") is None


@pytest.mark.parametrize("user", ["ws", "console"])
def test_get_lists_user_known_user(send, key, user):
    user_id = 1234 if user == "ws" else console_user_id()

    result = parse(send.GetListsUser(key, user_id))

    assert result.tag == "GetListsUserResult"
    assert result.findtext("errorCode") == "0"
    assert [item.findtext("listID") for item in result.findall("lists/list")] == ["1", "2"]
    assert result.findtext("lists/list/listName") == "Newsletter"


def test_get_lists_user_of_other_console_is_empty(send, key, other_console):
    for user_id in (5678, other_console["user_id"], 0, -1):
        result = parse(send.GetListsUser(key, user_id))

        assert result.findtext("errorCode") == "0"
        assert result.find("lists") is not None
        assert result.findall("lists/list") == []


def test_manage_serves_user_operations(manage):
    key = login(manage)

    assert parse(manage.GetIdUser(key)).findtext("idUser") == "1234"
    assert len(parse(manage.GetListsUser(key, 1234)).findall("lists/list")) == 2
    assert error_code(manage.GetListsUser("expired", 1234)) == -20


# --- GetUserAccess, CheckUserHash -----------------------------------------------------


def test_user_hash_round_trip(send, key):
    access = parse(send.GetUserAccess(1234, key))

    assert [child.tag for child in access] == ["errorCode", "errorDescription", "userID", "userHash"]
    assert access.findtext("userID") == "1234"
    user_hash = access.findtext("userHash")
    assert len(user_hash) == 64
    checked = parse(send.CheckUserHash(1234, user_hash, key))
    assert [child.tag for child in checked] == ["errorCode", "errorDescription", "valid"]
    assert checked.findtext("valid") == "true"


def test_user_hash_is_per_user(send, key):
    ws_hash = parse(send.GetUserAccess(1234, key)).findtext("userHash")
    console_hash = parse(send.GetUserAccess(console_user_id(), key)).findtext("userHash")

    assert ws_hash != console_hash
    assert parse(send.CheckUserHash(console_user_id(), ws_hash, key)).findtext("valid") == "false"
    assert parse(send.CheckUserHash(1234, console_hash, key)).findtext("valid") == "false"


@pytest.mark.parametrize("user_hash", ["", "0" * 64, "not a hash"])
def test_check_user_hash_rejects_wrong_hash(send, key, user_hash):
    result = parse(send.CheckUserHash(1234, user_hash, key))

    assert result.findtext("errorCode") == "0"
    assert result.findtext("valid") == "false"


def test_user_hash_is_per_account(send, key, other_console):
    other_key = parse(send.Login("m5678", "other-console-5678", "c5678.localhost")).findtext("accessKey")
    other_user = other_console["user_id"]
    other_hash = parse(send.GetUserAccess(other_user, other_key)).findtext("userHash")

    assert parse(send.CheckUserHash(other_user, other_hash, other_key)).findtext("valid") == "true"
    assert parse(send.CheckUserHash(other_user, other_hash, key)).findtext("valid") == "false"
    assert lists_services.make_user_hash(other_console["account"], 1234) != parse(send.GetUserAccess(1234, key)).findtext("userHash")


def test_get_user_access_of_other_console_user(send, key, other_console):
    for user_id in (5678, other_console["user_id"], 0):
        result = parse(send.GetUserAccess(user_id, key))

        assert result.findtext("errorCode") == "-2"
        assert "userId" in result.findtext("errorDescription")


def test_user_hash_bad_key(send):
    assert error_code(send.GetUserAccess(1234, "bad")) == -20
    assert error_code(send.CheckUserHash(1234, "x", "bad")) == -20


# --- GetCredits, GetCreditsLists -----------------------------------------------------


def test_get_credits(send, key):
    assert send.GetCredits(key) == (
        "<GetCreditsResult><errorCode>0</errorCode><errorDescription></errorDescription>"
        "<credits>0</credits></GetCreditsResult>"
    )


def test_get_credits_lists(send, key):
    assert send.GetCreditsLists(key, 2) == (
        "<GetCreditsListsResult><errorCode>0</errorCode><errorDescription></errorDescription>"
        "<listID>2</listID><credits>0</credits></GetCreditsListsResult>"
    )


def test_get_credits_lists_unknown_list(send, key, other_console):
    assert error_code(send.GetCreditsLists(key, 99)) == -30
    assert error_code(send.GetCreditsLists(key, 0)) == -30
    assert error_code(send.GetCredits("bad")) == -20


def test_credits_match_rest_details(demo):
    credits = lists_services.account_credits(demo_list().account)

    assert credits.total == 0
    assert credits.by_list == {1: 0, 2: 0}


# --- GetTemplates ---------------------------------------------------------------------


def test_get_templates(send, key, other_console):
    first = Template.objects.create(account=demo_list().account, title="Natale", html="<p>n</p>")
    second = Template.objects.create(account=demo_list().account, title="Saldi & sconti", html="<p>s</p>")

    result = parse(send.GetTemplates(key, 1))

    assert result.tag == "GetTemplatesResult"
    assert result.findtext("errorCode") == "0"
    items = result.findall("templates/template")
    assert [item.findtext("templateID") for item in items] == [str(first.pk), str(second.pk)]
    assert [item.findtext("templateName") for item in items] == ["Natale", "Saldi & sconti"]


def test_get_templates_empty(send, key):
    result = parse(send.GetTemplates(key, 1))

    assert result.find("templates") is not None
    assert result.findall("templates/template") == []


def test_get_templates_unknown_list(send, key, other_console):
    assert error_code(send.GetTemplates(key, 99)) == -30
    assert error_code(send.GetTemplates("bad", 1)) == -20


# --- GetMessages ----------------------------------------------------------------------


def test_get_messages_lists_email_and_sms(send, key):
    email = services.create_message(demo_list(), "Offerte", html="<p>x</p>", note="dicembre")
    sms = services.create_sms_message(demo_list(), "Ciao", subject="Promo SMS", notes="breve")
    services.create_message(demo_list(2), "Altra lista", html="<p>y</p>")

    result = parse(send.GetMessages(key, 1))

    assert result.tag == "GetMessagesResult"
    assert result.findtext("errorCode") == "0"
    items = result.findall("list/newsletters/newsletter")
    assert [item.findtext("newsletterID") for item in items] == [str(email.pk), str(sms.pk)]
    assert [item.findtext("subject") for item in items] == ["Offerte", "Promo SMS"]
    assert [item.findtext("note") for item in items] == ["dicembre", "breve"]
    assert [item.findtext("type") for item in items] == ["email", "sms"]
    assert [child.tag for child in items[0]] == ["newsletterID", "subject", "note", "creationdate", "type"]
    assert len(items[1].findtext("creationdate")) == len("16/09/2016 15:57:35")


def test_get_messages_unknown_list(send, key, other_console):
    assert error_code(send.GetMessages(key, 99)) == -30
    assert error_code(send.GetMessages("bad", 1)) == -20


# --- CloneMessage ---------------------------------------------------------------------


def test_clone_message_by_list_id(send, key):
    original = services.create_message(demo_list(), "Originale", html="<p>o</p>", note="n")

    copy_id = send.CloneMessage(key, "1", "", original.pk, "Copia")

    assert isinstance(copy_id, int)
    copy = Message.objects.get(pk=copy_id)
    assert copy.pk != original.pk
    assert copy.list_id == original.list_id
    assert copy.subject == "Copia"
    assert copy.html == "<p>o</p>"
    assert copy.note == "n"


def test_clone_message_by_guid_keeps_subject(send, key):
    original = services.create_message(demo_list(2), "Originale", html="<p>o</p>")

    copy_id = send.CloneMessage(key, "", str(demo_list(2).guid), original.pk, "  ")

    assert Message.objects.get(pk=copy_id).subject == "Originale"


@pytest.mark.parametrize(
    "list_id, guid, code",
    [
        ("", "", -2),
        ("uno", "", -2),
        ("1", "not-a-guid", -2),
        ("99", "", -30),
        ("2", "list-1-guid", -30),
        ("", "other-guid", -30),
    ],
)
def test_clone_message_bad_list(send, key, other_console, list_id, guid, code):
    original = services.create_message(demo_list(), "Originale", html="<p>o</p>")
    guids = {"list-1-guid": str(demo_list().guid), "other-guid": str(other_console["list"].guid)}

    assert send.CloneMessage(key, list_id, guids.get(guid, guid), original.pk, "Copia") == code
    assert Message.objects.filter(list__account__console_id=1234).count() == 1


def test_clone_message_other_console_message(send, key, other_console):
    before = Message.objects.count()

    assert send.CloneMessage(key, "1", "", other_console["message"].pk, "Copia") == -32
    assert send.CloneMessage(key, "1", "", 0, "Copia") == -32
    assert Message.objects.count() == before


def test_clone_message_bad_subject_and_key(send, key):
    original = services.create_message(demo_list(), "Originale", html="<p>o</p>")

    assert send.CloneMessage(key, "1", "", original.pk, "Riga\nspezzata") == -2
    assert send.CloneMessage("bad", "1", "", original.pk, "Copia") == -20
    assert Message.objects.count() == 1


# --- GetListIdentity, GetListIdentity_st -----------------------------------------------


def test_create_list_stores_auto_id(send, key, other_console):
    created = parse(send.CreateList(key, "Magazine", "mag-1")).find("Lists/List")

    result = parse(send.GetListIdentity(key, "mag-1"))

    assert result.tag == "GetListIdentity"
    assert [child.tag for child in result] == ["Lists"]
    found = result.find("Lists/List")
    assert dict(found.attrib) == dict(created.attrib)
    assert found.get("Name") == "Magazine"


def test_get_list_identity_st(send, key):
    first = parse(send.CreateList_st(key, "Uno", "chiave")).find("Lists/List")
    second = parse(send.CreateList(key, "Due", "chiave")).find("Lists/List")
    parse(send.CreateList(key, "Tre", "altra"))

    result = parse(send.GetListIdentity_st(key, "chiave"))

    assert result.tag == "GetListIdentity_st"
    assert [child.tag for child in result] == ["errorCode", "errorDescription", "Lists"]
    assert result.findtext("errorCode") == "0"
    assert [item.get("Id") for item in result.findall("Lists/List")] == [first.get("Id"), second.get("Id")]
    assert [item.get("Guid") for item in result.findall("Lists/List")] == [first.get("Guid"), second.get("Guid")]


@pytest.mark.parametrize("auto_id", ["", "   ", "unknown", "shared-key"])
def test_get_list_identity_unknown_key(send, key, other_console, auto_id):
    plain = parse(send.GetListIdentity(key, auto_id))
    coded = parse(send.GetListIdentity_st(key, auto_id))

    assert plain.tag == "GetListIdentity"
    assert [child.tag for child in plain] == ["Error"]
    assert plain.findtext("Error")
    assert coded.tag == "GetListIdentity_st"
    assert coded.findtext("errorCode") == ("-2" if not auto_id.strip() else "-30")
    assert coded.findtext("errorDescription")


def test_get_list_identity_bad_key(send):
    assert [child.tag for child in parse(send.GetListIdentity("bad", "x"))] == ["Error"]
    assert error_code(send.GetListIdentity_st("bad", "x")) == -20


def test_create_list_rejects_long_auto_id(send, key):
    before = List.objects.count()

    result = parse(send.CreateList_st(key, "Lunga", "x" * 201))

    assert result.findtext("errorCode") == "-2"
    assert "autoId" in result.findtext("errorDescription")
    assert List.objects.count() == before


# --- WSDL -------------------------------------------------------------------------------


def test_wsdl_lists_operations(send, manage):
    operations = set(send._binding._operations)
    assert {
        "GetIdUser",
        "GetListsUser",
        "GetCredits",
        "GetCreditsLists",
        "GetUserAccess",
        "CheckUserHash",
        "GetTemplates",
        "GetMessages",
        "CloneMessage",
        "GetListIdentity",
        "GetListIdentity_st",
    } <= operations
    assert {"GetIdUser", "GetListsUser"} <= set(manage._binding._operations)
    clone = send._binding._operations["CloneMessage"]
    assert [name for name, _ in clone.input.body.type.elements] == ["accessKey", "listId", "listGuid", "messageToCloneId", "subject"]
    access = send._binding._operations["GetUserAccess"]
    assert [name for name, _ in access.input.body.type.elements] == ["userId", "accessKey"]
