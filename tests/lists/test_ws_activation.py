"""WSActivation.aspx over real HTTP: MailUp's XML document, its return codes, and caller registration."""

import xml.etree.ElementTree as ElementTree

import pytest

from lists.demo import DEMO_WS_PASSWORD
from lists.models import Account, AllowedAddress, WebService
from tests.lists.pages import LIST1_GUID

PAGE = "/frontend/WSActivation.aspx"
VALID = {"usr": "a1234", "pwd": DEMO_WS_PASSWORD, "nl_url": "c1234.localhost", "ws_name": "FrontEnd"}


def activate(client, **params):
    """Call WSActivation.aspx and return the parsed <mailupMessage> element."""
    response = client.get(PAGE, params=params)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    return ElementTree.fromstring(response.content)


def return_code(document):
    return int(document.findtext("mailupBody/ReturnCode"))


def frontend_addresses():
    return sorted(
        AllowedAddress.objects.filter(
            web_service__account__console_id=1234, web_service__name=WebService.Name.FRONTEND
        ).values_list("ip", flat=True)
    )


def test_frontend_activation_registers_caller(demo, outsider):
    probe = {"ListGuid": LIST1_GUID, "List": "1", "Email": "x@example.com"}
    assert outsider.get("/frontend/xmlChkSubscriber.aspx", params=probe).text == "-1011"

    document = activate(outsider, **VALID)
    assert return_code(document) == 0
    assert frontend_addresses() == ["127.0.0.1", "127.0.0.2"]
    assert outsider.get("/frontend/xmlChkSubscriber.aspx", params=probe).text == "1"
    assert outsider.get("/frontend/xmlSubscribe.aspx", params={**probe, "retCode": "1"}).text == "0"


def test_answer_shape(demo, outsider):
    document = activate(outsider, **VALID)

    assert document.tag == "mailupMessage"
    [body] = list(document)
    assert body.tag == "mailupBody"
    assert [child.tag for child in body] == ["ReturnCode", "WS_Activation"]
    activation = body.find("WS_Activation")
    assert [child.tag for child in activation] == ["WS_Name", "DateOfRequest", "User"]
    assert activation.findtext("WS_Name").strip() == "FrontEnd"
    assert activation.findtext("User") == "a1234"
    assert len(activation.findtext("DateOfRequest")) == 10


def test_parameter_names_any_case(demo, outsider):
    query = f"USR=A1234&Pwd={DEMO_WS_PASSWORD}&NL_URL=c1234.localhost&WS_NAME=frontend"
    response = outsider.get(f"/frontend/wsActivation.aspx?{query}")
    assert return_code(ElementTree.fromstring(response.content)) == 0


def test_import_activation_leaves_frontend_closed(demo, outsider):
    assert return_code(activate(outsider, **{**VALID, "ws_name": "WSMailUpImport"})) == 0

    assert frontend_addresses() == ["127.0.0.1"]
    probe = {"ListGuid": LIST1_GUID, "List": "1", "Email": "x@example.com"}
    assert outsider.get("/frontend/xmlChkSubscriber.aspx", params=probe).text == "-1011"


def test_inactive_service_activated(demo, outsider):
    WebService.objects.filter(name=WebService.Name.FRONTEND).update(active=False)

    assert return_code(activate(outsider, **VALID)) == 0
    assert WebService.objects.get(account__console_id=1234, name=WebService.Name.FRONTEND).active


@pytest.mark.parametrize(
    "missing, code",
    [
        (["ws_name"], -2),
        (["usr"], -4),
        (["pwd"], -8),
        (["nl_url"], -16),
        (["usr", "pwd"], -12),
        (["ws_name", "usr"], -6),
        (["pwd", "nl_url"], -24),
        (["ws_name", "usr", "pwd"], -14),
        (["ws_name", "usr", "pwd", "nl_url"], -30),
    ],
)
def test_missing_parameters_add_up(demo, outsider, missing, code):
    params = {name: value for name, value in VALID.items() if name not in missing}
    assert return_code(activate(outsider, **params)) == code
    assert frontend_addresses() == ["127.0.0.1"]


