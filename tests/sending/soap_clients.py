"""zeep clients of the MailUp SOAP services, built from the WSDL the live server returns."""

import zeep
from lxml import etree
from zeep.transports import Transport

from lists.demo import DEMO_CONSOLE_ID, DEMO_WS_PASSWORD

PATHS = {"MailupSend": "/MailupSend.asmx", "MailupManage": "/MailupManage.asmx", "MailupReport": "/MailupReport.asmx"}


def client(server_url, service, soap12=False, path=None):
    """Return a zeep service proxy for `service`, on its SOAP 1.1 port or its SOAP 1.2 port."""
    wsdl = f"{server_url}{path or PATHS[service]}?WSDL"
    proxy = zeep.Client(wsdl, transport=Transport(cache=None, timeout=60, operation_timeout=600))
    return proxy.bind(service, f"{service}Soap12" if soap12 else f"{service}Soap")


def parse(result):
    """Parse a result string the way PHP clients do with simplexml_load_string."""
    return etree.fromstring(result.encode("utf-8"))


def login(proxy, user=f"a{DEMO_CONSOLE_ID}", password=DEMO_WS_PASSWORD):
    """Log in with LoginFromId and return the accessKey."""
    result = parse(proxy.LoginFromId(user, password, DEMO_CONSOLE_ID))
    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    return result.findtext("accessKey")


def options(**values):
    """Build an ArrayOfOption from keyword arguments, as MailUp's PHP samples do."""
    return {"Option": [{"Key": key, "Value": value} for key, value in values.items()]}


def error_code(result):
    return int(parse(result).findtext("errorCode"))
