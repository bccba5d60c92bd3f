"""Bounded retries of scheduled SMS sendings whose send fails, and how SOAP shows a failed one."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from sending import sms_queue, tasks
from sending.models import SinkSms, SmsMessage, SmsSending
from tests.personas import demo_list
from tests.sending.soap_clients import parse
# The send and key fixtures are imported so that pytest finds them here too.
from tests.sending.test_soap_sms import key, send, sink_numbers, subscribe_sms  # noqa: F401
from tests.sending.test_soap_sms_queue import DELIVERYDT, in_days, make_due, run_due_sms

# Two retries, so a sending fails for good at its third failed attempt.
RETRY_DELAYS = [60, 120]


@pytest.fixture
def short_retries(settings):
    settings.SENDING_RETRY_DELAYS = RETRY_DELAYS


@pytest.fixture
def broken_send(monkeypatch):
    """Make every scheduled SMS send raise; the fixture's list records the ids of the sendings tried."""
    tried = []

    def fail(message, group=None, sending=None):
        tried.append(sending.pk)
        raise RuntimeError("simulated sink outage")

    monkeypatch.setattr(sms_queue.services, "send_sms_to_list", fail)
    return tried


def scheduled_sms(text="Saldi da oggi"):
    message = SmsMessage.objects.create(list=demo_list(1), subject="Saldi", text=text)
    sending = sms_queue.schedule_sms(message, in_days(1))
    make_due(sending.pk)
    return sending


