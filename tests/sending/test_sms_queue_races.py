"""Races between the SMS queue's removal calls and the beat task that sends due entries, on a real database."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.db.models.signals import pre_delete
from django.utils import timezone

from sending import sms_queue
from sending.errors import SendingStateError
from sending.models import SinkSms, SmsMessage, SmsSending
from tests.personas import demo_list
from tests.sending.test_soap_sms import subscribe_sms


def due_sending():
    message = SmsMessage.objects.create(list=demo_list(), text="Saldi")
    sending = sms_queue.schedule_sms(message, timezone.now() + timedelta(days=1))
    SmsSending.objects.filter(pk=sending.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    return sending


def test_delete_claims_entry_before_deleting(demo):
    """By the time RemoveSMSQueue deletes the entry, the beat task can no longer claim it."""
    sending = due_sending()
    claimable = []

    def record_claimable(sender, instance, **kwargs):
        if isinstance(instance, SmsSending):
            claimable.append(SmsSending.objects.filter(pk=instance.pk, status="scheduled").exists())

    pre_delete.connect(record_claimable, weak=False)
    try:
        sms_queue.remove_sms_from_queue(sending, delete=True)
    finally:
        pre_delete.disconnect(record_claimable)

    assert claimable == [False]
    assert not SmsSending.objects.filter(pk=sending.pk).exists()
    assert sms_queue.send_scheduled_sms(sending.pk) is None


@pytest.mark.parametrize("delete", [False, True])
def test_remove_racing_task_sends_once(demo, delete):
    """Either the task sends the entry once and the removal is rejected, or the removal wins and nothing is sent."""
    subscribe_sms("3350000001")
    sending = due_sending()
    barrier = threading.Barrier(2)
    outcomes = {}

    def remove():
        barrier.wait(timeout=10)
        try:
            sms_queue.remove_sms_from_queue(sending, delete=delete)
            outcomes["removed"] = True
        except SendingStateError:
            outcomes["removed"] = False

    def send():
        barrier.wait(timeout=10)
        outcomes["sent"] = sms_queue.send_scheduled_sms(sending.pk) is not None

    threads = [threading.Thread(target=lambda f=f: (f(), connections.close_all())) for f in (remove, send)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes["removed"] != outcomes["sent"]
    assert SinkSms.objects.count() == (1 if outcomes["sent"] else 0)


def test_concurrent_due_runs_send_once(demo):
    """Two beat runs at the same time send each due entry once between them."""
    subscribe_sms("3350000001")
    subscribe_sms("3350000002")
    sendings = [due_sending() for _ in range(3)]
    barrier = threading.Barrier(2)
    counts = []

    def run():
        barrier.wait(timeout=10)
        counts.append(sms_queue.send_due_sms())
        connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(counts) == 3
    assert SinkSms.objects.count() == 6
    assert set(SmsSending.objects.filter(pk__in=[sending.pk for sending in sendings]).values_list("status", flat=True)) == {"done"}
