"""Transactional SMS API v2.0: sends into the SMS sink, their errors, and ListSecret management with Basic auth."""

import base64
import json
import logging

import pytest

from lists.demo import DEMO_CONSOLE_PASSWORD, DEMO_WS_PASSWORD, seed_demo
from lists.models import Account, List, Recipient, Subscription
from sending.models import SinkSms, SmsMessage, SmsSending

ODATA_JSON = "application/json;odata=verbose;charset=utf-8"
SEND = "/api/v2.0/sms/1234/1"
SECRET = "/api/v2.0/lists/1/listsecret"
NUMBER = "+393350000001"


def basic(username="m1234", password=DEMO_CONSOLE_PASSWORD):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def manage_secret(client, method, path=SECRET, authorization=None):
    call = getattr(client, method.lower())
    return call(path, content_type=ODATA_JSON, HTTP_AUTHORIZATION=authorization or basic())


def post_sms(client, body, path=SEND):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, data=data, content_type=ODATA_JSON)


def subscribe_sms(number="3350000001", status="subscribed", list_id=1, name="Anna"):
    mailing_list = List.objects.get(account__console_id=1234, list_id=list_id)
    recipient, _ = Recipient.objects.get_or_create(
        account=mailing_list.account, mobile_prefix="0039", mobile_number=number, defaults={"fields": {"1": name}}
    )
    Subscription.objects.create(recipient=recipient, list=mailing_list, channel="sms", status=status, source="API")
    return recipient


@pytest.fixture
def secret(db, client):
    """The demo console with a ListSecret on list 1 and Anna subscribed to it by SMS; returns the secret."""
    seed_demo()
    subscribe_sms()
    response = manage_secret(client, "POST")
    assert response.status_code == 200, response.content
    return response.json()["ListSecret"]


def sms_body(secret, **changes):
    body = {
        "Content": "Ciao [Name] ([nome]), benvenuto a [City]",
        "ListGuid": str(List.objects.get(account__console_id=1234, list_id=1).guid),
        "ListSecret": secret,
        "Recipient": NUMBER,
        "CampaignCode": "Welcome messages",
        "DynamicFields": [{"N": "Name", "V": "John"}, {"N": "city", "V": "Cremona"}],
        "isUnicode": 0,
        "Sender": "Shop",
    }
    body.update(changes)
    return body


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["Code"] == code
    assert body["Status"] == "error"
    assert body["Message"]


# --- Sending ---------------------------------------------------------------------------


def test_send_lands_in_sms_sink(secret, client):
    response = post_sms(client, sms_body(secret))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["Code"] == "0"
    assert body["Status"] == "done"
    assert body["Cost"] == 1
    [sms] = SinkSms.objects.all()
    assert body["DeliveryId"] == sms.sending_id
    assert sms.text == "Ciao John (Anna), benvenuto a Cremona"
    assert sms.sender == "Shop"
    assert sms.number == "00393350000001"
    assert sms.account_console_id == 1234
    assert sms.list_id == 1


def test_send_listed_by_sink_api(secret, client):
    post_sms(client, sms_body(secret, Sender="Shop2026"))

    listed = client.get("/sink/api/sms?number=3350000001").json()
    assert listed["total"] == 1
    assert listed["messages"][0]["sender"] == "Shop2026"
    assert listed["messages"][0]["text"] == "Ciao John (Anna), benvenuto a Cremona"


def test_send_path_ignores_case(secret, client):
    response = post_sms(client, sms_body(secret), path="/API/V2.0/SMS/1234/1")
    assert response.status_code == 200, response.content
    assert SinkSms.objects.count() == 1


@pytest.mark.parametrize("recipient", ["+393350000001", "00393350000001", "3350000001"])
def test_recipient_spellings(secret, client, recipient):
    response = post_sms(client, sms_body(secret, Recipient=recipient))
    assert response.status_code == 200, response.content
    assert SinkSms.objects.get().number == "00393350000001"


def test_campaign_code_reuses_one_message(secret, client):
    first = post_sms(client, sms_body(secret)).json()
    second = post_sms(client, sms_body(secret, Content="Second text")).json()
    other = post_sms(client, sms_body(secret, CampaignCode="Orders")).json()

    welcome = SmsMessage.objects.get(campaign_code="Welcome messages")
    assert welcome.subject == "Welcome messages"
    assert welcome.text == "Ciao [Name] ([nome]), benvenuto a [City]"
    assert SmsSending.objects.get(pk=first["DeliveryId"]).message == welcome
    assert SmsSending.objects.get(pk=second["DeliveryId"]).message == welcome
    assert SmsSending.objects.get(pk=other["DeliveryId"]).message.campaign_code == "Orders"
    assert SmsMessage.objects.count() == 2
    assert len({first["DeliveryId"], second["DeliveryId"], other["DeliveryId"]}) == 3


