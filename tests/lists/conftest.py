"""Fixtures for the frontend page tests: a sink for every test, raw HTTP and a second account."""

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from lists.models import Account, List
from tests.support import Http
from tests.lists.pages import RawClient


@pytest.fixture(autouse=True)
def mail_sink(sink):
    """Start the SMTP sink for every test here, so no system mail goes to the default SMTP port."""
    return sink


@pytest.fixture
def raw(server_url):
    """Send exact bytes with http.client, which leaves broken percent-escapes and odd headers as they are."""
    return RawClient(server_url)


@pytest.fixture
def other_account(demo):
    """Console 5678: one list with id 1 (as in the demo console) and no FrontEnd restriction."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.", frontend_ip_restricted=False)
    List.objects.create(
        account=account,
        list_id=1,
        name="Other news",
        sender_name="Other",
        sender_email="news@other.example",
        language="en",
    )
    return account


@pytest.fixture
def client_for(server_url):
    """Return a factory of callers that send a chosen Host header, from 127.0.0.1 by default."""

    def make(host, source_ip="127.0.0.1"):
        return Http(server_url, source_ip=source_ip, host=host)

    return make


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def production_raw(demo):
    """A raw caller of `mailup_sim.wsgi.application`, the entry point gunicorn serves, on a free port.

    The live server of the other fixtures builds its own Django handler, so
    it cannot show what the production WSGI wrapper does.
    """
    from mailup_sim.wsgi import application

    server = make_server("127.0.0.1", 0, application, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield RawClient(f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()
