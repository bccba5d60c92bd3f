"""MailupSend's queue operations over SOAP with zeep: queues, schedules, StartDelivery and StopDelivery."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from lists.models import Account, List
from sending import services
from sending.models import Message, Sending
from tests.personas import demo_list
from tests.sending.campaigns import newsletter, subscribe
from tests.sending.soap_clients import client, error_code, login, parse

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
# MailUp time-zone codes of lists.time_zones: W. Europe and Eastern Standard Time.
CODE_ROME = 110
CODE_NEW_YORK = 35


@pytest.fixture
def send(demo, sink, server_url):
    return client(server_url, "MailupSend")


@pytest.fixture
def key(send):
    return login(send)


@pytest.fixture
def other_sending(demo):
    """A scheduled sending of console 5678, whose ids the demo console must not reach."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    mailing_list = List.objects.create(
        account=account, list_id=1, name="Other news", sender_name="Other", sender_email="n@other.example"
    )
    message = services.create_message(mailing_list, "Other news", html="<p>Hi</p>")
    return services.queue_sending(message, scheduled_at=in_days(3))


def in_days(days):
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0)


def scheduled(days=2, message=None):
    return services.queue_sending(message or newsletter(), scheduled_at=in_days(days))


def running(message=None):
    """A queued campaign sending whose fan-out has not run, as the worker finds it."""
    message = message or newsletter()
    return Sending.objects.create(message=message, list_id=message.list_id, status=Sending.Status.QUEUED)


def status_of(sending):
    return Sending.objects.get(pk=sending.pk).status


def mailup_time(moment, zone):
    return moment.astimezone(zone).strftime("%Y%m%d%H%M%S")


# --- GetNewsletterQueues ---------------------------------------------------------


def test_queues_list_unfinished_entries_in_order(send, key):
    later = scheduled(days=5)
    sooner = scheduled(days=1)
    active = running()
    paused_entry = services.create_schedule(newsletter())
    Sending.objects.create(message=newsletter(), list=demo_list(), status=Sending.Status.DONE)

    result = parse(send.GetNewsletterQueues(key, 1))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "queues"]
    queues = result.find("queues")
    assert [int(item.findtext("deliveryID")) for item in queues] == [active.pk, sooner.pk, later.pk, paused_entry.pk]
    assert [child.tag for child in queues[0]] == ["deliveryID", "newsletterID", "scheduleID", "deliverydt"]
    assert queues[1].findtext("scheduleID") == str(sooner.pk)
    assert queues[1].findtext("newsletterID") == str(sooner.message_id)
    assert queues[1].findtext("deliverydt") == timezone.localtime(sooner.scheduled_at).strftime("%Y%m%d%H%M%S")
    assert queues[0].findtext("deliverydt") == ""


def test_queues_of_other_list_are_separate(send, key):
    scheduled(message=newsletter(list_id=2))

    assert len(parse(send.GetNewsletterQueues(key, 1)).find("queues")) == 0


def test_queues_of_unknown_list(send, key, other_sending):
    assert error_code(send.GetNewsletterQueues(key, 77)) == -30


def test_queues_need_valid_key(send):
    assert error_code(send.GetNewsletterQueues("not-a-key", 1)) == -20


# --- GetNewsletterScheduleStatus ------------------------------------------------


def test_schedule_status_of_latest_sending(send, key):
    message = newsletter()
    Sending.objects.create(message=message, list=message.list, status=Sending.Status.DONE)
    latest = scheduled(message=message)

    result = parse(send.GetNewsletterScheduleStatus(key, message.pk))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "newsletterID", "scheduleID", "status"]
    assert result.findtext("newsletterID") == str(message.pk)
    assert result.findtext("scheduleID") == str(latest.pk)
    assert result.findtext("status") == "scheduled"


def test_schedule_status_of_unsent_newsletter(send, key):
    message = newsletter()

    result = parse(send.GetNewsletterScheduleStatus(key, message.pk))

    assert result.findtext("errorCode") == "0"
    assert result.findtext("scheduleID") == ""
    assert result.findtext("status") == "none"


def test_schedule_status_of_other_console(send, key, other_sending):
    assert error_code(send.GetNewsletterScheduleStatus(key, other_sending.message_id)) == -32
    assert error_code(send.GetNewsletterScheduleStatus(key, 0)) == -32