def make_retry_due(sending_id):
    SmsSending.objects.filter(pk=sending_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def fail_until_final(sending_id):
    """Run the due task once per allowed attempt, letting each retry fall due."""
    tasks.send_due_sms.apply()
    for _ in RETRY_DELAYS:
        make_retry_due(sending_id)
        tasks.send_due_sms.apply()


# --- Retrying ----------------------------------------------------------------------------------


def test_first_failure_schedules_retry(demo, short_retries, broken_send):
    sending = scheduled_sms()
    before = timezone.now()

    assert run_due_sms() == 0

    sending.refresh_from_db()
    assert sending.status == "scheduled"
    assert sending.attempts == 1
    assert sending.last_error == "RuntimeError: simulated sink outage"
    assert before + timedelta(seconds=60) <= sending.next_attempt_at <= timezone.now() + timedelta(seconds=60)


def test_retry_waits_for_its_time(demo, short_retries, broken_send):
    sending = scheduled_sms()
    tasks.send_due_sms.apply()

    tasks.send_due_sms.apply()

    assert broken_send == [sending.pk]
    assert SmsSending.objects.get(pk=sending.pk).attempts == 1


def test_retry_backs_off(demo, short_retries, broken_send):
    sending = scheduled_sms()
    tasks.send_due_sms.apply()
    make_retry_due(sending.pk)
    before = timezone.now()

    tasks.send_due_sms.apply()

    sending.refresh_from_db()
    assert broken_send == [sending.pk, sending.pk]
    assert sending.attempts == 2
    assert sending.next_attempt_at >= before + timedelta(seconds=120)


def test_retry_that_succeeds_sends_once(demo, short_retries, monkeypatch):
    subscribe_sms("3350000001")
    sending = scheduled_sms()
    real_send = sms_queue.services.send_sms_to_list
    calls = []

    def fail_once(message, group=None, sending=None):
        calls.append(sending.pk)
        if len(calls) == 1:
            raise RuntimeError("simulated sink outage")
        return real_send(message, group=group, sending=sending)

    monkeypatch.setattr(sms_queue.services, "send_sms_to_list", fail_once)
    tasks.send_due_sms.apply()
    make_retry_due(sending.pk)

    assert run_due_sms() == 1

    sending.refresh_from_db()
    assert sending.status == "done"
    assert sending.next_attempt_at is None
    assert sink_numbers(sending.pk) == ["00393350000001"]


# --- Failing for good ----------------------------------------------------------------------------


def test_last_attempt_marks_failed(demo, short_retries, broken_send):
    sending = scheduled_sms()

    fail_until_final(sending.pk)

    sending.refresh_from_db()
    assert sending.status == "failed"
    assert sending.attempts == 3
    assert sending.next_attempt_at is None
    assert sending.last_error == "RuntimeError: simulated sink outage"
    assert not SinkSms.objects.filter(sending=sending).exists()


def test_failed_sending_is_not_tried_again(demo, short_retries, broken_send):
    sending = scheduled_sms()
    fail_until_final(sending.pk)

    tasks.send_due_sms.apply()

    assert broken_send == [sending.pk] * 3


def test_final_failure_logs_one_warning(demo, short_retries, broken_send, caplog):
    sending = scheduled_sms()

    with caplog.at_level(logging.INFO, logger="sending.sms_queue"):
        fail_until_final(sending.pk)
        tasks.send_due_sms.apply()

    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert f"sending={sending.pk}" in warnings[0].getMessage()
    assert f"message={sending.message_id}" in warnings[0].getMessage()
    assert "attempts=3" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None
    retries = [record for record in caplog.records if "retrying" in record.getMessage()]
    assert len(retries) == 2
    assert all(record.levelno == logging.INFO for record in retries)


def test_failure_of_paused_sending_changes_nothing(demo, short_retries):
    sending = scheduled_sms()
    sms_queue.remove_sms_from_queue(sending, delete=False)

    assert sms_queue.record_sms_failure(sending.pk, RuntimeError("late")) is None

    sending.refresh_from_db()
    assert sending.status == "paused"
    assert sending.attempts == 0
    assert sending.last_error == ""


def test_failure_of_deleted_sending_changes_nothing(demo, short_retries):
    sending = scheduled_sms()
    sms_queue.remove_sms_from_queue(sending, delete=True)

    assert sms_queue.record_sms_failure(sending.pk, RuntimeError("late")) is None


def test_long_error_is_cut(demo, short_retries):
    sending = scheduled_sms()

    sms_queue.record_sms_failure(sending.pk, RuntimeError("x" * 5000))

    assert len(SmsSending.objects.get(pk=sending.pk).last_error) == sms_queue.MAX_ERROR_LENGTH


# --- What SOAP shows of a failed sending ----------------------------------------------------------


def test_delivery_status_shows_failed(send, key, short_retries, broken_send):
    sending = scheduled_sms()
    fail_until_final(sending.pk)

    result = parse(send.GetSMSDeliveryStatus(key, sending.pk))

    assert result.findtext("errorCode") == "0"
    assert result.findtext("status") == "failed"


def test_sms_queues_list_failed_after_scheduled(send, key, short_retries, broken_send):
    failed = scheduled_sms("Rotto")
    fail_until_final(failed.pk)
    paused = sms_queue.schedule_sms(SmsMessage.objects.create(list=demo_list(1), text="In pausa"), in_days(3))
    sms_queue.remove_sms_from_queue(paused, delete=False)
    scheduled = sms_queue.schedule_sms(SmsMessage.objects.create(list=demo_list(1), text="Domani"), in_days(2))

    result = parse(send.GetSMSQueues(key, 1))

    entries = result.find("queues")
    assert [int(entry.findtext("scheduleID")) for entry in entries] == [scheduled.pk, failed.pk, paused.pk]
    entry = entries[1]
    expected = timezone.localtime(SmsSending.objects.get(pk=failed.pk).scheduled_at).strftime(DELIVERYDT)
    assert entry.findtext("deliverydt") == expected


def test_reschedule_failed_sending_starts_over(send, key, short_retries, broken_send):
    sending = scheduled_sms()
    fail_until_final(sending.pk)
    when = in_days(2)

    result = parse(send.ScheduleSMSQueue(key, 1, sending.message_id, sending.pk, when.strftime(DELIVERYDT), 110))

    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    sending.refresh_from_db()
    assert sending.status == "scheduled"
    assert sending.scheduled_at == when
    assert sending.attempts == 0
    assert sending.next_attempt_at is None
    assert sending.last_error == ""


def test_remove_failed_sending(send, key, short_retries, broken_send):
    sending = scheduled_sms()
    fail_until_final(sending.pk)

    result = parse(send.RemoveSMSQueue(key, sending.pk, 0, True))

    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    assert not SmsSending.objects.filter(pk=sending.pk).exists()
