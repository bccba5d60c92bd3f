"""Webhooks end to end: frontend calls fire deliveries to a real HTTP receiver on 127.0.0.1."""

import base64
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher
from django.utils import timezone

from integrations import tasks, webhooks
from integrations.models import Webhook, WebhookAttempt, WebhookDelivery
from integrations.webhooks import MAX_ATTEMPTS, rc4, replay_webhook_delivery
from lists import services
from lists.models import Account, List
from tests.lists.pages import LIST1_GUID
from tests.support import free_port

Status = WebhookDelivery.Status
SUBSCRIBE = "/frontend/xmlSubscribe.aspx"
PARAMETERS = [
    ["customerEmail", "[email]"],
    ["customerList", "[IdList]"],
    ["firstName", "[nome]"],
    ["company", "[campo3]"],
    ["subscribeDate", "[EventDate]"],
    ["type", "[EventType]"],
    ["source", "[EventSource]"],
    ["console", "[IdConsole]"],
    ["message", "[IdNL]"],
]
SUBSCRIBE_ANNA = (
    f"{SUBSCRIBE}?List=1&Email=anna%40example.com&Confirm=0&retCode=1"
    "&csvFldNames=campo1;campo3&csvFldValues=Anna Maria;Caffè Rossi"
)
EVENT_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d$")


def add_webhook(url, method="GET", event=Webhook.Event.SUBSCRIBE, sources=("API",), key="", parameters=PARAMETERS):
    return Webhook.objects.create(
        account=Account.objects.get(console_id=1234),
        event=event,
        sources=list(sources),
        method=method,
        url=url,
        parameters=parameters,
        encryption_key=key,
    )


def query_of(request):
    return urlsplit(request["path"]).query


def make_due_and_sweep():
    WebhookDelivery.objects.filter(status=Status.PENDING).update(next_attempt_at=timezone.now())
    tasks.sweep_webhook_deliveries()


def rc4_decrypt(key, data):
    decryptor = Cipher(ARC4(key.encode("utf-8")), mode=None).decryptor()
    return decryptor.update(data) + decryptor.finalize()


# --- Dispatch and parameters --------------------------------------------------------


def test_subscribe_fires_get_with_mapped_parameters(demo, http, receiver):
    add_webhook(receiver.url)

    assert http.get(SUBSCRIBE_ANNA).text == "0"

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["method"] == "GET"
    assert urlsplit(request["path"]).path == "/mailup/webhook/subscribe"
    values = parse_qs(query_of(request), keep_blank_values=True)
    assert values["customerEmail"] == ["anna@example.com"]
    assert values["customerList"] == ["1"]
    assert values["firstName"] == ["Anna Maria"]
    assert values["company"] == ["Caffè Rossi"]
    assert values["type"] == ["Subscribe"]
    assert values["source"] == ["API"]
    assert values["console"] == ["1234"]
    assert values["message"] == [""]
    assert EVENT_DATE.match(values["subscribeDate"][0])


def test_parameters_use_lower_case_hex(demo, http, receiver):
    add_webhook(receiver.url)

    http.get(SUBSCRIBE_ANNA)

    query = query_of(receiver.requests[0])
    assert "customerEmail=anna%40example.com&" in query
    assert "company=Caff%c3%a8%20Rossi" in query
    assert "%3a" in query
    assert not re.search(r"%[0-9a-f]?[A-F]", query)


def test_subscribe_fires_post_with_form_body(demo, http, receiver):
    add_webhook(receiver.url, method="POST")

    http.get(SUBSCRIBE_ANNA)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["method"] == "POST"
    assert query_of(request) == ""
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    values = parse_qs(request["body"].decode("ascii"))
    assert values["customerEmail"] == ["anna@example.com"]
    assert values["firstName"] == ["Anna Maria"]


def test_identical_repeat_fires_nothing(demo, http, receiver):
    add_webhook(receiver.url)
    http.get(SUBSCRIBE_ANNA)

    assert http.get(SUBSCRIBE_ANNA).text != ""

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.count() == 1


def test_source_filter_skips_other_sources(demo, http, receiver):
    add_webhook(receiver.url, sources=["Console", "Recipient"])

    http.get(SUBSCRIBE_ANNA)

    assert receiver.requests == []
    assert WebhookDelivery.objects.count() == 0


def test_inactive_webhook_fires_nothing(demo, http, receiver):
    webhook = add_webhook(receiver.url)
    webhook.active = False
    webhook.save()

    http.get(SUBSCRIBE_ANNA)

    assert receiver.requests == []


def test_unsubscribe_fires_unsubscribe_webhook(demo, http, receiver):
    add_webhook(receiver.url, event=Webhook.Event.UNSUBSCRIBE, parameters=[["email", "[email]"], ["t", "[EventType]"]])
    http.get(SUBSCRIBE_ANNA)
    assert receiver.requests == []

    response = http.get(f"/frontend/xmlUnSubscribe.aspx?ListGuid={LIST1_GUID}&List=1&Email=anna%40example.com")

    assert response.text == "0"

    assert len(receiver.requests) == 1
    assert query_of(receiver.requests[0]) == "email=anna%40example.com&t=Unsubscribe"


