"""Hostile SOAP requests to every MailupSend, MailupManage and MailupReport path.

Each request would log in (and so store an accessKey) if the server
accepted it. Every one must come back as a SOAP fault in the request's
SOAP version, read no file, fetch no URL and change nothing.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from lxml import etree

from lists.models import AccessKey, Group, List
from sending.models import Message, Sending

PATHS = [
    "/MailupSend.asmx",
    "/Services/MailupSend.asmx",
    "/MailupManage.asmx",
    "/Services/MailupManage.asmx",
    "/MailupReport.asmx",
    "/Services/MailupReport.asmx",
]
VERSIONS = {
    "1.1": ("http://schemas.xmlsoap.org/soap/envelope/", "text/xml; charset=utf-8"),
    "1.2": ("http://www.w3.org/2003/05/soap-envelope", "application/soap+xml; charset=utf-8"),
}
NS = "http://services.mailupnet.it/WS"
SECRET = "secret-marker-6b1f0e"


def login_body(console_id="1234", access_user="a1234"):
    return (
        f'<LoginFromId xmlns="{NS}"><user>{access_user}</user><pwd>demo-ws-1234</pwd>'
        f"<consoleId>{console_id}</consoleId></LoginFromId>"
    )


def envelope(version, body, prolog=""):
    namespace = VERSIONS[version][0]
    return f'<?xml version="1.0"?>{prolog}<e:Envelope xmlns:e="{namespace}"><e:Body>{body}</e:Body></e:Envelope>'


class RecordingHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY exfil "fetched">')

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_server():
    """An HTTP server on 127.0.0.1 that records every request an external entity would make."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def payloads(version, secret_file, loopback_url):
    """Return (name, body) pairs of hostile requests in one SOAP version."""
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    billion_laughs = f'<!DOCTYPE e:Envelope [<!ENTITY l0 "lol">{laughs}]>'
    quadratic = f'<!DOCTYPE e:Envelope [<!ENTITY big "{"x" * 50_000}">]>'
    return [
        ("malformed", envelope(version, login_body())[:-20]),
        ("not soap", f'<Envelope xmlns="urn:not-soap"><Body>{login_body()}</Body></Envelope>'),
        ("no body", envelope(version, "").replace("<e:Body></e:Body>", "")),
        ("unknown operation", envelope(version, f'<DropEverything xmlns="{NS}"/>')),
        ("wrong int", envelope(version, login_body(console_id="1234abc"))),
        ("int overflow", envelope(version, login_body(console_id="99999999999999"))),
        ("element in string", envelope(version, login_body(access_user="<b>a1234</b>"))),
        ("billion laughs", envelope(version, login_body(access_user="&l9;"), billion_laughs)),
        ("quadratic blowup", envelope(version, login_body(access_user="&big;" * 2000), quadratic)),
        (
            "external file entity",
            envelope(version, login_body(access_user="&xxe;"), f'<!DOCTYPE e:Envelope [<!ENTITY xxe SYSTEM "file://{secret_file}">]>'),
        ),
        (
            "external http entity",
            envelope(version, login_body(access_user="&xxe;"), f'<!DOCTYPE e:Envelope [<!ENTITY xxe SYSTEM "{loopback_url}/entity">]>'),
        ),
        (
            "external parameter entity",
            envelope(version, login_body(), f'<!DOCTYPE e:Envelope [<!ENTITY % remote SYSTEM "{loopback_url}/dtd"> %remote;]>'),
        ),
        ("external dtd", envelope(version, login_body(), f'<!DOCTYPE e:Envelope SYSTEM "{loopback_url}/external.dtd">')),
        (
            "xinclude",
            envelope(
                version,
                login_body(access_user=f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret_file}" parse="text"/>'),
            ),
        ),
    ]


def assert_fault(response, version, label):
    namespace, content_type = VERSIONS[version]
    assert response.status_code == 500, label
    assert response.headers["Content-Type"] == content_type, label
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{namespace}}}Body/{{{namespace}}}Fault")
    assert fault is not None, label
    if version == "1.1":
        assert fault.findtext("faultcode") == "soap:Client", label
    else:
        assert fault.findtext(f"{{{namespace}}}Code/{{{namespace}}}Value") == "soap:Sender", label


def counts():
    return [model.objects.count() for model in (AccessKey, List, Group, Message, Sending)]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize("path", PATHS)
def test_hostile_requests_get_faults(demo, server_url, loopback_server, secret_file, path, version):
    before = counts()
    loopback_url = f"http://127.0.0.1:{loopback_server.server_address[1]}"

    for label, body in payloads(version, secret_file, loopback_url):
        response = requests.post(
            server_url + path, data=body.encode(), headers={"Content-Type": VERSIONS[version][1]}, timeout=30
        )

        assert_fault(response, version, label)
        assert SECRET not in response.text, label
        assert len(response.content) < 10_000, label

    assert loopback_server.hits == []
    assert counts() == before


@pytest.mark.parametrize("path", PATHS)
def test_control_login_succeeds(demo, server_url, path):
    """The same login without the attack succeeds, so the faults above come from the attacks."""
    response = requests.post(
        server_url + path, data=envelope("1.1", login_body()).encode(), headers={"Content-Type": VERSIONS["1.1"][1]}, timeout=30
    )

    assert response.status_code == 200
    assert AccessKey.objects.count() == 1


def test_oversized_request_gets_fault(demo, server_url, settings):
    settings.SOAP_MAX_REQUEST_BYTES = 4096
    body = envelope("1.1", login_body(access_user="a" * 10_000))

    response = requests.post(server_url + PATHS[0], data=body.encode(), headers={"Content-Type": VERSIONS["1.1"][1]}, timeout=30)

    assert_fault(response, "1.1", "oversized")
    assert not AccessKey.objects.exists()
