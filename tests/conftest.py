"""Shared fixtures: the demo console, a live SMTP sink and HTTP clients over real sockets."""

import socket

import pytest

from lists.demo import seed_demo
from sending.sink import start_sink
from tests.support import Http, Sink, free_port


@pytest.fixture(scope="session")
def closed_port():
    """A port of 127.0.0.1 held without listening, so a connection to it is refused at once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.fixture(autouse=True)
def mail_stays_in_tests(settings, closed_port):
    """Point mail at a closed port, so that a test without the `sink` fixture never delivers into a running `make run`.

    The `sink` fixture, and tests that start an inbound MX, set their own ports over these.
    """
    settings.SINK_SMTP_PORT = closed_port
    settings.INBOUND_MX_PORT = closed_port


@pytest.fixture
def demo(transactional_db):
    """The demo console 1234 as `seed_demo --json` describes it."""
    return seed_demo()


@pytest.fixture
def sink(settings, transactional_db):
    port = free_port()
    settings.SINK_SMTP_PORT = port
    controller = start_sink("127.0.0.1", port)
    yield Sink(port)
    controller.stop()


@pytest.fixture
def server_url(live_server):
    return live_server.url.replace("localhost", "127.0.0.1")


@pytest.fixture
def http(server_url):
    """A caller on 127.0.0.1, the demo console's only registered FrontEnd address."""
    return Http(server_url)


@pytest.fixture
def outsider(server_url):
    """A caller bound to 127.0.0.2, which the demo console has not registered."""
    return Http(server_url, source_ip="127.0.0.2")