def test_field_change_fires_changeprofile(demo, http, receiver):
    add_webhook(receiver.url, event=Webhook.Event.CHANGE_PROFILE, parameters=[["t", "[EventType]"], ["n", "[nome]"]])
    http.get(SUBSCRIBE_ANNA)
    assert receiver.requests == []

    http.get(SUBSCRIBE_ANNA.replace("Anna Maria", "Anna"))

    assert len(receiver.requests) == 1
    assert query_of(receiver.requests[0]) == "t=Changeprofile&n=Anna"


def test_rest_events_fire_nothing(demo, receiver):
    add_webhook(receiver.url, sources=["API", "Console", "Recipient", "Import"])
    mailing_list = List.objects.get(account__console_id=1234, list_id=1)

    services.add_recipient(mailing_list.account, mailing_list, services.Contact(email="rest@example.com"), {})

    assert receiver.requests == []
    assert WebhookDelivery.objects.count() == 0


def test_bulk_import_fires_nothing(demo, receiver):
    add_webhook(receiver.url, sources=["API", "Console", "Recipient", "Import"])
    mailing_list = List.objects.get(account__console_id=1234, list_id=1)

    row = services.ImportRow(contact=services.Contact(email="imported@example.com"))
    services.import_rows(mailing_list, [row])

    assert receiver.requests == []
    assert WebhookDelivery.objects.count() == 0


def test_encrypted_call_decodes_like_magento(demo, http, receiver):
    add_webhook(receiver.url, key="Chiave segretaè")

    http.get(SUBSCRIBE_ANNA)

    query = query_of(receiver.requests[0])
    assert "=" not in query
    assert "&" not in query
    # The Magento receiver takes the parameter name, Base64-decodes it, decrypts it and parses the result.
    name = unquote(query)
    plain = rc4_decrypt("Chiave segretaè", base64.b64decode(name, validate=True)).decode("utf-8")
    values = parse_qs(plain)
    assert values["customerEmail"] == ["anna@example.com"]
    assert values["company"] == ["Caffè Rossi"]
    assert plain == WebhookDelivery.objects.get().parameters


def test_encrypted_post_sends_blob_as_body(demo, http, receiver):
    add_webhook(receiver.url, method="POST", key="0123456789abcdef")

    http.get(SUBSCRIBE_ANNA)

    body = receiver.requests[0]["body"].decode("ascii")
    plain = rc4_decrypt("0123456789abcdef", base64.b64decode(unquote(body), validate=True)).decode("utf-8")
    assert parse_qs(plain)["customerEmail"] == ["anna@example.com"]


def test_rc4_matches_published_vectors():
    # Widely quoted RC4 test vectors; a 3-byte key such as "Key" is one that cryptography's ARC4 rejects.
    assert rc4(b"Key", b"Plaintext").hex() == "bbf316e8d940af0ad3"
    assert rc4(b"Wiki", b"pedia").hex() == "1021bf0420"
    assert rc4(b"Key", rc4(b"Key", b"round trip")) == b"round trip"


# --- Delivery, retries and replay ---------------------------------------------------


def test_retry_after_500_keeps_delivery_id(demo, http, receiver):
    add_webhook(receiver.url)
    receiver.planned_statuses = [500]

    http.get(SUBSCRIBE_ANNA)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert delivery.attempts == 1

    make_due_and_sweep()

    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 2
    assert len(receiver.requests) == 2
    ids = [request["headers"]["X-MailupSim-Delivery-Id"] for request in receiver.requests]
    assert ids == [str(delivery.pk), str(delivery.pk)]
    attempts = list(delivery.attempt_log.order_by("id"))
    assert [attempt.status_code for attempt in attempts] == [500, 200]
    assert attempts[0].response == "server error"
    assert attempts[1].response == "1"


def test_attempt_keeps_start_of_long_response(demo, http, receiver):
    add_webhook(receiver.url)
    receiver.long_response = True

    http.get(SUBSCRIBE_ANNA)

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 200
    assert attempt.response == "è" * 2000


def test_sweep_skips_delivery_not_due(demo, http, receiver):
    add_webhook(receiver.url)
    receiver.planned_statuses = [500]
    http.get(SUBSCRIBE_ANNA)

    assert tasks.sweep_webhook_deliveries() == 0

    assert len(receiver.requests) == 1


def test_ten_failures_mark_delivery_failed(demo, http, receiver):
    add_webhook(receiver.url)
    receiver.always_fail = True

    http.get(SUBSCRIBE_ANNA)
    for _ in range(MAX_ATTEMPTS - 1):
        make_due_and_sweep()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == MAX_ATTEMPTS
    assert WebhookAttempt.objects.filter(delivery=delivery, status_code=500).count() == MAX_ATTEMPTS
    make_due_and_sweep()
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_connection_error_is_failed_attempt(demo, http):
    add_webhook(f"http://127.0.0.1:{free_port()}/closed")

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert "ConnectionRefusedError" in attempt.error


