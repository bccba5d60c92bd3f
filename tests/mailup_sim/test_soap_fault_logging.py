"""A SOAP fault that the client's request caused is logged at INFO, not as Django's "Internal Server Error"."""

import logging

import pytest

ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{}</soap:Body></soap:Envelope>'
)
NS = "http://services.mailupnet.it/WS"


@pytest.fixture
def request_records(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def django_request_errors(caplog):
    return [record for record in caplog.records if record.name == "django.request" and record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "body",
    [
        f'<NoSuchOperation xmlns="{NS}"/>',
        f'<LoginFromId xmlns="{NS}"><user>a1234</user><pwd>x</pwd><consoleId>99999999999999999999</consoleId></LoginFromId>',
        "<not-closed>",
    ],
    ids=["unknown-operation", "int-out-of-range", "malformed"],
)
def test_client_fault_not_logged_as_error(db, client, request_records, body):
    response = client.post("/Services/MailupSend.asmx", ENVELOPE.format(body), content_type="text/xml; charset=utf-8")

    assert response.status_code == 500
    assert b"soap:Fault" in response.content
    assert django_request_errors(request_records) == []
    assert any(record.name == "mailup_sim.soap" and "SOAP fault" in record.getMessage() for record in request_records.records)


def test_server_fault_still_logged_as_error(db, client, request_records, monkeypatch):
    from sending import soap_common

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(soap_common.lists_services, "authenticate_api_user", broken)
    body = f'<LoginFromId xmlns="{NS}"><user>a1234</user><pwd>x</pwd><consoleId>1234</consoleId></LoginFromId>'

    response = client.post("/Services/MailupSend.asmx", ENVELOPE.format(body), content_type="text/xml; charset=utf-8")

    assert response.status_code == 500
    assert len(django_request_errors(request_records)) == 1
