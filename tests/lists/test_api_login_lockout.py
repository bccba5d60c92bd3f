"""Password guessing through the APIs, SMTP+ and FTP counts towards the panel login's lockout, and the other way round."""

import base64
import json
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.test import Client
from lxml import etree

from integrations import services as integration_services
from lists import login_guard
from lists.demo import (
    DEMO_CONSOLE_PASSWORD,
    DEMO_FTP_PASSWORD,
    DEMO_OAUTH_CLIENT_SECRET,
    DEMO_SMTP_SECRET,
    DEMO_SMTP_USERNAME,
    DEMO_WS_PASSWORD,
    demo_password_grant_form,
    seed_demo,
)
from lists.models import AccessKey
from sending import transactional

TOKEN = "/Authorization/OAuth/Token"
LOGIN = "/console/login"
SEND = "/Services/MailupSend.asmx"
IMPORT = "/Services/WSMailUpImport.asmx"
LIST_SECRET = "/api/v2.0/lists/1/listsecret"
SEND_MESSAGE = "/API/v2.0/messages/sendmessage"
SEND_NS = "http://services.mailupnet.it/WS"
IMPORT_NS = "http://ws.mailupnet.it/"
LOCKED = "Too many failed logins"


@pytest.fixture
def demo_console(db):
    seed_demo()


def grant(client, password, client_secret=DEMO_OAUTH_CLIENT_SECRET):
    form = urlencode(demo_password_grant_form(password, client_secret))
    return client.post(TOKEN, form, content_type="application/x-www-form-urlencoded")


def fail_oauth(client, settings, times=None):
    for _ in range(settings.AXES_FAILURE_LIMIT if times is None else times):
        assert grant(client, "wrong").json()["error"] == "invalid_grant"


def soap_login(client, user, password):
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<LoginFromId xmlns="{SEND_NS}"><user>{user}</user><pwd>{password}</pwd><consoleId>1234</consoleId></LoginFromId>'
        "</soap:Body></soap:Envelope>"
    )
    response = client.post(SEND, body, content_type="text/xml; charset=utf-8")
    result_text = etree.fromstring(response.content).find(f".//{{{SEND_NS}}}LoginFromIdResult").text
    return etree.fromstring(result_text.encode("utf-8"))


def import_return_code(client, password):
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Header><Authentication xmlns="{IMPORT_NS}"><User>a1234</User><Password>{password}</Password>'
        "</Authentication></soap:Header>"
        f'<soap:Body><GetIdWsUser xmlns="{IMPORT_NS}"/></soap:Body></soap:Envelope>'
    )
    response = client.post(IMPORT, body, content_type="text/xml; charset=utf-8")
    result_text = etree.fromstring(response.content).find(f".//{{{IMPORT_NS}}}GetIdWsUserResult").text
    return etree.fromstring(result_text.split("\n", 1)[1].encode("ascii")).findtext("mailupBody/ReturnCode")


def basic(password):
    return "Basic " + base64.b64encode(f"m1234:{password}".encode()).decode()


# --- OAuth password grant ----------------------------------------------------------


def test_oauth_failures_lock_password_grant(demo_console, settings):
    client = Client()
    fail_oauth(client, settings)

    response = grant(client, DEMO_CONSOLE_PASSWORD)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert LOCKED in response.json()["error_description"]


def test_oauth_failures_lock_panel_login(demo_console, settings):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    fail_oauth(client, settings)

    response = client.post(LOGIN, {"username": "m1234", "password": DEMO_CONSOLE_PASSWORD})

    assert response.status_code == 429


def test_panel_failures_lock_password_grant(demo_console, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "m1234", "password": "wrong"})

    response = grant(client, DEMO_CONSOLE_PASSWORD)

    assert LOCKED in response.json()["error_description"]


def test_successful_grant_resets_failures(demo_console, settings):
    client = Client()
    fail_oauth(client, settings, times=settings.AXES_FAILURE_LIMIT - 1)
    assert grant(client, DEMO_CONSOLE_PASSWORD).status_code == 200
    fail_oauth(client, settings, times=settings.AXES_FAILURE_LIMIT - 1)

    response = grant(client, DEMO_CONSOLE_PASSWORD)

    assert response.status_code == 200