# --- SetNewsletterQueueOrder ------------------------------------------------------


def test_queue_order_up_swaps_start_times(send, key):
    first = scheduled(days=1)
    second = scheduled(days=2)
    first_start, second_start = first.scheduled_at, second.scheduled_at

    result = parse(send.SetNewsletterQueueOrder(key, second.pk, True))

    assert result.findtext("errorCode") == "0"
    assert Sending.objects.get(pk=second.pk).scheduled_at == first_start
    assert Sending.objects.get(pk=first.pk).scheduled_at == second_start


def test_queue_order_down_at_end_changes_nothing(send, key):
    first = scheduled(days=1)
    last = scheduled(days=2)

    assert error_code(send.SetNewsletterQueueOrder(key, last.pk, False)) == 0
    assert Sending.objects.get(pk=last.pk).scheduled_at == last.scheduled_at
    assert Sending.objects.get(pk=first.pk).scheduled_at == first.scheduled_at


def test_queue_order_of_finished_sending(send, key):
    done = Sending.objects.create(message=newsletter(), list=demo_list(), status=Sending.Status.DONE)

    assert error_code(send.SetNewsletterQueueOrder(key, done.pk, True)) == -36


def test_queue_order_of_other_console(send, key, other_sending):
    start = other_sending.scheduled_at

    assert error_code(send.SetNewsletterQueueOrder(key, other_sending.pk, True)) == -33
    assert Sending.objects.get(pk=other_sending.pk).scheduled_at == start


# --- AddNewsletterQueue ---------------------------------------------------------------


def test_add_queue_immediate_starts_scheduled_sending(send, key, sink):
    subscribe("anna@example.com")
    sending = scheduled()

    result = parse(send.AddNewsletterQueue(key, sending.pk, True))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "scheduleID"]
    assert result.findtext("scheduleID") == str(sending.pk)
    assert [message.rcpt_to for message in sink.wait_for(1, sending_id=sending.pk)] == [["anna@example.com"]]


def test_add_queue_deferred_holds_running_sending(send, key):
    sending = running()

    assert error_code(send.AddNewsletterQueue(key, sending.pk, False)) == 0
    assert status_of(sending) == Sending.Status.PAUSED


def test_add_queue_deferred_keeps_scheduled_sending(send, key):
    sending = scheduled()

    assert error_code(send.AddNewsletterQueue(key, sending.pk, False)) == 0
    assert status_of(sending) == Sending.Status.SCHEDULED


def test_add_queue_of_stopped_sending(send, key):
    stopped = Sending.objects.create(message=newsletter(), list=demo_list(), status=Sending.Status.CANCELLED)

    assert error_code(send.AddNewsletterQueue(key, stopped.pk, True)) == -36
    assert status_of(stopped) == Sending.Status.CANCELLED


def test_add_queue_of_other_console(send, key, other_sending):
    assert error_code(send.AddNewsletterQueue(key, other_sending.pk, True)) == -33
    assert status_of(other_sending) == Sending.Status.SCHEDULED


def test_add_queue_of_transactional_sending(send, key):
    message = newsletter()
    transactional = Sending.objects.create(
        message=message, list=message.list, kind=Sending.Kind.TRANSACTIONAL, status=Sending.Status.PAUSED
    )

    assert error_code(send.AddNewsletterQueue(key, transactional.pk, True)) == -33
    assert status_of(transactional) == Sending.Status.PAUSED


# --- RemoveNewsletterQueue ---------------------------------------------------------


def test_remove_queue_holds_sending(send, key):
    sending = scheduled()

    result = parse(send.RemoveNewsletterQueue(key, 1, sending.message_id, sending.pk, 0, False))

    assert [child.tag for child in result] == ["errorCode", "errorDescription"]
    assert result.findtext("errorCode") == "0"
    assert status_of(sending) == Sending.Status.PAUSED


def test_remove_queue_with_delete(send, key):
    sending = running()

    assert error_code(send.RemoveNewsletterQueue(key, 1, 0, 0, sending.pk, True)) == 0
    assert not Sending.objects.filter(pk=sending.pk).exists()
    assert Message.objects.filter(pk=sending.message_id).exists()


