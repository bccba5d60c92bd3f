"""The SMS queue over SOAP with zeep: ScheduleSMSQueue, GetSMSQueues, RemoveSMSQueue, Start/StopDeliverySMS, and the beat task."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from lists import services as lists_services
from lists.models import Account, Group, List
from sending import sms_queue, tasks
from sending.models import SinkSms, SmsMessage, SmsQueueStop, SmsSending
from tests.personas import demo_list
from tests.sending.soap_clients import error_code, options, parse
# The send and key fixtures are imported so that pytest finds them here too.
from tests.sending.test_soap_sms import create_sms, key, send, sink_numbers, subscribe_sms  # noqa: F401

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
# MailUp time-zone codes of lists.time_zones: W. Europe and Eastern Standard Time.
CODE_ROME = 110
CODE_NEW_YORK = 35
# The deliverydt form of ScheduleSMSQueue and of the deliverydt option.
DELIVERYDT = "%Y%m%d%H%M%S"


@pytest.fixture
def other_console(demo):
    """Console 5678 with list 9, one SMS message and one scheduled SMS sending."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    mailing_list = List.objects.create(account=account, list_id=9, name="Other", sender_name="Other", sender_email="n@other.example")
    message = SmsMessage.objects.create(list=mailing_list, text="Other SMS")
    sending = sms_queue.schedule_sms(message, in_days(2))
    return {"account": account, "list": mailing_list, "message": message, "sending": sending}


def run_due_sms():
    """Run the beat task in this process and return how many sendings it sent.

    EagerResult.get() refuses to run once an in-process worker of an earlier
    test has marked the process as a worker, so the result is read directly.
    """
    result = tasks.send_due_sms.apply()
    assert result.successful(), result.traceback
    return result.result


def in_days(days, zone=ROME):
    return (timezone.now() + timedelta(days=days)).astimezone(zone).replace(microsecond=0)


def schedule(send, key, sms_id, when, schedule_id=0, code=CODE_ROME, list_id=1):
    result = parse(send.ScheduleSMSQueue(key, list_id, sms_id, schedule_id, when.strftime(DELIVERYDT), code))
    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    return int(result.findtext("scheduleID"))


def make_due(schedule_id):
    SmsSending.objects.filter(pk=schedule_id).update(scheduled_at=timezone.now() - timedelta(minutes=1))


def queue_ids(send, key, list_id=1):
    result = parse(send.GetSMSQueues(key, list_id))
    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    return [int(entry.findtext("scheduleID")) for entry in result.find("queues")]


def status_of(sending_id):
    return SmsSending.objects.get(pk=sending_id).status


# --- ScheduleSMSQueue and GetSMSQueues ---------------------------------------------------


def test_schedule_creates_queue_entry(send, key):
    sms_id = create_sms(send, key)
    when = in_days(2)

    schedule_id = schedule(send, key, sms_id, when)

    sending = SmsSending.objects.get(pk=schedule_id)
    assert sending.status == "scheduled"
    assert sending.scheduled_at == when
    assert sending.message_id == sms_id
    assert sending.sent == 0
    assert not SinkSms.objects.exists()
    assert parse(send.GetSMSDeliveryStatus(key, schedule_id)).findtext("status") == "scheduled"


def test_schedule_reads_time_zone(send, key):
    sms_id = create_sms(send, key)
    when = in_days(2, NEW_YORK)

    schedule_id = schedule(send, key, sms_id, when, code=CODE_NEW_YORK)

    assert SmsSending.objects.get(pk=schedule_id).scheduled_at == when


def test_get_sms_queues_lists_entries(send, key):
    sms_id = create_sms(send, key)
    later = schedule(send, key, sms_id, in_days(3))
    sooner = schedule(send, key, sms_id, in_days(1))

    result = parse(send.GetSMSQueues(key, 1))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "queues"]
    entries = result.find("queues")
    assert [entry.tag for entry in entries] == ["queue", "queue"]
    assert [child.tag for child in entries[0]] == ["deliveryID", "smsID", "scheduleID", "deliverydt"]
    assert [int(entry.findtext("scheduleID")) for entry in entries] == [sooner, later]
    assert entries[0].findtext("deliveryID") == str(sooner)
    assert entries[0].findtext("smsID") == str(sms_id)
    expected = timezone.localtime(SmsSending.objects.get(pk=sooner).scheduled_at).strftime(DELIVERYDT)
    assert entries[0].findtext("deliverydt") == expected


def test_get_sms_queues_leaves_out_sent_sms(send, key):
    subscribe_sms("3350000001")
    send.SendSMSFast(key, 1, "Flash", "Solo oggi", None)

    assert queue_ids(send, key) == []