def test_wrong_client_secret_is_not_counted(demo_console, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert grant(client, "wrong", client_secret="not-the-secret").json()["error"] == "invalid_client"

    response = grant(client, DEMO_CONSOLE_PASSWORD)

    assert response.status_code == 200


def test_lockout_spares_other_addresses(demo_console, settings):
    fail_oauth(Client(), settings)

    response = grant(Client(REMOTE_ADDR="127.0.0.2"), DEMO_CONSOLE_PASSWORD)

    assert response.status_code == 200


def test_attempt_records_keep_no_secret(demo_console, settings):
    fail_oauth(Client(), settings, times=1)

    attempt = AccessAttempt.objects.get()

    assert attempt.username == "m1234"
    assert DEMO_OAUTH_CLIENT_SECRET not in attempt.post_data
    assert DEMO_OAUTH_CLIENT_SECRET not in attempt.get_data
    assert "wrong" not in attempt.post_data


# --- SOAP, ListSecret and WSMailUpImport --------------------------------------------


def test_soap_login_locked_after_failures(demo_console, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert soap_login(client, "a1234", "wrong").findtext("errorCode") == "-10"

    result = soap_login(client, "a1234", DEMO_WS_PASSWORD)

    assert result.findtext("errorCode") == "-10"
    assert LOCKED in result.findtext("errorDescription")
    assert result.findtext("accessKey") == ""
    assert not AccessKey.objects.exists()


def test_list_secret_locked_after_failures(demo_console, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert client.get(LIST_SECRET, HTTP_AUTHORIZATION=basic("wrong")).status_code == 401

    response = client.get(LIST_SECRET, HTTP_AUTHORIZATION=basic(DEMO_CONSOLE_PASSWORD))

    assert response.status_code == 401
    assert LOCKED in response.content.decode()


def test_import_header_locked_after_failures(demo_console, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert import_return_code(client, "wrong") == "-1002"

    assert import_return_code(client, DEMO_WS_PASSWORD) == "-1002"


def test_import_header_works_below_limit(demo_console, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        import_return_code(client, "wrong")

    assert import_return_code(client, DEMO_WS_PASSWORD) == "1234"


# --- SMTP+ users and FTP ---------------------------------------------------------------


def send_message(client, secret):
    body = {
        "Subject": "Ordine",
        "Html": {"Body": "<p>Grazie</p>"},
        "From": {"Name": "Shop", "Email": "shop@demo.example"},
        "To": [{"Name": "Anna", "Email": "anna@example.com"}],
        "User": {"Username": DEMO_SMTP_USERNAME, "Secret": secret},
    }
    return client.post(SEND_MESSAGE, json.dumps(body), content_type="application/json")


def test_transactional_api_locked_after_failures(demo_console, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert send_message(client, "wrong").status_code == 403

    response = send_message(client, DEMO_SMTP_SECRET)

    assert response.status_code == 403
    assert LOCKED in response.content.decode()


def test_smtp_auth_locked_after_failures(demo_console, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(transactional.AuthenticationFailed):
            transactional.authenticate(DEMO_SMTP_USERNAME, "wrong", client_ip="127.0.0.1", api="smtp")

    with pytest.raises(transactional.AuthenticationFailed, match=LOCKED):
        transactional.authenticate(DEMO_SMTP_USERNAME, DEMO_SMTP_SECRET, client_ip="127.0.0.1", api="smtp")


def test_ftp_login_locked_after_failures(demo_console, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert integration_services.authenticate_ftp_user("ftp1234", "wrong", client_ip="127.0.0.1") is None

    assert integration_services.authenticate_ftp_user("ftp1234", DEMO_FTP_PASSWORD, client_ip="127.0.0.1") is None
    assert integration_services.authenticate_ftp_user("ftp1234", DEMO_FTP_PASSWORD, client_ip="127.0.0.2") is not None


def test_ipv6_zone_is_dropped(demo_console):
    login_guard.record_failure("ftp1234", "fe80::1%eth0", "ftp")

    assert AccessAttempt.objects.get().ip_address == "fe80::1"


def test_login_without_address_not_counted(demo_console):
    login_guard.record_failure("ftp1234", "not-an-address", "ftp")

    assert not AccessAttempt.objects.exists()
    assert not login_guard.is_locked_out("ftp1234", "not-an-address")


def test_long_name_with_nul_is_counted(demo_console, settings):
    name = "ftp\x00" + "9" * 1000
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert integration_services.authenticate_ftp_user(name, "wrong", client_ip="127.0.0.1") is None

    assert login_guard.is_locked_out(name, "127.0.0.1")
    assert len(AccessAttempt.objects.get().username) == login_guard.USERNAME_MAX_LENGTH