@pytest.mark.parametrize(
    "list_id, newsletter_offset, delivery, schedule, code",
    [
        (2, 0, "own", 0, -33),
        (1, 1, "own", 0, -33),
        (1, 0, "own", "other", -2),
        (1, 0, 0, 0, -2),
        (77, 0, "own", 0, -30),
    ],
)
def test_remove_queue_mismatch_changes_nothing(send, key, list_id, newsletter_offset, delivery, schedule, code):
    sending = scheduled()
    ids = {"own": sending.pk, "other": sending.pk + 1, 0: 0}

    result = send.RemoveNewsletterQueue(
        key, list_id, sending.message_id + newsletter_offset, ids[delivery], ids[schedule], True
    )

    assert error_code(result) == code
    assert status_of(sending) == Sending.Status.SCHEDULED


def test_remove_queue_done_sending(send, key):
    done = Sending.objects.create(message=newsletter(), list=demo_list(), status=Sending.Status.DONE)

    assert error_code(send.RemoveNewsletterQueue(key, 1, 0, done.pk, 0, True)) == -36
    assert status_of(done) == Sending.Status.DONE


def test_remove_queue_of_other_console(send, key, other_sending):
    assert error_code(send.RemoveNewsletterQueue(key, 1, 0, other_sending.pk, 0, True)) == -33
    assert status_of(other_sending) == Sending.Status.SCHEDULED


# --- ScheduleNewsletterQueue --------------------------------------------------------


def test_schedule_queue_reads_time_zone(send, key):
    sending = services.create_schedule(newsletter())
    when = in_days(4)

    result = parse(
        send.ScheduleNewsletterQueue(key, 1, sending.message_id, sending.pk, mailup_time(when, NEW_YORK), CODE_NEW_YORK)
    )

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "scheduleID"]
    assert result.findtext("scheduleID") == str(sending.pk)
    moved = Sending.objects.get(pk=sending.pk)
    assert moved.status == Sending.Status.SCHEDULED
    assert moved.scheduled_at == when


def test_schedule_queue_new_schedule_for_newsletter(send, key):
    message = newsletter()
    when = in_days(1)

    result = parse(send.ScheduleNewsletterQueue(key, 1, message.pk, 0, mailup_time(when, ROME), CODE_ROME))

    created = Sending.objects.get(pk=int(result.findtext("scheduleID")))
    assert created.message_id == message.pk
    assert created.status == Sending.Status.SCHEDULED
    assert created.scheduled_at == when


@pytest.mark.parametrize(
    "deliverydt, zone_code",
    [("20301301120000", CODE_ROME), ("2030-01-01 12:00", CODE_ROME), ("", CODE_ROME), ("20300101120000", 9999), ("20300101120000", -1)],
)
def test_schedule_queue_bad_date_or_zone(send, key, deliverydt, zone_code):
    sending = scheduled()

    assert error_code(send.ScheduleNewsletterQueue(key, 1, 0, sending.pk, deliverydt, zone_code)) == -2
    assert Sending.objects.get(pk=sending.pk).scheduled_at == sending.scheduled_at


def test_schedule_queue_past_date(send, key):
    message = newsletter()
    past = timezone.now() - timedelta(hours=1)

    assert error_code(send.ScheduleNewsletterQueue(key, 1, message.pk, 0, mailup_time(past, ROME), CODE_ROME)) == -2
    assert not Sending.objects.exists()


def test_schedule_queue_running_sending(send, key):
    sending = running()

    assert error_code(send.ScheduleNewsletterQueue(key, 1, 0, sending.pk, mailup_time(in_days(1), ROME), CODE_ROME)) == -36
    assert status_of(sending) == Sending.Status.QUEUED


def test_schedule_queue_unknown_ids(send, key, other_sending):
    when = mailup_time(in_days(1), ROME)

    assert error_code(send.ScheduleNewsletterQueue(key, 1, 0, other_sending.pk, when, CODE_ROME)) == -33
    assert error_code(send.ScheduleNewsletterQueue(key, 1, other_sending.message_id, 0, when, CODE_ROME)) == -32
    assert error_code(send.ScheduleNewsletterQueue(key, 77, 0, 0, when, CODE_ROME)) == -30
    assert Sending.objects.get(pk=other_sending.pk).scheduled_at == other_sending.scheduled_at


# --- PrepareNewsletterSchedule ---------------------------------------------------------


