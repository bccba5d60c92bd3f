"""The admin API under /sim/api/v1/: webhook and post-operation settings, replay and exports, over real HTTP."""

import pytest
from django.utils import timezone

from integrations.models import PostOperation, Webhook, WebhookDelivery
from integrations.webhooks import MAX_ATTEMPTS
from lists.models import Account, List
from tests.lists.pages import LIST1_GUID
from tests.personas import demo_list

ADMIN = "/sim/api/v1"
SUBSCRIBE_ANNA = "/frontend/xmlSubscribe.aspx?List=1&Email=anna%40example.com&Confirm=0&retCode=1"
UNSUBSCRIBE_ANNA = f"/frontend/xmlUnSubscribe.aspx?ListGuid={LIST1_GUID}&List=1&Email=anna%40example.com"


class Admin:
    """A caller of the admin API with a bearer token of the demo console."""

    def __init__(self, http, token):
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method, path, body=None):
        return self.http.request(method, ADMIN + path, headers=self.headers, json=body)


@pytest.fixture
def admin(http, bearer_token):
    return Admin(http, bearer_token)


def webhook_body(crm_url, **changes):
    body = {
        "event": "Subscribe",
        "sources": ["API"],
        "lists": [1],
        "method": "POST",
        "url": crm_url,
        "parameters": [["customerEmail", "[email]"]],
        "encryption_key": "segreta",
    }
    body.update(changes)
    return body


def test_webhook_created_and_listed(admin, receiver):
    response = admin.call("POST", "/webhooks", webhook_body(receiver.url))

    assert response.status_code == 200, response.text
    created = response.json()
    assert created["event"] == "Subscribe"
    assert created["lists"] == [1]
    assert created["encrypted"] is True
    assert "encryption_key" not in created
    listing = admin.call("GET", "/webhooks").json()
    assert [item["id"] for item in listing] == [created["id"]]
    assert Webhook.objects.get().encryption_key == "segreta"


def test_webhook_update_changes_given_keys(admin, receiver):
    webhook_id = admin.call("POST", "/webhooks", webhook_body(receiver.url)).json()["id"]

    response = admin.call("PUT", f"/webhooks/{webhook_id}", {"active": False, "lists": []})

    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert response.json()["lists"] == []
    assert response.json()["url"] == receiver.url


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event": "Bounce"}, "event"),
        ({"sources": []}, "sources"),
        ({"sources": ["API", "Web"]}, "sources"),
        ({"lists": [99]}, "lists"),
        ({"lists": "1"}, "lists"),
        ({"method": "PUT"}, "method"),
        ({"url": "ftp://127.0.0.1/"}, "url"),
        ({"url": "http://127.0.0.1:99999/hook"}, "url"),
        ({"parameters": [["", "[email]"]]}, "parameters"),
        ({"parameters": [["a", 1]]}, "parameters"),
        ({"encryption_key": "k" * 201}, "encryption_key"),
        ({"active": "yes"}, "active"),
        # PostgreSQL cannot store NUL, so these were 500s there.
        ({"url": "http://127.0.0.1:9/hook\x00"}, "url"),
        ({"url": "http://127.0.0.1:9/hook\x1b"}, "url"),
        ({"parameters": [["email", "[email]\x00"]]}, "parameters"),
        ({"parameters": [["e\x00mail", "[email]"]]}, "parameters"),
        ({"encryption_key": "k\x00"}, "encryption_key"),
    ],
)
def test_invalid_webhook_names_field(admin, receiver, changes, field):
    response = admin.call("POST", "/webhooks", webhook_body(receiver.url, **changes))

    assert response.status_code == 400
    assert response.json()["ErrorDescription"].startswith(f"{field}: ")
    assert Webhook.objects.count() == 0


def test_webhook_missing_url_rejected(admin):
    response = admin.call("POST", "/webhooks", {"event": "Subscribe", "sources": ["API"]})

    assert response.status_code == 400
    assert response.json()["ErrorDescription"] == "url: is required."


