"""The SMS page of the test inbox: what the SMS sink received, and the SMS sendings that failed."""

import pytest
from django.utils import timezone

from sending.models import SinkSms, SmsMessage, SmsSending

pytestmark = pytest.mark.django_db

SMS_PAGE = "/console/inbox/sms"


def capture_sms(account, number, text, status=SmsSending.Status.DONE, last_error=""):
    mailing_list = account.lists.get(list_id=1)
    message = SmsMessage.objects.create(list=mailing_list, subject="Promo", text=text)
    sending = SmsSending.objects.create(message=message, list=mailing_list, status=status, last_error=last_error)
    return SinkSms.objects.create(
        sending=sending, account_console_id=account.console_id, list_id=1, number=number, sender="Demo", text=text
    )


def test_page_lists_only_own_sms(viewer, demo_account, other_account):
    capture_sms(demo_account, "00393350000001", "Sconto del 10% solo oggi")
    capture_sms(other_account, "00393350000002", "Other console SMS")

    page = viewer.get(SMS_PAGE).content.decode()

    assert "Sconto del 10% solo oggi" in page
    assert "00393350000001" in page
    assert "Other console SMS" not in page


def test_search_by_number_or_text(viewer, demo_account):
    capture_sms(demo_account, "00393350000001", "Prima offerta")
    capture_sms(demo_account, "00393350000002", "Seconda offerta")

    by_number = viewer.get(SMS_PAGE, {"q": "3350000002"}).content.decode()
    by_text = viewer.get(SMS_PAGE, {"q": "prima"}).content.decode()

    assert "Seconda offerta" in by_number
    assert "Prima offerta" not in by_number
    assert "Prima offerta" in by_text
    assert "Seconda offerta" not in by_text


def test_search_with_nul_matches_nothing(viewer, demo_account):
    capture_sms(demo_account, "00393350000001", "Prima offerta")

    response = viewer.get(SMS_PAGE, {"q": "a\x00b"})

    assert response.status_code == 200
    assert "Prima offerta" not in response.content.decode()


def test_failed_sending_shows_last_error(viewer, demo_account, other_account):
    mailing_list = demo_account.lists.get(list_id=1)
    message = SmsMessage.objects.create(list=mailing_list, subject="Saldi", text="Saldi invernali")
    SmsSending.objects.create(
        message=message, list=mailing_list, status=SmsSending.Status.FAILED, scheduled_at=timezone.now(),
        attempts=10, last_error="SMS gateway timed out",
    )
    other_list = other_account.lists.get(list_id=1)
    other_message = SmsMessage.objects.create(list=other_list, subject="Other", text="Other")
    SmsSending.objects.create(message=other_message, list=other_list, status=SmsSending.Status.FAILED, last_error="other error")

    page = viewer.get(SMS_PAGE).content.decode()

    assert "SMS gateway timed out" in page
    assert "Saldi" in page
    assert "other error" not in page


def test_reset_also_clears_sms(admin, demo_account, other_account):
    capture_sms(demo_account, "00393350000001", "Da cancellare")
    capture_sms(other_account, "00393350000002", "Da tenere")

    response = admin.post("/console/inbox/reset", follow=True)

    assert response.status_code == 200
    assert list(SinkSms.objects.values_list("text", flat=True)) == ["Da tenere"]