def test_reschedule_moves_entry(send, key):
    sms_id = create_sms(send, key)
    schedule_id = schedule(send, key, sms_id, in_days(1))
    later = in_days(5)

    assert schedule(send, key, sms_id, later, schedule_id=schedule_id) == schedule_id

    assert SmsSending.objects.get(pk=schedule_id).scheduled_at == later
    assert SmsSending.objects.count() == 1


def test_reschedule_with_sms_id_zero(send, key):
    schedule_id = schedule(send, key, create_sms(send, key), in_days(1))

    assert schedule(send, key, 0, in_days(4), schedule_id=schedule_id) == schedule_id


def test_reschedule_other_message_is_unknown(send, key):
    first = create_sms(send, key)
    second = create_sms(send, key, text="Altro")
    schedule_id = schedule(send, key, first, in_days(1))

    result = send.ScheduleSMSQueue(key, 1, second, schedule_id, in_days(4).strftime(DELIVERYDT), CODE_ROME)

    assert error_code(result) == -33


def test_reschedule_sent_sending_is_rejected(send, key):
    subscribe_sms("3350000001")
    sms_id = create_sms(send, key)
    delivery_id = int(parse(send.SendSMS(key, 1, sms_id, None)).findtext("deliveryID"))

    result = send.ScheduleSMSQueue(key, 1, sms_id, delivery_id, in_days(2).strftime(DELIVERYDT), CODE_ROME)

    assert error_code(result) == -36
    assert status_of(delivery_id) == "done"


def test_reschedule_paused_entry(send, key):
    sms_id = create_sms(send, key)
    schedule_id = schedule(send, key, sms_id, in_days(1))
    send.RemoveSMSQueue(key, schedule_id, schedule_id, False)

    schedule(send, key, sms_id, in_days(2), schedule_id=schedule_id)

    assert status_of(schedule_id) == "scheduled"


@pytest.mark.parametrize(
    "deliverydt, time_zone",
    [
        ("20991231", CODE_ROME),
        ("2099-12-31 12:00:00", CODE_ROME),
        ("", CODE_ROME),
        ("20991341120000", CODE_ROME),
        ("20991231120000", 9999),
        ("20991231120000", -1),
        ("20000101120000", CODE_ROME),
        ("00010101000000", CODE_ROME),
        ("99991231235959", CODE_ROME),
    ],
)
def test_schedule_bad_time_is_invalid(send, key, deliverydt, time_zone):
    sms_id = create_sms(send, key)

    result = parse(send.ScheduleSMSQueue(key, 1, sms_id, 0, deliverydt, time_zone))

    assert result.tag == "ScheduleSMSQueueResult"
    assert result.findtext("errorCode") == "-2"
    assert result.findtext("errorDescription")
    assert not SmsSending.objects.exists()


def test_schedule_unknown_message(send, key):
    assert error_code(send.ScheduleSMSQueue(key, 1, 987654, 0, in_days(1).strftime(DELIVERYDT), CODE_ROME)) == -32


def test_schedule_unknown_list(send, key):
    assert error_code(send.ScheduleSMSQueue(key, 777, 1, 0, in_days(1).strftime(DELIVERYDT), CODE_ROME)) == -30


# --- SendSMS and SendSMSFast with a deliverydt option -----------------------------------


def test_send_sms_with_future_deliverydt_queues_it(send, key):
    subscribe_sms("3350000001")
    sms_id = create_sms(send, key)
    when = in_days(1, timezone.get_default_timezone())

    result = parse(send.SendSMS(key, 1, sms_id, options(deliverydt=when.strftime(DELIVERYDT))))

    delivery_id = int(result.findtext("deliveryID"))
    assert status_of(delivery_id) == "scheduled"
    assert SmsSending.objects.get(pk=delivery_id).scheduled_at == when
    assert queue_ids(send, key) == [delivery_id]
    assert not SinkSms.objects.exists()


def test_send_sms_fast_with_future_deliverydt_queues_it(send, key):
    subscribe_sms("3350000001")
    when = in_days(1, timezone.get_default_timezone())

    result = parse(send.SendSMSFast(key, 1, "Flash", "Domani", options(deliverydt=when.strftime(DELIVERYDT))))

    assert result.findtext("errorCode") == "0"
    assert queue_ids(send, key) == [int(result.findtext("deliveryID"))]
    assert not SinkSms.objects.exists()


# --- The beat task --------------------------------------------------------------------------


