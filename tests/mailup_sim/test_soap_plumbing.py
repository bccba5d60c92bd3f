"""The SOAP plumbing on a small service: envelopes, typed parameters, faults, headers and the WSDL."""

import pytest
from django.test import RequestFactory
from lxml import etree

from mailup_sim import soap
from mailup_sim.middleware import canonical_path

NS = "http://example.test/WS"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"

ECHO = soap.Service("EchoService", NS, "/EchoService.asmx", aliases=["/Services/EchoService.asmx"])
GUARDED = soap.Service(
    "GuardedService", "http://example.test/", "/Services/Guarded.asmx", header=soap.Header("Authentication", ("User", "Password"))
)


@ECHO.operation(
    "Echo",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.boolean("deleteUsers"),
    soap.date_time("when"),
    soap.options("options"),
)
def echo(call, access_key, list_id, delete_users, when, options):
    document = soap.result_element(
        "EchoResult",
        soap.text_element("accessKey", access_key),
        soap.text_element("listID", list_id),
        soap.text_element("deleteUsers", str(delete_users).lower()),
        soap.text_element("when", when.isoformat() if when else ""),
        soap.result_element("options", *[soap.result_element("option", key=key, value=value) for key, value in sorted(options.items())]),
    )
    return soap.serialize(document)


@ECHO.operation("Count", soap.integer("n"), result=soap.INT)
def count(call, n):
    return n + 1


@ECHO.operation("Crash")
def crash(call):
    raise RuntimeError("boom")


@GUARDED.operation("Whoami")
def whoami(call):
    return repr(call.header)


def envelope(body, version=SOAP11, header=""):
    return (
        f'<?xml version="1.0" encoding="utf-8"?><e:Envelope xmlns:e="{version}">'
        f"{header}<e:Body>{body}</e:Body></e:Envelope>"
    ).encode()


def post(service, data, content_type="text/xml; charset=utf-8"):
    request = RequestFactory().post(service.path, data=data, content_type=content_type)
    return service.view(request)


def result_of(response, operation="Echo"):
    root = etree.fromstring(response.content)
    return root.find(f".//{{{NS}}}{operation}Result").text


def fault_of(response):
    root = etree.fromstring(response.content)
    return root.find(f"{{{root.nsmap['soap']}}}Body/{{{root.nsmap['soap']}}}Fault")


def test_parameters_match_by_local_name_and_any_case():
    body = (
        f'<x:echo xmlns:x="{NS}"><ACCESSKEY>k&amp;1</ACCESSKEY><y:listid xmlns:y="urn:other">42</y:listid>'
        "<deleteUsers>true</deleteUsers><when>2026-12-04T10:00:00</when>"
        "<options><Option><Key>Send_To</Key><Value>GROUPS</Value></Option><Option><Key>recipients</Key><Value>3;4</Value></Option></options>"
        "</x:echo>"
    )
    response = post(ECHO, envelope(body))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    result = etree.fromstring(result_of(response).encode())
    assert result.findtext("accessKey") == "k&1"
    assert result.findtext("listID") == "42"
    assert result.findtext("deleteUsers") == "true"
    assert result.findtext("when") == "2026-12-04T10:00:00"
    assert [(option.get("key"), option.get("value")) for option in result.find("options")] == [
        ("recipients", "3;4"),
        ("send_to", "GROUPS"),
    ]


def test_missing_parameters_take_defaults():
    response = post(ECHO, envelope(f'<Echo xmlns="{NS}"><listID/></Echo>'))

    result = etree.fromstring(result_of(response).encode())
    assert result.findtext("accessKey") == ""
    assert result.findtext("listID") == "0"
    assert result.findtext("deleteUsers") == "false"
    assert result.findtext("when") == ""


def test_result_is_escaped_text_not_cdata():
    response = post(ECHO, envelope(f'<Echo xmlns="{NS}"><accessKey>a</accessKey></Echo>'))

    assert b"&lt;EchoResult&gt;&lt;accessKey&gt;a&lt;/accessKey&gt;" in response.content
    assert b"CDATA" not in response.content


