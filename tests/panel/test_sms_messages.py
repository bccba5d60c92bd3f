"""SMS messages in the panel: write, edit, send now or schedule, to the list or a group."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lists.models import Channel, Group, GroupMembership, Recipient, Subscription
from sending.models import SinkSms, SmsMessage, SmsSending

pytestmark = pytest.mark.django_db


def subscribe_number(account, number, group=None):
    recipient = Recipient.objects.create(account=account, mobile_prefix="0039", mobile_number=number)
    mailing_list = account.lists.get(list_id=1)
    Subscription.objects.create(recipient=recipient, list=mailing_list, channel=Channel.SMS, status=Subscription.Status.SUBSCRIBED)
    if group is not None:
        GroupMembership.objects.create(group=group, recipient=recipient)
    return recipient


def create_sms(client, text="Saldi: -20% oggi", subject="Saldi"):
    return client.post("/console/lists/1/sms/new", {"subject": subject, "text": text})


def test_editor_writes_sms(editor, demo_account):
    response = create_sms(editor)

    message = SmsMessage.objects.get()
    assert response.status_code == 302
    assert response.url == f"/console/sms/{message.pk}"
    assert (message.subject, message.text) == ("Saldi", "Saldi: -20% oggi")
    assert "Saldi: -20% oggi" in editor.get(response.url).content.decode()


def test_empty_text_rejected(editor, demo_account):
    response = create_sms(editor, text="   ")

    assert response.status_code == 400
    assert not SmsMessage.objects.exists()


def test_viewer_cannot_write_or_send(viewer, editor, demo_account):
    message_url = create_sms(editor).url

    assert create_sms(viewer).status_code == 403
    assert viewer.post(f"{message_url}/send", {}).status_code == 403
    assert SmsMessage.objects.count() == 1
    assert "Saldi: -20% oggi" in viewer.get(message_url).content.decode()


def test_send_now_reaches_subscribed_numbers(editor, demo_account):
    subscribe_number(demo_account, "3350000001")
    subscribe_number(demo_account, "3350000002")
    message_url = create_sms(editor).url

    editor.post(f"{message_url}/send", {"group": "", "scheduled_at": ""})

    sending = SmsSending.objects.get()
    assert sending.sent == 2
    assert SinkSms.objects.count() == 2


def test_send_to_group(editor, demo_account):
    group = Group.objects.create(list=demo_account.lists.get(list_id=1), name="VIP")
    subscribe_number(demo_account, "3350000001", group=group)
    subscribe_number(demo_account, "3350000002")
    message_url = create_sms(editor).url

    editor.post(f"{message_url}/send", {"group": str(group.pk), "scheduled_at": ""})

    assert list(SinkSms.objects.values_list("number", flat=True)) == ["00393350000001"]


def test_schedule_puts_sms_in_queue(editor, demo_account):
    subscribe_number(demo_account, "3350000001")
    message_url = create_sms(editor).url
    when = timezone.localtime(timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)

    editor.post(f"{message_url}/send", {"scheduled_at": when.strftime("%Y-%m-%dT%H:%M")})

    sending = SmsSending.objects.get()
    assert sending.status == SmsSending.Status.SCHEDULED
    assert sending.scheduled_at == when
    assert not SinkSms.objects.exists()


def test_group_of_another_list_rejected(editor, demo_account):
    other_group = Group.objects.create(list=demo_account.lists.get(list_id=2), name="Altro")
    message_url = create_sms(editor).url

    editor.post(f"{message_url}/send", {"group": str(other_group.pk)})

    assert not SmsSending.objects.exists()


def test_edit_changes_text(editor, demo_account):
    message_url = create_sms(editor).url

    editor.post(f"{message_url}/edit", {"subject": "Saldi", "text": "Saldi: -30% oggi"})

    assert SmsMessage.objects.get().text == "Saldi: -30% oggi"


def test_other_console_gets_404(outsider, editor, demo_account):
    message_url = create_sms(editor).url

    assert outsider.get(message_url).status_code == 404
    assert "Saldi" not in outsider.get("/console/lists/1/sms").content.decode()


def test_text_longer_than_ten_parts_rejected(editor, demo_account):
    response = create_sms(editor, text="x" * 671)

    assert response.status_code == 400
    assert not SmsMessage.objects.exists()
