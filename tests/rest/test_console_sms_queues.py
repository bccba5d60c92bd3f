"""ConsoleService SMS queues: GET /Console/Sms/Sendings/Immediate, /Deferred and /Undefined."""

from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from lists.models import Account, List
from mailup_sim.openapi import build_openapi
from sending import services, sms_queue, tasks
from sending.models import Sending, SmsMessage, SmsSending
from tests.personas import demo_list
from tests.rest.conftest import assert_envelope

QUEUES = ("Immediate", "Deferred", "Undefined")
OPENAPI_PREFIX = "/API/v1.1/Rest/ConsoleService.svc/Console"


def sms_message(subject="Promo", mailing_list=None):
    return SmsMessage.objects.create(list=mailing_list or demo_list(1), subject=subject, text="Sconto 10%")


def scheduled(days=1, message=None):
    return sms_queue.schedule_sms(message or sms_message(), timezone.now() + timedelta(days=days))


def due(message=None):
    sending = scheduled(message=message)
    SmsSending.objects.filter(pk=sending.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    return sending


def paused():
    sending = scheduled()
    sms_queue.remove_sms_from_queue(sending, delete=False)
    return sending


def failed():
    sending = due()
    SmsSending.objects.filter(pk=sending.pk).update(status=SmsSending.Status.FAILED, attempts=10, last_error="boom")
    return sending


def queue_ids(api, queue, query=""):
    response = api.get(f"/Sms/Sendings/{queue}{query}")
    assert response.status_code == 200, response.text
    return [item["Id"] for item in response.json()["Items"]]


def test_sms_queues_split_sendings(api):
    due_sending = due()
    later = scheduled(days=2)
    paused_sending = paused()
    failed_sending = failed()
    sent = services.send_sms_to_list(sms_message())

    assert queue_ids(api, "Immediate") == [due_sending.pk]
    assert queue_ids(api, "Deferred") == [later.pk]
    assert queue_ids(api, "Undefined") == [paused_sending.pk, failed_sending.pk]
    assert all(sent.pk not in queue_ids(api, queue) for queue in QUEUES)


def test_sms_queue_item_mirrors_email_item(api):
    message = sms_message("Saldi")
    sending = scheduled(days=2, message=message)
    email_message = services.create_message(demo_list(1), "Newsletter", html="<p>Ciao</p>")
    Sending.objects.create(
        message=email_message, list=demo_list(1), status=Sending.Status.SCHEDULED, scheduled_at=sending.scheduled_at
    )

    [item] = api.get("/Sms/Sendings/Deferred").json()["Items"]
    [email_item] = api.get("/Email/Sendings/Deferred").json()["Items"]

    assert set(item) == set(email_item)
    assert item["Id"] == sending.pk
    assert item["idMessage"] == message.pk
    assert item["idList"] == 1
    assert item["Subject"] == "Saldi"
    assert item["Status"] == "scheduled"
    assert item["ScheduledDate"] == sending.scheduled_at.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    assert item["CreationDate"].endswith("Z")
    assert item["StartDate"] == ""
    assert item["EndDate"] == ""


def test_failed_sending_shows_status(api):
    sending = failed()

    [item] = api.get("/Sms/Sendings/Undefined").json()["Items"]

    assert item["Id"] == sending.pk
    assert item["Status"] == "failed"
    assert item["ScheduledDate"].endswith("Z")


def test_sms_queue_pages(api):
    ids = [scheduled(days=days).pk for days in (1, 2, 3)]

    body = api.get("/Sms/Sendings/Deferred?pageSize=2&pageNumber=1").json()

    assert [item["Id"] for item in body["Items"]] == ids[2:]
    assert body["IsPaginated"] is True
    assert body["PageNumber"] == 1
    assert body["PageSize"] == 2
    assert body["Skipped"] == 2
    assert body["TotalElementsCount"] == 3


def test_sms_queue_page_past_end_is_empty(api):
    scheduled()

    body = api.get("/Sms/Sendings/Deferred?PageSize=5&PageNumber=3").json()

    assert body["Items"] == []
    assert body["TotalElementsCount"] == 1


def test_sms_queue_filterby_and_orderby(api):
    paused_sending = paused()
    first_failed = failed()
    second_failed = failed()

    assert queue_ids(api, "Undefined", "?filterby=\"Status=='failed'\"") == [first_failed.pk, second_failed.pk]
    assert queue_ids(api, "Undefined", "?orderby=Id+desc") == [second_failed.pk, first_failed.pk, paused_sending.pk]
    assert queue_ids(api, "Undefined", f"?filterby=idMessage=={paused_sending.message_id}") == [paused_sending.pk]


def test_sms_queue_bad_filterby_is_400(api):
    response = api.get("/Sms/Sendings/Deferred?filterby=Nope==1")

    assert "Nope" in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]


def test_sent_sms_leaves_immediate_queue(api):
    sending = due()
    assert queue_ids(api, "Immediate") == [sending.pk]

    tasks.send_due_sms.apply()

    assert queue_ids(api, "Immediate") == []
    assert SmsSending.objects.get(pk=sending.pk).status == "done"


def test_sms_queues_hide_other_console(api):
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    other_list = List.objects.create(account=account, list_id=9, name="Other", sender_name="Other", sender_email="n@other.example")
    message = sms_message("Other SMS", mailing_list=other_list)
    due(message)
    scheduled(days=2, message=message)
    sms_queue.remove_sms_from_queue(scheduled(message=message), delete=False)

    for queue in QUEUES:
        body = api.get(f"/Sms/Sendings/{queue}").json()
        assert body["Items"] == [], queue
        assert body["TotalElementsCount"] == 0, queue


@pytest.mark.parametrize("queue", QUEUES)
def test_sms_queue_matches_openapi(api, queue):
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    due()
    scheduled(days=2)
    paused()
    failed()
    document = build_openapi()
    answer = document["paths"][f"{OPENAPI_PREFIX}/Sms/Sendings/{queue}"]["get"]["responses"]["200"]
    schema = {**answer["content"]["application/json"]["schema"], "components": document["components"]}

    body = api.get(f"/Sms/Sendings/{queue}").json()

    assert body["Items"]
    jsonschema_rs.validate(schema, body)