def test_prepare_schedule_with_date(send, key):
    message = newsletter()
    day = (timezone.localtime() + timedelta(days=3)).date()

    result = parse(
        send.PrepareNewsletterSchedule(key, 1, message.pk, day.strftime("%d/%m/%Y"), "09:30", "admin@example.com", 0, "n")
    )

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "deliveryID", "scheduleID"]
    assert result.findtext("deliveryID") == result.findtext("scheduleID")
    sending = Sending.objects.get(pk=int(result.findtext("deliveryID")))
    assert sending.status == Sending.Status.SCHEDULED
    expected = datetime(day.year, day.month, day.day, 9, 30, tzinfo=timezone.get_default_timezone())
    assert sending.scheduled_at == expected


def test_prepare_schedule_without_date_holds(send, key):
    message = newsletter()

    result = parse(send.PrepareNewsletterSchedule(key, 1, message.pk, "", "", "", 0, ""))

    sending = Sending.objects.get(pk=int(result.findtext("scheduleID")))
    assert sending.status == Sending.Status.PAUSED
    assert sending.scheduled_at is None


@pytest.mark.parametrize(
    "date, time, admin_email",
    [("31/02/2030", "", ""), ("01/01/2030", "25:00", ""), ("", "10:00", ""), ("01/01/2030", "", "not-an-address"), ("01/01/2000", "", "")],
)
def test_prepare_schedule_bad_values(send, key, date, time, admin_email):
    message = newsletter()

    assert error_code(send.PrepareNewsletterSchedule(key, 1, message.pk, date, time, admin_email, 0, "")) == -2
    assert not Sending.objects.exists()


def test_prepare_schedule_unknown_ids(send, key, other_sending):
    assert error_code(send.PrepareNewsletterSchedule(key, 1, other_sending.message_id, "", "", "", 0, "")) == -32
    assert error_code(send.PrepareNewsletterSchedule(key, 77, 1, "", "", "", 0, "")) == -30
    assert Sending.objects.count() == 1


# --- StartDelivery and StopDelivery -------------------------------------------------


def test_stop_delivery_pauses_console_queue(send, key, other_sending):
    active = running()
    later = scheduled()

    result = parse(send.StopDelivery(key))

    assert [child.tag for child in result] == ["errorCode", "errorDescription"]
    assert status_of(active) == Sending.Status.PAUSED
    assert status_of(later) == Sending.Status.PAUSED
    assert status_of(other_sending) == Sending.Status.SCHEDULED


def test_start_delivery_resumes_console_queue(send, key, sink, other_sending):
    subscribe("anna@example.com")
    active = running()
    later = scheduled()
    send.StopDelivery(key)
    services.pause_sending(other_sending)

    assert error_code(send.StartDelivery(key)) == 0

    assert [message.rcpt_to for message in sink.wait_for(1, sending_id=active.pk)] == [["anna@example.com"]]
    resumed = Sending.objects.get(pk=later.pk)
    assert resumed.status == Sending.Status.SCHEDULED
    assert resumed.scheduled_at == later.scheduled_at
    assert status_of(other_sending) == Sending.Status.PAUSED


def test_stop_delivery_over_soap12(demo, server_url):
    proxy = client(server_url, "MailupSend", soap12=True)
    active = running()

    assert error_code(proxy.StopDelivery(login(proxy))) == 0
    assert status_of(active) == Sending.Status.PAUSED


@pytest.mark.parametrize("operation", ["StartDelivery", "StopDelivery"])
def test_delivery_switch_needs_valid_key(send, operation):
    assert error_code(getattr(send, operation)("not-a-key")) == -20


# --- WSDL -------------------------------------------------------------------------------


def test_wsdl_declares_queue_operations(send):
    names = set(send._binding._operations)

    for name in (
        "GetNewsletterQueues",
        "GetNewsletterScheduleStatus",
        "SetNewsletterQueueOrder",
        "AddNewsletterQueue",
        "RemoveNewsletterQueue",
        "ScheduleNewsletterQueue",
        "PrepareNewsletterSchedule",
        "StartDelivery",
        "StopDelivery",
    ):
        assert name in names


def test_schedule_queue_parameter_order(send):
    parameters = send._binding._operations["ScheduleNewsletterQueue"].input.body.type.elements

    assert [name for name, _ in parameters] == [
        "accessKey",
        "listID",
        "newsletterID",
        "scheduleID",
        "deliverydt",
        "timezone",
    ]