def test_due_task_sends_once(send, key):
    subscribe_sms("3350000001")
    subscribe_sms("3350000002")
    schedule_id = schedule(send, key, create_sms(send, key), in_days(1))
    make_due(schedule_id)

    assert run_due_sms() == 1
    assert run_due_sms() == 0

    assert sink_numbers(schedule_id) == ["00393350000001", "00393350000002"]
    sending = SmsSending.objects.get(pk=schedule_id)
    assert sending.status == "done"
    assert sending.sent == 2
    assert sending.sent_at is not None
    assert queue_ids(send, key) == []
    assert parse(send.GetSMSDeliveryStatus(key, schedule_id)).findtext("status") == "done"


def test_claimed_sending_is_not_sent_again(send, key):
    subscribe_sms("3350000001")
    schedule_id = schedule(send, key, create_sms(send, key), in_days(1))
    make_due(schedule_id)
    sms_queue.send_scheduled_sms(schedule_id)

    assert sms_queue.send_scheduled_sms(schedule_id) is None

    assert SinkSms.objects.count() == 1


def test_due_task_waits_for_start_time(send, key):
    subscribe_sms("3350000001")
    schedule_id = schedule(send, key, create_sms(send, key), in_days(1))

    assert run_due_sms() == 0

    assert status_of(schedule_id) == "scheduled"
    assert not SinkSms.objects.exists()


def due_group_sms(send, key):
    """Schedule an SMS to group VIP, which contains one of the list's two mobile subscribers, and make it due.

    Returns the group and the SMS sending's id.
    """
    group = Group.objects.create(list=demo_list(1), name="VIP")
    subscribe_sms("3350000001", group=group)
    subscribe_sms("3350000002")
    sms_id = create_sms(send, key)
    when = in_days(1, timezone.get_default_timezone()).strftime(DELIVERYDT)
    result = parse(send.SendSMS(key, 1, sms_id, options(deliverydt=when, send_to="GROUPS", recipients=str(group.pk))))
    delivery_id = int(result.findtext("deliveryID"))
    make_due(delivery_id)
    return group, delivery_id


def test_due_task_sends_scheduled_group(send, key):
    _group, delivery_id = due_group_sms(send, key)

    tasks.send_due_sms.apply()

    assert sink_numbers(delivery_id) == ["00393350000001"]


def test_deleting_group_withdraws_its_entries(send, key):
    """An entry for a deleted group is not sent to the whole list, which its group id turning NULL would mean."""
    group, delivery_id = due_group_sms(send, key)

    lists_services.delete_group(group)
    tasks.send_due_sms.apply()

    assert not SinkSms.objects.exists()
    assert not SmsSending.objects.filter(pk=delivery_id).exists()
    assert queue_ids(send, key) == []


def test_due_task_skips_failing_sending(send, key, monkeypatch):
    subscribe_sms("3350000001")
    sms_id = create_sms(send, key)
    broken = schedule(send, key, sms_id, in_days(1))
    working = schedule(send, key, sms_id, in_days(2))
    make_due(broken)
    make_due(working)
    real_send = sms_queue.services.send_sms_to_list

    def fail_first(message, group=None, sending=None):
        if sending.pk == broken:
            raise RuntimeError("simulated failure")
        return real_send(message, group=group, sending=sending)

    monkeypatch.setattr(sms_queue.services, "send_sms_to_list", fail_first)

    assert run_due_sms() == 1

    assert status_of(broken) == "scheduled"
    assert not SinkSms.objects.filter(sending_id=broken).exists()
    assert sink_numbers(working) == ["00393350000001"]


# --- RemoveSMSQueue ----------------------------------------------------------------------------


def test_remove_with_delete_queue_deletes_entry(send, key):
    schedule_id = schedule(send, key, create_sms(send, key), in_days(1))

    result = parse(send.RemoveSMSQueue(key, 0, schedule_id, True))

    assert result.tag == "RemoveSMSQueueResult"
    assert result.findtext("errorCode") == "0"
    assert not SmsSending.objects.filter(pk=schedule_id).exists()
    assert queue_ids(send, key) == []


def test_remove_without_delete_queue_pauses_entry(send, key):
    subscribe_sms("3350000001")
    schedule_id = schedule(send, key, create_sms(send, key), in_days(1))

    assert error_code(send.RemoveSMSQueue(key, schedule_id, 0, False)) == 0

    sending = SmsSending.objects.get(pk=schedule_id)
    assert sending.status == "paused"
    assert sending.scheduled_at is None
    assert parse(send.GetSMSDeliveryStatus(key, schedule_id)).findtext("status") == "paused"
    entries = parse(send.GetSMSQueues(key, 1)).find("queues")
    assert entries[0].findtext("deliverydt") == ""
    tasks.send_due_sms.apply()
    assert not SinkSms.objects.exists()


