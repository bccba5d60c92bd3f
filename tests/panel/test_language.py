import pytest
from django.utils import translation

from integrations.models import ImportFile, PostOperationRun, WebhookDelivery

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