def test_missing_campaign_code_shares_list_message(secret, client):
    post_sms(client, sms_body(secret, CampaignCode=None))
    post_sms(client, sms_body(secret, CampaignCode=""))

    message = SmsMessage.objects.get()
    assert message.campaign_code == ""
    assert message.subject == "Transactional SMS"
    assert message.sendings.count() == 2


def test_console_messages_stay_apart(secret, client):
    console_message = SmsMessage.objects.create(list=List.objects.get(account__console_id=1234, list_id=1), text="x")

    post_sms(client, sms_body(secret, CampaignCode=""))

    assert console_message.sendings.count() == 0
    assert SmsMessage.objects.count() == 2


@pytest.mark.parametrize(
    ("unicode", "limit", "cost"),
    [(0, 459, 3), (1, 670, 10), (False, 459, 3), (True, 670, 10), ("1", 670, 10)],
)
def test_content_cut_at_limit(secret, client, unicode, limit, cost):
    content = "".join(str(index % 10) for index in range(limit + 40))

    response = post_sms(client, sms_body(secret, Content=content, isUnicode=unicode, DynamicFields=[]))

    assert response.status_code == 200, response.content
    assert SinkSms.objects.get().text == content[:limit]
    assert response.json()["Cost"] == cost


@pytest.mark.parametrize(
    ("unicode", "length", "cost"),
    [(0, 160, 1), (0, 161, 2), (0, 306, 2), (0, 307, 3), (1, 70, 1), (1, 71, 2), (1, 134, 2), (1, 135, 3)],
)
def test_cost_counts_parts(secret, client, unicode, length, cost):
    response = post_sms(client, sms_body(secret, Content="x" * length, isUnicode=unicode))
    assert response.json()["Cost"] == cost


def test_cut_applies_after_fields(secret, client):
    content = "[Name]" + "y" * 455

    post_sms(client, sms_body(secret, Content=content, DynamicFields=[{"N": "Name", "V": "Johnny"}]))

    text = SinkSms.objects.get().text
    assert len(text) == 459
    assert text.startswith("Johnny")


def test_field_values_not_filled_twice(secret, client):
    fields = [{"N": "A", "V": "[B]"}, {"N": "B", "V": "bee"}]

    post_sms(client, sms_body(secret, Content="[a] [b] [unknown]", DynamicFields=fields))

    assert SinkSms.objects.get().text == "[B] bee [unknown]"


def test_log_names_ids_not_secret(secret, client, caplog):
    caplog.set_level(logging.INFO)

    post_sms(client, sms_body(secret))
    post_sms(client, sms_body(secret[::-1]))
    manage_secret(client, "GET")

    assert "transactional sms sent console=1234 list=1" in caplog.text
    assert secret not in caplog.text
    assert secret[::-1] not in caplog.text


# --- Errors ------------------------------------------------------------------------------


def test_wrong_secret_is_code_3(secret, client):
    assert_error(post_sms(client, sms_body("ffffffff-ffff-ffff-ffff-ffffffffffff")), 403, "3")
    assert_error(post_sms(client, sms_body("")), 403, "3")


def test_wrong_guid_is_code_3(secret, client):
    other_guid = str(List.objects.get(account__console_id=1234, list_id=2).guid)
    assert_error(post_sms(client, sms_body(secret, ListGuid=other_guid)), 403, "3")
    assert_error(post_sms(client, sms_body(secret, ListGuid="not a guid")), 403, "3")


@pytest.mark.parametrize("missing", ["ListGuid", "ListSecret"])
def test_missing_credentials_are_code_3(secret, client, missing):
    body = sms_body(secret)
    del body[missing]
    assert_error(post_sms(client, body), 403, "3")


def test_secret_of_other_list_is_code_3(secret, client):
    subscribe_sms(list_id=2)
    other_secret = manage_secret(client, "POST", path="/api/v2.0/lists/2/listsecret").json()["ListSecret"]
    other_guid = str(List.objects.get(account__console_id=1234, list_id=2).guid)

    assert_error(post_sms(client, sms_body(other_secret, ListGuid=other_guid)), 403, "3")
    assert post_sms(client, sms_body(other_secret, ListGuid=other_guid), path="/api/v2.0/sms/1234/2").status_code == 200


def test_list_without_secret_is_code_3(db, client):
    seed_demo()
    subscribe_sms()
    assert_error(post_sms(client, sms_body("00000000-0000-0000-0000-000000000000")), 403, "3")


@pytest.mark.parametrize(
    "path", ["/api/v2.0/sms/1234/7", "/api/v2.0/sms/9999/1", "/api/v2.0/sms/1234/0", "/api/v2.0/sms/1234/99999999999999999999999"]
)
def test_unknown_list_is_code_4(secret, client, path):
    assert_error(post_sms(client, sms_body(secret), path=path), 404, "4")