def test_int_result_is_bare_number():
    response = post(ECHO, envelope(f'<Count xmlns="{NS}"><n>41</n></Count>'))

    assert response.status_code == 200
    assert result_of(response, "Count") == "42"


def test_soap12_answers_in_soap12():
    response = post(ECHO, envelope(f'<Count xmlns="{NS}"><n>1</n></Count>', SOAP12), "application/soap+xml; charset=utf-8")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/soap+xml; charset=utf-8"
    assert etree.fromstring(response.content).tag == f"{{{SOAP12}}}Envelope"


@pytest.mark.parametrize(
    "parameter",
    ["<listID>abc</listID>", "<listID>99999999999</listID>", "<deleteUsers>maybe</deleteUsers>", "<when>yesterday</when>", "<accessKey><b>x</b></accessKey>"],
)
def test_wrong_type_is_client_fault(parameter):
    response = post(ECHO, envelope(f'<Echo xmlns="{NS}">{parameter}</Echo>'))

    assert response.status_code == 500
    fault = fault_of(response)
    assert fault.findtext("faultcode") == "soap:Client"
    assert fault.findtext("faultstring")


def test_soap12_fault_uses_sender_code():
    response = post(ECHO, envelope(f'<Echo xmlns="{NS}"><listID>x</listID></Echo>', SOAP12), "application/soap+xml")

    fault = fault_of(response)
    assert response.status_code == 500
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"


@pytest.mark.parametrize(
    "data",
    [b"", b"not xml", b"<a><b></a>", b"<Envelope/>", envelope("").replace(b"<e:Body></e:Body>", b""), envelope("")],
)
def test_unreadable_envelope_is_client_fault(data):
    response = post(ECHO, data)

    assert response.status_code == 500
    assert fault_of(response).findtext("faultcode") == "soap:Client"


def test_unreadable_soap12_envelope_faults_in_soap12():
    response = post(ECHO, b"<broken", "application/soap+xml; charset=utf-8")

    assert response["Content-Type"] == "application/soap+xml; charset=utf-8"
    assert fault_of(response).findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"


def test_unknown_operation_is_client_fault():
    response = post(ECHO, envelope(f'<Nope xmlns="{NS}"/>'))

    assert response.status_code == 500
    assert "Nope" in fault_of(response).findtext("faultstring")


def test_handler_exception_is_server_fault():
    response = post(ECHO, envelope(f'<Crash xmlns="{NS}"/>'))

    assert response.status_code == 500
    assert fault_of(response).findtext("faultcode") == "soap:Server"
    assert "boom" not in response.content.decode()


def test_dtd_is_rejected():
    bomb = b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' + envelope(
        f'<Echo xmlns="{NS}"><accessKey>&b;</accessKey></Echo>'
    ).split(b"?>", 1)[1]
    response = post(ECHO, bomb)

    assert response.status_code == 500
    assert "DTD" in fault_of(response).findtext("faultstring")


def test_oversized_body_is_rejected(settings):
    settings.SOAP_MAX_REQUEST_BYTES = 2048
    response = post(ECHO, envelope(f'<Echo xmlns="{NS}"><accessKey>{"x" * 4096}</accessKey></Echo>'))

    assert response.status_code == 500
    assert "2048" in fault_of(response).findtext("faultstring")


@pytest.mark.parametrize("header_namespace", ["http://example.test/", "http://tempuri.org/", ""])
def test_header_found_in_any_namespace(header_namespace):
    header = (
        f'<e:Header><Authentication xmlns="{header_namespace}"><user>a1</user><Password>pw</Password>'
        "<encType>UTF-8</encType></Authentication></e:Header>"
    )
    response = post(GUARDED, envelope('<Whoami xmlns="http://example.test/"/>', header=header))

    root = etree.fromstring(response.content)
    assert root.find(".//{http://example.test/}WhoamiResult").text == repr({"User": "a1", "Password": "pw"})


