"""MailupReport over SOAP with zeep: ReportByUser and ReportByMessage in Italian and English."""

import pytest
from django.utils import timezone

from lists.models import Source, SubscriptionEvent
from sending import services, tracking
from sending.models import Delivery, Sending
from tests.personas import demo_list, subscribe_pending
from tests.sending.campaigns import newsletter, subscribe, unsubscribe
from tests.sending.soap_clients import client, error_code, login, parse

CHANNELS = {"ReportByUser": ("Canali", ["Email", "SMS", "Posta", "Voce", "Fax"]), "ReportByUserEN": ("Channels", ["Email", "SMS", "RegularMail", "Voice", "Fax"])}


TRACKED_HTML = '<p><a href="https://shop.example/?e=[email]">Negozio</a> <a href="https://blog.example/">Blog</a></p>'


def delivered_to(message, recipient):
    """Create a sent delivery of `message` to `recipient` and store the message's tracked links."""
    tracking.message_links(message)
    sending = Sending.objects.create(message=message, list=message.list)
    return Delivery.objects.create(sending=sending, recipient=recipient, to_email=recipient.email)


def open_and_click(delivery, opens=1, clicks=(1,), ip="203.0.113.7"):
    for _ in range(opens):
        services.record_open(delivery.pk, ip, "Thunderbird/128")
    for number in clicks:
        services.record_click(delivery.pk, number, ip, "Firefox/133")


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


def test_report_by_user_opens_and_clicks(report, key):
    anna = subscribe("anna@example.com")
    message = newsletter(subject="Saldi", html=TRACKED_HTML)
    open_and_click(delivered_to(message, anna), opens=2, clicks=(1, 1, 2))

    italian = parse(report.ReportByUser(key, "anna@example.com", 1, 0))
    english = parse(report.ReportByUserEN(key, "anna@example.com", 1, message.pk))

    clicks = italian.findall("Clicks")
    assert [(element.get("Url"), element.get("Totale")) for element in clicks] == [
        ("https://shop.example/?e=anna@example.com", "2"),
        ("https://blog.example/", "1"),
    ]
    click = clicks[0].find("Click")
    assert click.get("IP") == "203.0.113.7"
    assert click.get("IDMessaggio") == str(message.pk)
    assert click.get("Oggetto") == "Saldi"
    assert click.get("DataOra")
    assert italian.find("Opens").get("Totale") == "2"
    assert len(italian.findall("Opens/Open")) == 2
    assert [child.tag for child in italian] == ["errorCode", "errorDescription", "Canali", "Bounce", "Clicks", "Clicks", "Opens", "CampiAnagrafici"]
    assert english.find("Opens").get("Total") == "2"
    assert english.find("Opens/Open").get("MessageID") == str(message.pk)
    assert english.find("Clicks").get("Total") == "2"


def test_report_by_user_filters_message(report, key):
    anna = subscribe("anna@example.com")
    first = newsletter(html=TRACKED_HTML)
    second = newsletter(html=TRACKED_HTML)
    open_and_click(delivered_to(first, anna), opens=1, clicks=())
    open_and_click(delivered_to(second, anna), opens=3, clicks=())

    result = parse(report.ReportByUser(key, "anna@example.com", 1, first.pk))

    assert result.find("Opens").get("Totale") == "1"
    assert parse(report.ReportByUser(key, "anna@example.com", 1, 0)).find("Opens").get("Totale") == "4"


def test_unsubscribed_address_has_no_statistics(report, key):
    anna = subscribe("anna@example.com")
    bruno = subscribe("bruno@example.com")
    message = newsletter(html=TRACKED_HTML)
    open_and_click(delivered_to(message, anna))
    open_and_click(delivered_to(message, bruno))
    unsubscribe("anna@example.com")

    by_user = parse(report.ReportByUser(key, "anna@example.com", 1, 0))
    by_message = parse(report.ReportByMessageEN(key, 1, message.pk))

    assert by_user.find("Opens").get("Totale") == "0"
    assert by_user.find("Clicks") is None
    assert [element.get("Email") for element in by_message.findall("Opens/Open")] == ["bruno@example.com"]
    assert [element.get("Email") for element in by_message.findall("Clicks/Click")] == ["bruno@example.com"]


@pytest.mark.parametrize("operation, total", [("ReportByMessage", "Totale"), ("ReportByMessageEN", "Total")])
def test_report_by_message_counts(report, key, operation, total):
    anna = subscribe("anna@example.com")
    bruno = subscribe("bruno@example.com")
    message = newsletter(html=TRACKED_HTML)
    other = newsletter(html=TRACKED_HTML)
    open_and_click(delivered_to(message, anna), opens=2, clicks=(1, 2, 2))
    open_and_click(delivered_to(message, bruno), opens=1, clicks=(1,))
    open_and_click(delivered_to(other, bruno), opens=5, clicks=(2,))

    result = parse(getattr(report, operation)(key, 1, message.pk))
    every_message = parse(getattr(report, operation)(key, 1, 0))

    clicks = result.findall("Clicks")
    assert [(element.get("Url"), element.get(total)) for element in clicks] == [
        ("https://shop.example/?e=[email]", "2"),
        ("https://blog.example/", "2"),
    ]
    assert [(click.get("Email"), click.get(total)) for click in clicks[0]] == [("anna@example.com", "1"), ("bruno@example.com", "1")]
    assert [(click.get("Email"), click.get(total)) for click in clicks[1]] == [("anna@example.com", "2")]
    assert result.find("Opens").get(total) == "3"
    assert [(element.get("Email"), element.get(total)) for element in result.findall("Opens/Open")] == [("anna@example.com", "2"), ("bruno@example.com", "1")]
    assert every_message.find("Opens").get(total) == "8"
    assert sum(int(element.get(total)) for element in every_message.findall("Clicks")) == 5


def test_soap12_port(demo, server_url):
    report = client(server_url, "MailupReport", soap12=True)
    key = login(report)

    assert error_code(report.ReportByUserEN(key, "x@example.com", 1, 0)) == 0