def test_list_secret_huge_list_id_is_404(secret, client):
    assert_error(manage_secret(client, "GET", path="/api/v2.0/lists/99999999999999999999999/listsecret"), 404, "4")


@pytest.mark.parametrize("content", ["", "   ", None, "[Name]"])
def test_empty_content_is_code_7(secret, client, content):
    fields = [{"N": "Name", "V": " "}]
    assert_error(post_sms(client, sms_body(secret, Content=content, DynamicFields=fields)), 400, "7")


@pytest.mark.parametrize("sender", ["TwelveLetter", "Shop-It", "Shop It", "Caffè", "Shop\n"])
def test_bad_sender_is_code_8(secret, client, sender):
    assert_error(post_sms(client, sms_body(secret, Sender=sender)), 400, "8")


def test_empty_sender_is_accepted(secret, client):
    assert post_sms(client, sms_body(secret, Sender="")).status_code == 200
    assert SinkSms.objects.get().sender == ""


@pytest.mark.parametrize("number", ["", None, "+39 335 0000001", "abc", "+3933", "00999123456789"])
def test_bad_recipient_is_code_9(secret, client, number):
    assert_error(post_sms(client, sms_body(secret, Recipient=number)), 400, "9")


@pytest.mark.parametrize("status", ["pending", "unsubscribed"])
def test_recipient_not_subscribed_is_code_10(secret, client, status):
    subscribe_sms(number="3350000002", status=status)
    assert_error(post_sms(client, sms_body(secret, Recipient="+393350000002")), 400, "10")


def test_unknown_recipient_is_code_10(secret, client):
    assert_error(post_sms(client, sms_body(secret, Recipient="+393359999999")), 400, "10")


def test_recipient_on_other_list_is_code_10(secret, client):
    subscribe_sms(number="3350000003", list_id=2)
    assert_error(post_sms(client, sms_body(secret, Recipient="+393350000003")), 400, "10")


def test_email_subscription_is_not_sms(secret, client):
    recipient = Recipient.objects.create(account=Account.objects.get(console_id=1234), mobile_prefix="0039", mobile_number="3350000004")
    Subscription.objects.create(recipient=recipient, list=List.objects.get(account__console_id=1234, list_id=1), channel="email", status="subscribed", source="API")
    assert_error(post_sms(client, sms_body(secret, Recipient="+393350000004")), 400, "10")


def test_inactive_console_is_code_11(secret, client):
    Account.objects.filter(console_id=1234).update(status=Account.Status.SUSPENDED)
    assert_error(post_sms(client, sms_body(secret)), 403, "11")


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", "[1, 2]", '"text"', "null"])
def test_body_not_object_is_code_1(secret, client, body):
    assert_error(post_sms(client, body), 400, "1")


@pytest.mark.parametrize(
    "changes",
    [
        {"isUnicode": 2},
        {"isUnicode": "yes"},
        {"isUnicode": [0]},
        {"isUnicode": 0.5},
        {"Content": 12},
        {"Content": "a\x00b"},
        {"Sender": 7},
        {"Recipient": 393350000001},
        {"CampaignCode": {"a": 1}},
        {"CampaignCode": "c" * 201},
        {"DynamicFields": {"N": "Name"}},
        {"DynamicFields": ["Name"]},
        {"DynamicFields": [{"N": "Name", "V": 3}]},
        {"DynamicFields": [{"N": "Name", "V": "v" * 2001}]},
        {"DynamicFields": [{"N": f"F{index}", "V": ""} for index in range(101)]},
    ],
)
def test_invalid_field_is_code_2(secret, client, changes):
    assert_error(post_sms(client, sms_body(secret, **changes)), 400, "2")


def test_body_too_large_is_code_5(secret, client):
    assert_error(post_sms(client, sms_body(secret, Content="x" * 70_000)), 413, "5")


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_method_is_code_6(secret, client, method):
    assert_error(getattr(client, method)(SEND), 405, "6")


def test_rejected_requests_store_nothing(secret, client):
    for changes in ({"Sender": "Bad-Sender"}, {"Recipient": "+393359999999"}, {"Content": ""}, {"ListSecret": "x"}):
        post_sms(client, sms_body(secret, **changes))

    assert SinkSms.objects.count() == 0
    assert SmsMessage.objects.count() == 0
    assert SmsSending.objects.count() == 0


# --- ListSecret ------------------------------------------------------------------------------


