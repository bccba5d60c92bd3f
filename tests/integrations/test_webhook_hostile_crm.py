"""Webhook deliveries to a CRM on 127.0.0.1 that responds with bytes no well-behaved server sends."""

import socket
import threading

import pytest

from integrations.models import WebhookDelivery
from tests.integrations.test_webhooks import SUBSCRIBE_ANNA, add_webhook, query_of

Status = WebhookDelivery.Status


class RawCrm:
    """A CRM that reads one request per connection and responds with fixed bytes."""

    def __init__(self, answer):
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self):
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(self.answer)

    def close(self):
        self.listener.close()


@pytest.fixture
def raw_crm():
    crms = []

    def start(answer):
        crm = RawCrm(answer)
        crms.append(crm)
        return crm

    yield start
    for crm in crms:
        crm.close()


def test_nul_in_response_body_logged(demo, http, raw_crm):
    crm = raw_crm(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na\x00b")
    add_webhook(crm.url)

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.DELIVERED
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 200
    assert attempt.response == "a\ufffdb"


def test_nul_in_status_line_logged(demo, http, raw_crm):
    crm = raw_crm(b"HTTP/1.1 2\x0000 OK\r\n\r\n")
    add_webhook(crm.url)

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert delivery.attempts == 1
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert "BadStatusLine" in attempt.error
    assert "\x00" not in attempt.error


def test_nul_in_charset_still_delivered(demo, http, raw_crm):
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\x00\r\nContent-Length: 1\r\n\r\n1"
    crm = raw_crm(answer)
    add_webhook(crm.url)

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempt_log.get().response == "1"


def test_get_url_with_fragment_keeps_parameters(demo, http, receiver):
    add_webhook(receiver.url + "?fixed=1#section", parameters=[["customerEmail", "[email]"]])

    http.get(SUBSCRIBE_ANNA)

    assert len(receiver.requests) == 1
    assert query_of(receiver.requests[0]) == "fixed=1&customerEmail=anna%40example.com"
    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert "#" not in attempt.url


def test_non_ascii_url_sent_percent_encoded(demo, http, receiver):
    url = receiver.url.replace("/subscribe", "/iscrizione-caffè") + "?negozio=però"
    add_webhook(url, parameters=[["customerEmail", "[email]"]])

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.DELIVERED
    request = receiver.requests[0]
    assert request["path"].startswith("/mailup/webhook/iscrizione-caff%C3%A8?")
    assert query_of(request) == "negozio=per%C3%B2&customerEmail=anna%40example.com"