def test_blank_parameters_count_as_missing(demo, outsider):
    assert return_code(activate(outsider, usr=" ", pwd="", nl_url="c1234.localhost", ws_name="FrontEnd")) == -12


def test_bare_get_answers_xml(demo, outsider):
    assert return_code(activate(outsider)) == -30


@pytest.mark.parametrize("user", ["a9999", "m1234", "1234", "admin", "a", "a12x4", "a99999999999999999999999"])
def test_unknown_user_returns_minus_1001(demo, outsider, user):
    assert return_code(activate(outsider, **{**VALID, "usr": user})) == -1001


def test_wrong_password_returns_minus_1002(demo, outsider):
    assert return_code(activate(outsider, **{**VALID, "pwd": "guess"})) == -1002
    assert frontend_addresses() == ["127.0.0.1"]


@pytest.mark.parametrize(
    "account_status, code",
    [(Account.Status.SUSPENDED, -1003), (Account.Status.INACTIVE, -1004), (Account.Status.EXPIRED, -1005)],
)
def test_account_status_codes(demo, outsider, account_status, code):
    Account.objects.filter(console_id=1234).update(status=account_status)
    assert return_code(activate(outsider, **VALID)) == code


@pytest.mark.parametrize("ws_name", ["MailupSend", "Frontend2", "*"])
def test_unknown_service_returns_minus_1006(demo, outsider, ws_name):
    assert return_code(activate(outsider, **{**VALID, "ws_name": ws_name})) == -1006


def test_disabled_service_returns_minus_1006(demo, outsider):
    WebService.objects.filter(name=WebService.Name.FRONTEND).update(enabled=False)

    assert return_code(activate(outsider, **VALID)) == -1006
    assert frontend_addresses() == ["127.0.0.1"]


def test_registered_caller_returns_minus_1008(demo, http, outsider):
    assert return_code(activate(http, **VALID)) == -1008
    assert return_code(activate(outsider, **VALID)) == 0
    assert return_code(activate(outsider, **VALID)) == -1008


def test_echoed_values_escaped(demo, outsider):
    document = activate(outsider, **{**VALID, "usr": "<a1234>&", "ws_name": "</WS_Name><x>"})

    assert return_code(document) == -1001
    assert document.findtext("mailupBody/WS_Activation/User") == "<a1234>&"
    assert document.findtext("mailupBody/WS_Activation/WS_Name").strip() == "</WS_Name><x>"


# XML 1.0 allows DEL (0x7f) but no other control character except tab,
# line feed and carriage return, and neither U+FFFE nor U+FFFF.
@pytest.mark.parametrize(
    "value, kept", [("%01%02%1b%7f", "\x7f"), ("%0b%0c%09", "\t"), ("%ef%bf%be%ef%bf%bf", "")]
)
def test_control_characters_in_xml_echo(demo, raw, value, kept):
    response = raw.get(f"{PAGE}?usr=a{value}b&pwd=x&nl_url=x&ws_name=Front{value}End")

    assert response.status == 200
    document = ElementTree.fromstring(response.body)
    assert return_code(document) == -1001
    assert document.findtext("mailupBody/WS_Activation/User") == f"a{kept}b"
    assert document.findtext("mailupBody/WS_Activation/WS_Name").strip() == f"Front{kept}End"


def test_post_form_accepted(demo, outsider):
    response = outsider.post(PAGE, data=VALID)
    assert return_code(ElementTree.fromstring(response.content)) == 0


@pytest.mark.parametrize("user", ["a\u00b2", "a12\u00b334"])
def test_non_ascii_digit_user_is_unknown(demo, outsider, user):
    document = activate(outsider, **{**VALID, "usr": user})
    assert return_code(document) == -1001
