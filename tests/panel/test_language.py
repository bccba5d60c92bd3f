from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.conf.locale.it import formats as django_italian_formats
from django.utils import formats, translation

from integrations.models import ImportFile, PostOperationRun, WebhookDelivery
from lists.models import Account, Recipient

pytestmark = pytest.mark.django_db


def test_browser_language_english(admin):
    response = admin.get("/console/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")

    assert '<html lang="en">' in response.content.decode()
    assert "Latest sendings" in response.content.decode()


def test_browser_language_italian(admin):
    response = admin.get("/console/", HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9")

    assert '<html lang="it">' in response.content.decode()
    assert "Ultimi invii" in response.content.decode()


def test_language_switch_overrides_browser(admin):
    response = admin.post("/i18n/setlang/", {"language": "it", "next": "/console/"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    page = admin.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="it">' in page


def test_log_status_labels_are_italian():
    with translation.override("it"):
        labels = [
            str(WebhookDelivery.Status.PENDING.label),
            str(PostOperationRun.Status.LOOP.label),
            str(ImportFile.Status.DUPLICATE.label),
        ]

    assert labels == ["in attesa", "ciclo", "duplicato"]


AFTERNOON = datetime(2026, 12, 5, 14, 30)


@pytest.mark.parametrize(
    "format_name, expected",
    [
        ("SHORT_DATE_FORMAT", "05/12/2026"),
        ("SHORT_DATETIME_FORMAT", "05/12/2026 14:30"),
        ("DATE_FORMAT", "5 Dec 2026"),
        ("DATETIME_FORMAT", "5 Dec 2026, 14:30"),
    ],
)
def test_english_dates_are_day_first(format_name, expected):
    with translation.override("en"):
        assert formats.date_format(AFTERNOON, format_name) == expected


@pytest.mark.parametrize(
    "format_name", ["DATE_FORMAT", "DATETIME_FORMAT", "SHORT_DATE_FORMAT", "SHORT_DATETIME_FORMAT", "DATE_INPUT_FORMATS"]
)
def test_italian_formats_are_django_defaults(format_name):
    assert formats.get_format(format_name, lang="it") == getattr(django_italian_formats, format_name)


def test_english_date_input_is_day_first():
    field = forms.DateField()

    with translation.override("en"):
        assert field.clean("05/12/2026") == date(2026, 12, 5)
        assert field.clean("2026-12-05") == date(2026, 12, 5)
        with pytest.raises(forms.ValidationError):
            field.clean("12/25/2026")


def test_recipient_page_in_english_shows_day_first(admin):
    account = Account.objects.get(console_id=1234)
    recipient = Recipient.objects.create(account=account, email="date@example.com")
    created = datetime(2026, 3, 4, 9, 15, tzinfo=ZoneInfo("Europe/Rome"))
    Recipient.objects.filter(pk=recipient.pk).update(created_at=created)

    page = admin.get(f"/console/recipients/{recipient.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "04/03/2026 09:15" in page