def test_slow_crm_times_out(demo, http, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "REQUEST_TIMEOUT_SECONDS", 0.5)
    add_webhook(receiver.url)
    receiver.delay = 2

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert "timed out" in attempt.error


def test_trickled_headers_time_out(demo, http, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "REQUEST_TIMEOUT_SECONDS", 1)
    add_webhook(receiver.url)
    receiver.trickle = "headers"

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert "timed out" in attempt.error
    assert attempt.duration_ms < 5000


def test_trickled_body_cut_at_deadline(demo, http, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "REQUEST_TIMEOUT_SECONDS", 1)
    add_webhook(receiver.url)
    receiver.trickle = "body"

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.DELIVERED
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 200
    assert attempt.response.startswith("x")
    assert attempt.duration_ms < 5000


def test_port_out_of_range_is_failed_attempt(demo, http):
    add_webhook("http://127.0.0.1:99999/hook")

    http.get(SUBSCRIBE_ANNA)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert delivery.claimed_at is None
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert "Port out of range" in attempt.error


def test_replay_sends_failed_delivery_again(demo, http, receiver):
    add_webhook(receiver.url)
    receiver.always_fail = True
    http.get(SUBSCRIBE_ANNA)
    for _ in range(MAX_ATTEMPTS - 1):
        make_due_and_sweep()
    receiver.always_fail = False
    delivery = WebhookDelivery.objects.get()

    assert replay_webhook_delivery(delivery.pk) is True

    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempt_log.count() == MAX_ATTEMPTS + 1
    assert receiver.requests[-1]["headers"]["X-MailupSim-Delivery-Id"] == str(delivery.pk)


def test_replay_ignores_delivered_delivery(demo, http, receiver):
    add_webhook(receiver.url)
    http.get(SUBSCRIBE_ANNA)
    delivery = WebhookDelivery.objects.get()

    assert replay_webhook_delivery(delivery.pk) is False

    assert len(receiver.requests) == 1


def test_task_run_twice_sends_once(demo, http, receiver):
    add_webhook(receiver.url)
    http.get(SUBSCRIBE_ANNA)
    delivery = WebhookDelivery.objects.get()

    assert tasks.deliver_webhook(delivery.pk) is None

    assert len(receiver.requests) == 1


# --- Sink inspection API ------------------------------------------------------------


def test_sink_api_lists_deliveries_with_attempts(demo, http, receiver):
    add_webhook(receiver.url)
    add_webhook(f"http://127.0.0.1:{receiver.port}/other", method="POST")
    receiver.planned_statuses = [503]
    http.get(SUBSCRIBE_ANNA)

    listing = http.get("/sink/api/webhooks?url=webhook/subscribe").json()

    assert listing["total"] == 1
    delivery = listing["deliveries"][0]
    assert delivery["url"] == receiver.url
    assert delivery["status"] == "pending"
    assert [attempt["status_code"] for attempt in delivery["attempt_log"]] == [503]
    assert delivery["attempt_log"][0]["response"] == "server error"
    delivered = http.get("/sink/api/webhooks?status=delivered").json()
    assert [item["method"] for item in delivered["deliveries"]] == ["POST"]


def test_sink_api_rejects_unknown_status(demo, http):
    response = http.get("/sink/api/webhooks?status=lost")

    assert response.status_code == 400
    assert "status must be one of" in response.json()["error"]


def test_crm_down_three_calls_gets_each_event_once(demo, http, receiver):
    parameters = [["customerEmail", "[email]"], ["type", "[EventType]"]]
    add_webhook(receiver.url, parameters=parameters)
    add_webhook(receiver.url, event=Webhook.Event.UNSUBSCRIBE, parameters=parameters)
    receiver.planned_statuses = [503, 503, 503]

    http.get(SUBSCRIBE_ANNA)
    http.get(SUBSCRIBE_ANNA.replace("anna", "bruno"))
    http.get(f"/frontend/xmlUnSubscribe.aspx?ListGuid={LIST1_GUID}&List=1&Email=anna%40example.com")
    for _ in range(MAX_ATTEMPTS):
        make_due_and_sweep()

    accepted = [request for request in receiver.requests if request["status"] == 200]
    received = sorted(query_of(request) for request in accepted)
    assert received == [
        "customerEmail=anna%40example.com&type=Subscribe",
        "customerEmail=anna%40example.com&type=Unsubscribe",
        "customerEmail=bruno%40example.com&type=Subscribe",
    ]
    delivery_ids = [request["headers"]["X-MailupSim-Delivery-Id"] for request in accepted]
    assert len(set(delivery_ids)) == 3
    assert WebhookDelivery.objects.filter(status=Status.DELIVERED).count() == 3
    failures = WebhookAttempt.objects.filter(status_code=503)
    assert failures.count() == 3
    assert {attempt.response for attempt in failures} == {"server error"}
    assert WebhookAttempt.objects.filter(status_code=200).count() == 3
