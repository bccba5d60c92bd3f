"""WSMailUpImport over real SOAP on 127.0.0.1: zeep with the official Magento extension's call shapes, and raw envelopes."""

import html

import pytest
import requests
import zeep
from lxml import etree

from integrations.models import Import
from lists.demo import DEMO_WS_PASSWORD
from lists.models import GroupMembership, Recipient, Subscription
from tests.personas import demo_list

NAMESPACE = "http://ws.mailupnet.it/"
PATH = "/Services/WSMailUpImport.asmx"


@pytest.fixture
def client(demo, server_url):
    return zeep.Client(f"{server_url}/services/WSMailupImport.asmx?WSDL")


def authentication(client, password=DEMO_WS_PASSWORD):
    """The header as the official Magento extension sends it: User and Password, no encType."""
    header = client.get_element(f"{{{NAMESPACE}}}Authentication")
    return header(User="a1234", Password=password)


def mailup_body(result):
    return etree.fromstring(result.split("\n", 1)[1].encode("ascii")).find("mailupBody")


def magento_xml_doc(*customers):
    """An xmlDoc built as the Magento extension builds it: CDATA values, and a single space for an empty field."""
    subscribers = ""
    for email, first_name, company in customers:
        subscribers += f'<subscriber email="{email}" Prefix="" Number="" Name="">'
        subscribers += f"<campo1><![CDATA[{first_name}]]></campo1><campo2> </campo2><campo3><![CDATA[{company}]]></campo3>"
        subscribers += "</subscriber>\n"
    return f"<subscribers>{subscribers}</subscribers>"


def test_magento_start_import_processes(client):
    mailing_list = demo_list()
    group = mailing_list.groups.first()
    xml_doc = magento_xml_doc(("anna@example.com", "Zoë", "Rossi & Figli"), ("bruno@example.com", "Bruno", "Acme"))

    result = client.service.StartImportProcesses(
        listsIDs=str(mailing_list.list_id),
        listsGUIDs=str(mailing_list.guid),
        xmlDoc=xml_doc,
        groupsIDs=str(group.pk),
        importType=1,
        mobileInputType=2,
        asPending=False,
        ConfirmEmail=False,
        asOptOut=False,
        forceOptIn=False,
        replaceGroups=False,
        _soapheaders=[authentication(client)],
    )

    body = mailup_body(result)
    codes = [element.text for element in body.iter("ReturnCode")]
    assert len(codes) >= 2
    assert set(codes) == {"0"}
    assert body.findtext("processes/process/listID") == "1"
    anna = Recipient.objects.get(email="anna@example.com")
    assert anna.fields == {"1": "Zoë", "3": "Rossi & Figli"}
    assert GroupMembership.objects.filter(recipient=anna, group=group).exists()
    assert Subscription.objects.filter(list=mailing_list, status="subscribed").count() == 2


def test_magento_new_process_then_details(client):
    headers = [authentication(client)]
    guid = str(demo_list().guid)
    process_id = client.service.NewImportProcess(
        idList=1,
        listGUID=guid,
        xmlDoc=magento_xml_doc(("anna@example.com", "Anna", "Acme")),
        idGroups="",
        importType=4,
        mobileInputType=2,
        asPending=False,
        ConfirmEmail=False,
        asOptOut=False,
        forceOptIn=False,
        replaceGroups=False,
        idConfirmNL=0,
        _soapheaders=headers,
    )
    new_id = int(mailup_body(process_id).findtext("ReturnCode"))

    started = client.service.StartProcess(idList=1, listGUID=guid, idProcess=new_id, _soapheaders=headers)
    details = client.service.GetProcessDetails(idList=1, listGUID=guid, idProcess=new_id, _soapheaders=headers)

    assert new_id > 0
    assert mailup_body(started).findtext("ReturnCode") == "0"
    process = mailup_body(details).find("ImportProcess")
    assert process.findtext("StatusCode") == "3"
    assert process.findtext("NewEmail") == "1"


def test_magento_reads_lists_and_creates_group(client):
    headers = [authentication(client)]
    demo_list().groups.create(name="Soci & amici")

    lists = client.service.GetNlLists(_soapheaders=headers)
    group_id = client.service.CreateGroup(idList=1, listGUID="", newGroupName="Magento", _soapheaders=headers)

    # The extension entity-decodes the answer, cuts out <Lists> and escapes every & itself.
    decoded = html.unescape(lists)
    cut = decoded[decoded.index("<Lists>") : decoded.index("</Lists>") + len("</Lists>")]
    parsed = etree.fromstring(cut.replace("&", "&amp;"))
    names = [group.get("groupName") for group in parsed.iter("Group")]
    assert "Soci & amici" in names
    assert int(mailup_body(group_id).findtext("ReturnCode")) > 0


def test_wrong_password_is_1002(client):
    result = client.service.GetNlLists(_soapheaders=[authentication(client, password="wrong")])

    assert mailup_body(result).findtext("ReturnCode") == "-1002"


def envelope(operation_xml, header_namespace=NAMESPACE):
    xmlns = f' xmlns="{header_namespace}"' if header_namespace is not None else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap:Header><Authentication{xmlns}><User>a1234</User><Password>{DEMO_WS_PASSWORD}</Password>"
        "<encType>UTF-8</encType></Authentication></soap:Header>"
        f"<soap:Body>{operation_xml}</soap:Body></soap:Envelope>"
    )


def post(server_url, operation_xml, header_namespace=NAMESPACE):
    response = requests.post(
        server_url + PATH,
        data=envelope(operation_xml, header_namespace).encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    result = etree.fromstring(response.content).find(".//{%s}*" % NAMESPACE)
    return mailup_body(result[0].text)


@pytest.mark.parametrize("header_namespace", [NAMESPACE, "http://tempuri.org/", None], ids=["ws", "tempuri", "none"])
def test_header_namespaces(demo, server_url, header_namespace):
    body = post(server_url, f'<GetIdWsUser xmlns="{NAMESPACE}"/>', header_namespace)

    assert body.findtext("ReturnCode") == "1234"


HOSTILE_DOCS = {
    "billion-laughs": '<!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    '<subscribers><subscriber email="x@example.com" Prefix="" Number="" Name=""><campo1>&b;</campo1></subscriber></subscribers>',
    "external-entity": '<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<subscribers><subscriber email="x@example.com" Prefix="" Number="" Name=""><campo1>&x;</campo1></subscriber></subscribers>',
    "nul-character-reference": '<subscribers><subscriber email="x@example.com" Prefix="" Number="" Name="">'
    "<campo1>a&#0;b</campo1></subscriber></subscribers>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_DOCS))
def test_hostile_xml_doc_gets_402(demo, server_url, name):
    xml_doc = html.escape(HOSTILE_DOCS[name])
    operation = (
        f'<StartImportProcesses xmlns="{NAMESPACE}"><listsIDs>1</listsIDs><listsGUIDs></listsGUIDs>'
        f"<xmlDoc>{xml_doc}</xmlDoc><groupsIDs></groupsIDs><importType>3</importType>"
        "<mobileInputType>1</mobileInputType><asPending>false</asPending><ConfirmEmail>false</ConfirmEmail>"
        "<asOptOut>false</asOptOut><forceOptIn>false</forceOptIn><replaceGroups>false</replaceGroups>"
        "</StartImportProcesses>"
    )

    body = post(server_url, operation)

    assert body.findtext("ReturnCode") == "-402"
    assert not Import.objects.exists()
    assert not Recipient.objects.exists()
