"""PyPI mailupy 1.1.4, unchanged, against the live server: its public API for lists, groups and recipients."""

import pytest

from lists.demo import DEMO_CONSOLE_PASSWORD, DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET
from lists.models import Subscription
from sending.models import SinkSms
from tests.sending.campaigns import newsletter

mailupy = pytest.importorskip(
    "mailupy", reason="install the clients with: pip install --no-deps -r requirements-clients.txt"
)

mailupy_utils = pytest.importorskip("mailupy.utils")

Status = Subscription.Status


@pytest.fixture
def client(demo, server_url):
    """A Mailupy pointed at the live server through its documented class attributes."""

    class LocalMailupy(mailupy.Mailupy):
        AUTH_URL = f"{server_url}/Authorization/OAuth/Token"
        BASE_URL = f"{server_url}/API/v1.1/Rest/ConsoleService.svc/Console"

    return LocalMailupy("m1234", DEMO_CONSOLE_PASSWORD, DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET)


def status_of(email, list_id=1):
    return Subscription.objects.get(recipient__email=email, list__list_id=list_id).status


def test_login_and_fields(client):
    fields = list(client.get_fields())
    assert [field["Id"] for field in fields] == list(range(1, 40))
    assert fields[0]["Description"] == "nome"


def test_groups(client):
    names = [group["Name"] for group in client.get_groups_from_list(1)]
    assert names == ["Clienti", "Prospect"]

    created = client.create_group(1, "Da mailupy", notes="creato")
    assert created["Name"] == "Da mailupy"
    group_id, was_created = client.get_or_create_group(1, "Da mailupy")
    assert group_id == created["idGroup"]
    assert was_created is False
    other_id, was_created = client.get_or_create_group(1, "Nuovo")
    assert was_created is True
    assert other_id != group_id


def test_subscribe_find_update_unsubscribe(client):
    recipient_id = client.subscribe_to_list(1, "Mario Rossi", "mario@example.com", fields={"nome": "Mario"})
    assert isinstance(recipient_id, int)
    assert status_of("mario@example.com") == Status.SUBSCRIBED

    found = client.get_subscribed_recipient_from_list(1, "Mario@Example.com")
    assert found["idRecipient"] == recipient_id
    assert found["Fields"][0]["Value"] == "Mario"

    updated = client.update_customer_fields("Mario Rossi", "mario@example.com", fields={"cognome": "Rossi"})
    assert updated["Fields"][1]["Value"] == "Rossi"

    assert client.unsubscribe_from_list(1, recipient_id) is True
    assert status_of("mario@example.com") == Status.UNSUBSCRIBED
    assert client.get_unsubscribed_recipient_from_list(1, "mario@example.com")["idRecipient"] == recipient_id
    assert client.get_recipient_from_list(1, "mario@example.com")["Status"] == "OPTOUT"
    assert client.get_subscribed_recipient_from_list(1, "mario@example.com") is None


def test_subscribe_pending(client, sink):
    client.subscribe_to_list(1, "Anna", "anna@example.com", pending=True)
    assert status_of("anna@example.com") == Status.PENDING
    assert sink.wait_for(1)[0].rcpt_to == ["anna@example.com"]


def test_group_membership(client):
    group_id, _created = client.get_or_create_group(1, "Clienti")
    recipient_id = client.subscribe_to_group(group_id, "Luca", "luca@example.com")

    assert client.get_recipient_from_group(group_id, "luca@example.com")["idRecipient"] == recipient_id
    assert [item["idRecipient"] for item in client.get_recipients_from_group(group_id)] == [recipient_id]

    client.unsubscribe_from_group(group_id, recipient_id)
    assert client.get_recipient_from_group(group_id, "luca@example.com") is None


def test_remove_from_list_and_all(client):
    first = client.subscribe_to_list(1, "Uno", "uno@example.com")
    client.subscribe_to_list(2, "Uno", "uno@example.com")

    client.remove_from_list(1, first)
    assert client.get_recipient_from_list(1, "uno@example.com") is None
    assert client.get_recipient_from_list(2, "uno@example.com") is not None

    client.remove_from_list("all", first)
    assert client.get_recipient_from_list(2, "uno@example.com") is None


def test_paging_of_many_recipients(client):
    for number in range(45):
        client.subscribe_to_list(1, "", f"user{number:02d}@example.com")

    emails = [item["Email"] for item in client.get_subscribed_recipients_from_list(1)]
    assert emails == [f"user{number:02d}@example.com" for number in range(45)]
    ordered = [item["Email"] for item in client.get_subscribed_recipients_from_list(1, order_by=["Email desc"])]
    assert ordered[0] == "user44@example.com"
    filtered = list(client.get_subscribed_recipients_from_list(1, filter_by="Email.Contains('user1')"))
    assert len(filtered) == 10


def test_garbage_token_refreshes_once(client):
    old_refresh_token = client._refresh_token
    client._token = "garbage"

    assert len(list(client.get_fields())) == 39
    assert client._token != "garbage"
    assert client._refresh_token != old_refresh_token


def test_messages_by_tag(client):
    tagged = newsletter(subject="Natale", tags=["natale"])
    newsletter(subject="Senza tag")

    assert [item["idMessage"] for item in client.get_messages_from_list(1, tags=["natale"])] == [tagged.pk]
    assert len(list(client.get_messages_from_list(1))) == 2


def test_single_send(client, sink):
    client.subscribe_to_list(1, "Mario", "mario@example.com")
    message = newsletter(html="<p>Ciao [nome]</p>")

    assert client.send_message("mario@example.com", message.pk, fields={"nome": "Mario"}) is True
    [received] = sink.wait_for(1, subject=message.subject)
    assert received.rcpt_to == ["mario@example.com"]
    assert b"Ciao Mario" in bytes(received.raw)


def test_send_sms(client, api):
    recipient = {"Email": "sms@example.com", "MobilePrefix": "0039", "MobileNumber": "3331234567"}
    api.post("/List/1/Recipient", json=recipient)
    message = api.post("/Sms/List/1/Message", json={"Subject": "Promo", "Content": "Promo per [nome]"}).json()

    assert client.send_sms("0039", "3331234567", message["idMessage"], fields={"nome": "Sara"}) is True
    assert list(SinkSms.objects.values_list("number", "text")) == [("00393331234567", "Promo per Sara")]


def recording(function, calls):
    """Wrap a requests function so that each call's URL and status are appended to `calls`."""

    def call(url, **kwargs):
        response = function(url, **kwargs)
        calls.append((url, response.status_code))
        return response

    return call


def test_garbage_token_gets_one_401(client, monkeypatch):
    """After its access token is replaced with garbage, mailupy sees one 401, refreshes once and succeeds."""
    calls = []
    for method, function in list(mailupy_utils.type_to_request_function.items()):
        monkeypatch.setitem(mailupy_utils.type_to_request_function, method, recording(function, calls))
    client._token = "garbage"

    assert len(list(client.get_fields())) == 39
    statuses = [status for _url, status in calls]
    assert statuses.count(401) == 1
    refreshes = [url for url, _status in calls if url.endswith("/Authorization/OAuth/Token")]
    assert len(refreshes) == 1
    assert statuses[1] == 200