def test_missing_header_is_none():
    response = post(GUARDED, envelope('<Whoami xmlns="http://example.test/"/>'))

    root = etree.fromstring(response.content)
    assert root.find(".//{http://example.test/}WhoamiResult").text == "None"


def test_get_without_wsdl_is_405():
    response = ECHO.view(RequestFactory().get("/EchoService.asmx"))

    assert response.status_code == 405


@pytest.mark.parametrize("switch", ["WSDL", "wsdl", "Wsdl"])
def test_wsdl_names_request_origin(switch):
    request = RequestFactory().get(f"/services/echoservice.asmx?{switch}", HTTP_HOST="wsvc.ss.mailup.it")
    response = ECHO.view(request)

    root = etree.fromstring(response.content)
    ns = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "soap": soap.WSDL_SOAP11, "soap12": soap.WSDL_SOAP12}
    assert root.xpath("//soap:address/@location", namespaces=ns) == ["http://wsvc.ss.mailup.it/EchoService.asmx"]
    assert root.xpath("//soap12:address/@location", namespaces=ns) == ["http://wsvc.ss.mailup.it/EchoService.asmx"]
    assert root.xpath("//wsdl:port/@name", namespaces=ns) == ["EchoServiceSoap", "EchoServiceSoap12"]


def test_wsdl_declares_types_in_asmx_style():
    root = etree.fromstring(soap.render_wsdl(ECHO, "http://127.0.0.1:8000"))
    ns = {"s": "http://www.w3.org/2001/XMLSchema", "soap": soap.WSDL_SOAP11}

    echo_params = root.xpath("//s:element[@name='Echo']//s:element", namespaces=ns)
    assert [(p.get("name"), p.get("type"), p.get("minOccurs")) for p in echo_params] == [
        ("accessKey", "s:string", "0"),
        ("listID", "s:int", "1"),
        ("deleteUsers", "s:boolean", "1"),
        ("when", "s:dateTime", "1"),
        ("options", "tns:ArrayOfOption", "0"),
    ]
    assert root.xpath("//s:element[@name='CountResponse']//s:element/@type", namespaces=ns) == ["s:int"]
    assert root.xpath("//soap:operation[../@name='Echo']/@soapAction", namespaces=ns) == ["http://example.test/WS/Echo"]


def test_wsdl_binds_header_on_every_operation():
    root = etree.fromstring(soap.render_wsdl(GUARDED, "http://127.0.0.1:8000"))
    ns = {"soap": soap.WSDL_SOAP11, "soap12": soap.WSDL_SOAP12, "s": "http://www.w3.org/2001/XMLSchema"}

    assert root.xpath("//soap:header/@part", namespaces=ns) == ["Authentication"]
    assert root.xpath("//soap12:header/@part", namespaces=ns) == ["Authentication"]
    assert root.xpath("//s:complexType[@name='Authentication']/s:anyAttribute", namespaces=ns)
    assert root.xpath("//soap:operation/@soapAction", namespaces=ns) == ["http://example.test/Whoami"]


def test_argument_names_are_snake_case():
    names = {name: soap.Param(name, soap.STRING).argument for name in ["listID", "consoleId", "ConfirmEmail", "listGUID", "Up", "idUser", "messageID"]}

    assert names == {
        "listID": "list_id",
        "consoleId": "console_id",
        "ConfirmEmail": "confirm_email",
        "listGUID": "list_guid",
        "Up": "up",
        "idUser": "id_user",
        "messageID": "message_id",
    }


@pytest.mark.parametrize(
    "path, routed",
    [
        ("/Services/WSMailupImport.asmx", "/services/wsmailupimport.asmx"),
        ("/MailupSend.asmx", "/mailupsend.asmx"),
        ("/Other/Page", "/Other/Page"),
    ],
)
def test_asmx_paths_route_in_lower_case(path, routed):
    assert canonical_path(path) == routed