def test_other_account_webhook_not_found(admin, receiver):
    other = Account.objects.create(console_id=4321, name="Other")
    webhook = Webhook.objects.create(account=other, event="Subscribe", sources=["API"], url=receiver.url)

    assert admin.call("GET", f"/webhooks/{webhook.pk}").status_code == 404
    assert admin.call("DELETE", f"/webhooks/{webhook.pk}").status_code == 404
    assert Webhook.objects.filter(pk=webhook.pk).exists()


def test_missing_token_gets_401(http, demo):
    response = http.get(f"{ADMIN}/webhooks")

    assert response.status_code == 401
    assert response.json()["ErrorName"] == "Unauthorized"


def test_failed_delivery_replayed_through_api(admin, http, receiver):
    admin.call("POST", "/webhooks", webhook_body(receiver.url, encryption_key=""))
    receiver.always_fail = True
    http.get(SUBSCRIBE_ANNA)
    WebhookDelivery.objects.update(status=WebhookDelivery.Status.FAILED, attempts=MAX_ATTEMPTS)
    failed = admin.call("GET", "/webhooks/deliveries?status=failed").json()
    assert len(failed) == 1
    receiver.always_fail = False

    response = admin.call("POST", f"/webhooks/deliveries/{failed[0]['id']}/replay")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "delivered"
    assert [attempt["status_code"] for attempt in response.json()["attempt_log"]] == [500, 200]


def test_replay_of_delivered_gets_409(admin, http, receiver):
    admin.call("POST", "/webhooks", webhook_body(receiver.url))
    http.get(SUBSCRIBE_ANNA)
    delivery = WebhookDelivery.objects.get()

    response = admin.call("POST", f"/webhooks/deliveries/{delivery.pk}/replay")

    assert response.status_code == 409
    assert "only a failed delivery" in response.json()["ErrorDescription"]
    assert len(receiver.requests) == 1


def test_post_operation_created_and_run(admin, http):
    body = {"event": "Unsubscribe", "sources": ["API"], "lists": [1], "unsubscribe_from": [2]}
    response = admin.call("POST", "/post-operations", body)
    assert response.status_code == 200, response.text
    assert response.json()["unsubscribe_from"] == [2]
    http.get(SUBSCRIBE_ANNA)
    http.get(SUBSCRIBE_ANNA.replace("List=1", "List=2"))

    http.get(UNSUBSCRIBE_ANNA)

    runs = admin.call("GET", "/post-operations/runs").json()
    assert [run["status"] for run in runs] == ["done"]
    assert runs[0]["outcomes"] == [{"action": "unsubscribe", "list": 2, "outcome": "unsubscribed"}]


def test_post_operation_without_action_rejected(admin):
    response = admin.call("POST", "/post-operations", {"event": "Unsubscribe", "sources": ["API"]})

    assert response.status_code == 400
    assert response.json()["ErrorDescription"].startswith("subscribe_to: ")
    assert PostOperation.objects.count() == 0


def test_unsubscriber_export_runs_at_once(admin, http, settings, tmp_path):
    settings.FTP_ROOT = tmp_path / "ftp"
    http.get(SUBSCRIBE_ANNA)
    http.get(UNSUBSCRIBE_ANNA)

    response = admin.call("POST", "/lists/1/unsubscriber-export")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == 1
    today = timezone.localtime().strftime("%Y%m%d")
    assert body["file"] == f"export/unsubscribed_1_{today}.csv"
    written = (tmp_path / "ftp" / "1234" / body["file"]).read_text(encoding="utf-8")
    assert "anna@example.com" in written


def test_unsubscriber_export_unknown_list(admin):
    assert admin.call("POST", "/lists/99/unsubscriber-export").status_code == 404
    assert not List.objects.filter(list_id=99).exists()
    assert demo_list(1).unsubscribe_exports.count() == 0


@pytest.mark.parametrize("query", ["limit=%C2%B2", "webhook=%C2%B2", "limit=%D9%A1"])
def test_non_ascii_digit_parameters_are_400(admin, query):
    response = admin.call("GET", f"/webhooks/deliveries?{query}")
    assert response.status_code == 400
