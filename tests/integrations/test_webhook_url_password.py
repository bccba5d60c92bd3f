"""A webhook URL with user and password: the CRM gets Basic credentials, the attempt log and the sink API never show the password."""

import base64

from integrations.models import WebhookDelivery
from integrations.webhooks import without_password
from tests.integrations.test_webhooks import SUBSCRIBE_ANNA, add_webhook


def test_password_sent_as_basic_not_logged(demo, http, receiver):
    url = receiver.url.replace("http://", "http://crm-user:s3cret%21@")
    add_webhook(url, parameters=[["customerEmail", "[email]"]])

    http.get(SUBSCRIBE_ANNA)

    [request] = receiver.requests
    expected = base64.b64encode(b"crm-user:s3cret!").decode("ascii")
    assert request["headers"]["Authorization"] == f"Basic {expected}"
    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert "s3cret" not in attempt.url
    assert attempt.url.startswith("http://crm-user:***@127.0.0.1:")


def test_sink_api_hides_password(demo, http, receiver):
    add_webhook(receiver.url.replace("http://", "http://crm-user:s3cret@"))
    http.get(SUBSCRIBE_ANNA)

    response = http.get("/sink/api/webhooks")

    assert response.status_code == 200
    [delivery] = response.json()["deliveries"]
    assert delivery["url"].startswith("http://crm-user:***@127.0.0.1:")
    assert "s3cret" not in response.text


def test_url_without_password_unchanged():
    assert without_password("https://crm.example/hook?a=1") == "https://crm.example/hook?a=1"
    assert without_password("https://user@crm.example/hook") == "https://user@crm.example/hook"
    assert without_password("https://user:@crm.example:8443/h") == "https://user:***@crm.example:8443/h"
