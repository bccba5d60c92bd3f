"""WSMailUpImport operations and their ReturnCodes, called below the SOAP envelope."""

import pytest
from lxml import etree

from integrations import soap_import
from integrations.models import Import
from lists.demo import DEMO_WS_PASSWORD
from lists.models import Recipient, Subscription, WebService
from tests.personas import demo_list

USER = "a1234"


def call(operation, user=USER, password=DEMO_WS_PASSWORD, **params):
    document = soap_import.run(operation, user, password, params)
    assert document.startswith('<?xml version="1.0" encoding="windows-1252" ?>')
    return etree.fromstring(document.split("\n", 1)[1].encode("ascii"))


def return_code(document):
    return int(document.findtext("mailupBody/ReturnCode"))


def magento_doc(*emails):
    subscribers = "".join(
        f'<subscriber email="{email}" Prefix="" Number="" Name="">'
        "<campo1><![CDATA[Zoë]]></campo1><campo2> </campo2><campo3><![CDATA[Acme & Co]]></campo3></subscriber>\n"
        for email in emails
    )
    return f"<subscribers>{subscribers}</subscribers>"


@pytest.mark.parametrize(
    "user, password, code",
    [("", "", -1013), ("a9999", "x", -1001), (USER, "wrong", -1002)],
    ids=["missing", "unknown-user", "wrong-password"],
)
def test_authentication_failures(demo, user, password, code):
    assert return_code(call("GetNlLists", user, password)) == code


def test_service_not_active_is_1007(demo):
    WebService.objects.filter(name=WebService.Name.IMPORT).update(active=False)

    assert return_code(call("GetNlLists")) == -1007


def test_get_nl_lists_lists_groups(demo, settings):
    mailing_list = demo_list()
    mailing_list.groups.create(name='Tom & "Jerry"')

    raw = soap_import.run("GetNlLists", USER, DEMO_WS_PASSWORD, {})
    settings.WSMAILUPIMPORT_ESCAPE_NAMES = True
    document = call("GetNlLists")

    assert 'groupName="Tom & "Jerry""' in raw
    first = document.find("mailupBody/Lists/List")
    assert first.get("idList") == "1"
    assert first.get("listGUID") == str(mailing_list.guid)
    names = [group.get("groupName") for group in first.iter("Group")]
    assert 'Tom & "Jerry"' in names


def test_user_ids(demo):
    assert return_code(call("GetIdWsUser")) == 1234
    assert return_code(call("GetIdUser", userName="a1234")) == 1234
    assert return_code(call("GetIdUser", userName="m1234")) > 0
    assert return_code(call("GetIdUser", userName="nobody")) == -1000
    lists = call("GetNlListsUser", userId=1234).findall("mailupBody/Lists/List")
    assert len(lists) == demo_list().account.lists.count()
    assert call("GetNlListsUser", userId=999).findall("mailupBody/Lists/List") == []


def test_create_group_returns_id_and_reuses_name(demo):
    name = "x" * 60
    first = return_code(call("CreateGroup", idList=1, listGUID="", newGroupName=name))
    second = return_code(call("CreateGroup", idList=1, listGUID="", newGroupName=name))

    assert first > 0
    assert second == first
    assert demo_list().groups.get(pk=first).name == "x" * 50


@pytest.mark.parametrize(
    "params, code",
    [
        ({"idList": 0, "listGUID": "", "newGroupName": "a"}, -301),
        ({"idList": 1, "listGUID": "", "newGroupName": " "}, -302),
        ({"idList": 1, "listGUID": "not-a-guid", "newGroupName": "a"}, -102),
        ({"idList": 99, "listGUID": "", "newGroupName": "a"}, -101),
    ],
    ids=["no-list", "no-name", "bad-guid", "unknown-list"],
)
def test_create_group_errors(demo, params, code):
    assert return_code(call("CreateGroup", **params)) == code


def test_new_process_then_start_and_details(demo):
    guid = str(demo_list().guid)
    created = call("NewImportProcess", idList=1, listGUID=guid, xmlDoc=magento_doc("anna@example.com"), importType=1)
    process_id = return_code(created)
    assert process_id > 0
    assert not Recipient.objects.exists()

    before = call("GetProcessDetails", idList=1, listGUID=guid, idProcess=process_id)
    started = call("StartProcess", idList=1, listGUID=guid, idProcess=process_id)
    details = call("GetProcessDetails", idList=1, listGUID=guid, idProcess=process_id)

    assert before.findtext("mailupBody/ImportProcess/StatusCode") == "1"
    assert return_code(started) == 0
    process = details.find("mailupBody/ImportProcess")
    assert process.get("idProcess") == str(process_id)
    assert process.findtext("StatusCode") == "3"
    assert process.findtext("TotalContacts") == "1"
    assert process.findtext("NewEmail") == "1"
    assert process.findtext("IsRunning") == "false"
    assert Recipient.objects.get().fields == {"1": "Zoë", "3": "Acme & Co"}


def test_start_import_processes_returns_a_triple_per_list(demo):
    document = call(
        "StartImportProcesses",
        listsIDs="1;2",
        listsGUIDs="",
        xmlDoc=magento_doc("anna@example.com", "bruno@example.com"),
        groupsIDs="",
        importType=1,
        mobileInputType=2,
    )

    codes = [element.text for element in document.iter("ReturnCode")]
    assert codes == ["0", "0", "0"]
    list_ids = [element.text for element in document.iter("listID")]
    assert list_ids == ["1", "2"]
    assert Subscription.objects.count() == 4


def test_start_import_processes_starts_created_ones(demo):
    process_id = return_code(call("NewImportProcess", idList=1, listGUID="", xmlDoc=magento_doc("anna@example.com")))

    document = call("StartImportProcesses", listsIDs="1", listsGUIDs="", xmlDoc="")

    assert document.findtext("mailupBody/processes/process/processID") == str(process_id)
    assert Recipient.objects.filter(email="anna@example.com").exists()


def test_busy_list_gives_601(demo):
    process_id = return_code(call("NewImportProcess", idList=1, listGUID="", xmlDoc=magento_doc("anna@example.com")))
    Import.objects.exclude(pk=process_id).delete()
    Import.objects.create(account=demo_list().account, list=demo_list(), kind=Import.Kind.SOAP, status=Import.Status.RUNNING)

    assert return_code(call("StartProcess", idList=1, listGUID="", idProcess=process_id)) == -601


@pytest.mark.parametrize(
    "params, code",
    [
        ({"listsIDs": "1,2", "listsGUIDs": "x"}, -450),
        ({"listsIDs": "1", "listsGUIDs": "", "xmlDoc": "   "}, -401),
        ({"listsIDs": "1", "listsGUIDs": "", "xmlDoc": "<subscribers><subscriber email="}, -402),
        ({"listsIDs": "1", "listsGUIDs": "", "xmlDoc": magento_doc("a@example.com"), "importType": 9}, -400),
        ({"listsIDs": "1", "listsGUIDs": "", "xmlDoc": magento_doc("a@example.com"), "groupsIDs": "999999"}, -400),
    ],
    ids=["count-mismatch", "empty", "malformed", "import-type", "foreign-group"],
)
def test_start_import_processes_errors(demo, params, code):
    assert return_code(call("StartImportProcesses", **params)) == code
    assert not Recipient.objects.exists()


def test_unknown_process_gives_501(demo):
    assert return_code(call("GetProcessDetails", idList=1, listGUID="", idProcess=424242)) == -501
