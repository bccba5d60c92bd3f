"""Test helpers that talk to the platform over real sockets on 127.0.0.1."""

import socket
import time

import requests
from requests.adapters import HTTPAdapter

from sending.models import SinkMessage


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """The aiosmtpd sink of the platform, listening on a free port for one test."""

    def __init__(self, port):
        self.port = port

    def messages(self, **filters):
        return list(SinkMessage.objects.filter(**filters).order_by("id"))

    def wait_for(self, count, timeout=10, **filters):
        """Return the first `count` messages matching `filters`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(**filters)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


class SourceAddressAdapter(HTTPAdapter):
    """Bind outgoing connections to one local address, to play a caller on another 127.x IP."""

    def __init__(self, source_ip):
        self.source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


class Http:
    """A requests session aimed at the live server, from a chosen source IP and Host."""

    def __init__(self, base_url, source_ip="127.0.0.1", host=None):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.mount("http://", SourceAddressAdapter(source_ip))
        if host:
            self.session.headers["Host"] = host

    def get(self, path, **kwargs):
        return self.session.get(self.base_url + path, timeout=30, **kwargs)

    def post(self, path, **kwargs):
        return self.session.post(self.base_url + path, timeout=30, **kwargs)

    def request(self, method, path, **kwargs):
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)

    def open_link(self, url, method="GET", **kwargs):
        """Follow an absolute link from a message: connect to the live server, keep the link's Host."""
        link_host, _, rest = url.partition("://")[2].partition("/")
        headers = {**kwargs.pop("headers", {}), "Host": link_host}
        return self.session.request(method, f"{self.base_url}/{rest}", headers=headers, timeout=30, **kwargs)