def test_list_secret_lifecycle(db, client):
    seed_demo()
    subscribe_sms()

    absent = manage_secret(client, "GET")
    assert absent.status_code == 200
    assert absent.json()["ListSecret"] is None
    assert absent.json()["Code"] == "0"

    created = manage_secret(client, "POST").json()
    secret = created["ListSecret"]
    assert len(secret) == 36
    assert created["ListGuid"] == "0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e01"
    assert created["IdList"] == 1
    assert manage_secret(client, "GET").json()["ListSecret"] == secret
    assert manage_secret(client, "POST").json()["ListSecret"] == secret
    assert post_sms(client, sms_body(secret)).status_code == 200

    removed = manage_secret(client, "DELETE")
    assert removed.status_code == 200
    assert removed.json()["ListSecret"] is None
    assert manage_secret(client, "GET").json()["ListSecret"] is None
    assert_error(post_sms(client, sms_body(secret)), 403, "3")
    assert manage_secret(client, "DELETE").status_code == 200


def test_list_secret_rotation(secret, client):
    manage_secret(client, "DELETE")
    rotated = manage_secret(client, "POST").json()["ListSecret"]

    assert rotated != secret
    assert_error(post_sms(client, sms_body(secret)), 403, "3")
    assert post_sms(client, sms_body(rotated)).status_code == 200
    assert List.objects.get(account__console_id=1234, list_id=1).sms_list_secret == rotated


def test_list_secret_path_ignores_case(secret, client):
    response = manage_secret(client, "GET", path="/API/v2.0/Lists/1/ListSecret")
    assert response.status_code == 200
    assert response.json()["ListSecret"] == secret


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer abc",
        "Basic !!!",
        "Basic " + base64.b64encode(b"m1234").decode(),
        basic(password="wrong"),
        basic(username="m9999"),
        basic(username="a1234", password=DEMO_WS_PASSWORD),
        basic(username="someone"),
    ],
)
def test_list_secret_bad_basic_is_401(secret, client, authorization):
    call = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    for method in ("get", "post", "delete"):
        response = getattr(client, method)(SECRET, content_type=ODATA_JSON, **call)
        assert_error(response, 401, "12")
        assert response["WWW-Authenticate"].startswith("Basic")
    assert List.objects.get(account__console_id=1234, list_id=1).sms_list_secret == secret


def test_list_secret_unknown_list_is_404(secret, client):
    assert_error(manage_secret(client, "GET", path="/api/v2.0/lists/7/listsecret"), 404, "4")


def test_list_secret_inactive_console_is_403(secret, client):
    Account.objects.filter(console_id=1234).update(status=Account.Status.EXPIRED)
    assert_error(manage_secret(client, "GET"), 403, "11")


def test_list_secret_other_method_is_405(secret, client):
    assert_error(client.put(SECRET, HTTP_AUTHORIZATION=basic()), 405, "6")


# --- Another console ------------------------------------------------------------------------------


@pytest.fixture
def other_console(secret):
    """Console 5678 with its own list 1 (with a secret) and list 9, and a recipient subscribed by SMS to both."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    lists = {
        list_id: List.objects.create(
            account=account, list_id=list_id, name="Other", sender_name="Other", sender_email="n@other.example",
            sms_list_secret=f"5678{list_id:04d}-0000-0000-0000-000000000000",
        )
        for list_id in (1, 9)
    }  # fmt: skip
    recipient = Recipient.objects.create(account=account, mobile_prefix="0039", mobile_number="3350000001")
    for mailing_list in lists.values():
        Subscription.objects.create(recipient=recipient, list=mailing_list, channel="sms", status="subscribed", source="API")
    return lists


def test_other_console_list_secret_untouched(other_console, client):
    for method in ("GET", "POST", "DELETE"):
        assert_error(manage_secret(client, method, path="/api/v2.0/lists/9/listsecret"), 404, "4")

    manage_secret(client, "DELETE")

    for mailing_list in other_console.values():
        mailing_list.refresh_from_db()
        assert mailing_list.sms_list_secret.startswith("5678")


def test_other_console_list_rejects_demo_secret(other_console, secret, client):
    assert_error(post_sms(client, sms_body(secret), path="/api/v2.0/sms/5678/1"), 403, "3")
    assert_error(post_sms(client, sms_body(secret), path="/api/v2.0/sms/5678/9"), 403, "3")
    assert SinkSms.objects.count() == 0


def test_other_console_credentials_on_demo_path(other_console, client):
    other = other_console[9]
    body = sms_body(other.sms_list_secret, ListGuid=str(other.guid))

    assert_error(post_sms(client, body, path="/api/v2.0/sms/1234/9"), 404, "4")
    assert_error(post_sms(client, body, path="/api/v2.0/sms/1234/1"), 403, "3")
    assert post_sms(client, body, path="/api/v2.0/sms/5678/9").status_code == 200
    assert SinkSms.objects.get().account_console_id == 5678


def test_lone_surrogate_escape_is_code_2(secret, client):
    raw = json.dumps(sms_body(secret, Content="placeholder")).replace("placeholder", "Ciao \\ud800")

    response = post_sms(client, raw)

    assert_error(response, 400, "2")
    assert "Content" in response.json()["Message"]
