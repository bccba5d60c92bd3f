"""MailupReport over SOAP with zeep: ReportByUser and ReportByMessage in Italian and English."""

import pytest
from django.utils import timezone

from lists.models import Source, SubscriptionEvent
from tests.personas import demo_list, subscribe_pending
from tests.sending.campaigns import newsletter, subscribe, unsubscribe
from tests.sending.soap_clients import client, error_code, login, parse

CHANNELS = {"ReportByUser": ("Canali", ["Email", "SMS", "Posta", "Voce", "Fax"]), "ReportByUserEN": ("Channels", ["Email", "SMS", "RegularMail", "Voice", "Fax"])}


@pytest.fixture
def report(demo, sink, server_url):
    return client(server_url, "MailupReport")


@pytest.fixture
def key(report):
    return login(report)


@pytest.mark.parametrize(
    "operation, state, expected",
    [
        ("ReportByUser", "subscribed", "Iscritto"),
        ("ReportByUser", "unsubscribed", "Disiscritto"),
        ("ReportByUser", "pending", "In attesa"),
        ("ReportByUser", "unknown", "Non Registrato"),
        ("ReportByUserEN", "subscribed", "Subscribed"),
        ("ReportByUserEN", "unsubscribed", "Unsubscribed"),
        ("ReportByUserEN", "pending", "Pending"),
        ("ReportByUserEN", "unknown", "Not Registered"),
    ],
)
def test_report_by_user_channels(report, key, operation, state, expected):
    if state == "pending":
        subscribe_pending("anna@example.com")
    elif state != "unknown":
        subscribe("anna@example.com")
    if state == "unsubscribed":
        unsubscribe("anna@example.com")

    result = parse(getattr(report, operation)(key, "Anna@Example.com", 1, 0))

    channels, names = CHANNELS[operation]
    unregistered = "Non Registrato" if operation == "ReportByUser" else "Not Registered"
    assert result.tag == f"{operation}Result"
    assert result.findtext("errorCode") == "0"
    assert [child.tag for child in result.find(channels)] == names
    assert result.findtext(f"{channels}/Email") == expected
    assert [child.text for child in result.find(channels)][1:] == [unregistered] * 4


def test_report_by_user_magento_check(report, key):
    subscribe("anna@example.com")
    subscribe_pending("bruno@example.com")

    assert parse(report.ReportByUser(key, "anna@example.com", 1, 0)).findtext("Canali/Email").lower() == "iscritto"
    assert parse(report.ReportByUser(key, "bruno@example.com", 1, 0)).findtext("Canali/Email").lower() == "in attesa"


def test_report_by_user_fields_and_bounce(report, key):
    anna = subscribe("anna@example.com", fields={1: "Anna", 39: "ultimo"})
    event = SubscriptionEvent.objects.create(account=demo_list().account, list=demo_list(), recipient=anna, kind="unsubscribe", source=Source.BOUNCE, reason="80")

    italian = parse(report.ReportByUser(key, "anna@example.com", 1, 0))
    english = parse(report.ReportByUserEN(key, "anna@example.com", 1, 0))

    fields = italian.findall("CampiAnagrafici/campo")
    assert [(field.get("id"), field.get("Valore")) for field in fields][:2] == [("1", "Anna"), ("2", "")]
    assert len(fields) == 39
    assert fields[38].get("Valore") == "ultimo"
    assert english.find("PersonalDataFields/Field").attrib == {"Id": "1", "Value": "Anna"}
    assert italian.findtext("Bounce") == timezone.localtime(event.created_at).strftime("%d/%m/%Y %H:%M:%S")
    assert italian.find("Opens").get("Totale") == "0"
    assert english.find("Opens").get("Total") == "0"
    assert [child.tag for child in italian] == ["errorCode", "errorDescription", "Canali", "Bounce", "Opens", "CampiAnagrafici"]


def test_report_by_user_unknown_list(report, key):
    assert error_code(report.ReportByUser(key, "anna@example.com", 42, 0)) == -30
    assert error_code(report.ReportByUserEN("bad key", "anna@example.com", 1, 0)) == -20


@pytest.mark.parametrize("operation, total", [("ReportByMessage", "Totale"), ("ReportByMessageEN", "Total")])
def test_report_by_message(report, key, operation, total):
    message = newsletter()

    result = parse(getattr(report, operation)(key, 1, message.pk))

    assert result.tag == f"{operation}Result"
    assert [child.tag for child in result] == ["errorCode", "errorDescription", "Opens"]
    assert result.find("Opens").attrib == {total: "0"}
    assert error_code(getattr(report, operation)(key, 2, message.pk)) == -32
    assert error_code(getattr(report, operation)(key, 1, 0)) == 0


def test_soap12_port(demo, server_url):
    report = client(server_url, "MailupReport", soap12=True)
    key = login(report)

    assert error_code(report.ReportByUserEN(key, "x@example.com", 1, 0)) == 0