def test_remove_sent_sending_is_rejected(send, key):
    subscribe_sms("3350000001")
    delivery_id = int(parse(send.SendSMSFast(key, 1, "Flash", "Solo oggi", None)).findtext("deliveryID"))

    assert error_code(send.RemoveSMSQueue(key, delivery_id, 0, True)) == -36

    assert SinkSms.objects.filter(sending_id=delivery_id).count() == 1


@pytest.mark.parametrize("delivery_id, schedule_id", [(0, 0), (5, 6)])
def test_remove_bad_ids_are_invalid(send, key, delivery_id, schedule_id):
    assert error_code(send.RemoveSMSQueue(key, delivery_id, schedule_id, True)) == -2


def test_remove_unknown_schedule(send, key):
    assert error_code(send.RemoveSMSQueue(key, 0, 987654, True)) == -33


# --- StopDeliverySMS and StartDeliverySMS -----------------------------------------------------


def test_stop_holds_and_start_releases(send, key):
    subscribe_sms("3350000001")
    schedule_id = schedule(send, key, create_sms(send, key), in_days(1))
    make_due(schedule_id)

    assert error_code(send.StopDeliverySMS(key)) == 0
    assert run_due_sms() == 0
    assert sms_queue.send_scheduled_sms(schedule_id) is None
    assert status_of(schedule_id) == "scheduled"
    assert not SinkSms.objects.exists()

    # StartDeliverySMS enqueues the task after its commit, and the tests run tasks eagerly.
    assert error_code(send.StartDeliverySMS(key)) == 0
    assert not SmsQueueStop.objects.exists()
    assert sink_numbers(schedule_id) == ["00393350000001"]
    assert run_due_sms() == 0
    assert SinkSms.objects.count() == 1


def test_stop_twice_then_start(send, key):
    assert error_code(send.StopDeliverySMS(key)) == 0
    assert error_code(send.StopDeliverySMS(key)) == 0
    assert SmsQueueStop.objects.count() == 1

    assert error_code(send.StartDeliverySMS(key)) == 0
    assert error_code(send.StartDeliverySMS(key)) == 0
    assert not SmsQueueStop.objects.exists()


def test_stop_leaves_immediate_sends(send, key):
    subscribe_sms("3350000001")
    send.StopDeliverySMS(key)

    result = parse(send.SendSMSFast(key, 1, "Flash", "Subito", None))

    assert sink_numbers(int(result.findtext("deliveryID"))) == ["00393350000001"]


def test_stop_holds_only_own_console(send, key, other_console):
    make_due(other_console["sending"].pk)

    send.StopDeliverySMS(key)

    assert run_due_sms() == 1
    assert status_of(other_console["sending"].pk) == "done"


# --- Other consoles ---------------------------------------------------------------------------


def test_other_console_entries_are_not_listed(send, key, other_console):
    assert queue_ids(send, key) == []


def test_other_console_message_is_unknown(send, key, other_console):
    result = send.ScheduleSMSQueue(key, 1, other_console["message"].pk, 0, in_days(1).strftime(DELIVERYDT), CODE_ROME)

    assert error_code(result) == -32
    assert SmsSending.objects.count() == 1


def test_other_console_schedule_is_unknown(send, key, other_console):
    sms_id = create_sms(send, key)
    other_id = other_console["sending"].pk

    assert error_code(send.ScheduleSMSQueue(key, 1, sms_id, other_id, in_days(4).strftime(DELIVERYDT), CODE_ROME)) == -33
    assert error_code(send.RemoveSMSQueue(key, other_id, 0, True)) == -33
    assert error_code(send.RemoveSMSQueue(key, 0, other_id, False)) == -33

    sending = SmsSending.objects.get(pk=other_id)
    assert sending.status == "scheduled"
    assert sending.scheduled_at == other_console["sending"].scheduled_at


def test_other_console_list_is_unknown(send, key, other_console):
    when = in_days(1).strftime(DELIVERYDT)

    assert error_code(send.GetSMSQueues(key, 9)) == -30
    assert error_code(send.ScheduleSMSQueue(key, 9, other_console["message"].pk, 0, when, CODE_ROME)) == -30
    assert SmsSending.objects.count() == 1


def test_entry_of_other_list_is_unknown(send, key):
    sms_id = create_sms(send, key)
    schedule_id = schedule(send, key, sms_id, in_days(1))

    result = send.ScheduleSMSQueue(key, 2, 0, schedule_id, in_days(3).strftime(DELIVERYDT), CODE_ROME)

    assert error_code(result) == -33
