"""The admin API with numbers too large for a row id or for int(): a 400 naming the field, never a 500."""

import pytest

from integrations.models import PostOperation, Webhook
from tests.integrations.test_admin_api import Admin, webhook_body

HUGE = "9" * 30
THOUSANDS_OF_DIGITS = "9" * 5000


@pytest.fixture
def admin(http, bearer_token):
    return Admin(http, bearer_token)


@pytest.mark.parametrize(
    "query, field",
    [
        (f"webhook={HUGE}", "webhook"),
        (f"webhook={THOUSANDS_OF_DIGITS}", "webhook"),
        (f"limit={THOUSANDS_OF_DIGITS}", "limit"),
    ],
)
def test_delivery_filter_too_large(admin, query, field):
    response = admin.call("GET", f"/webhooks/deliveries?{query}")

    assert response.status_code == 400, response.text
    assert response.json()["ErrorDescription"].startswith(field)


def test_limit_with_thousands_of_leading_zeros(admin):
    response = admin.call("GET", f"/webhooks/deliveries?limit={'0' * 5000}5")

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("list_id", [2**31, 2**63, 2**70, 0, -(2**70)])
def test_webhook_list_id_out_of_range(admin, receiver, list_id):
    response = admin.call("POST", "/webhooks", webhook_body(receiver.url, lists=[list_id]))

    assert response.status_code == 400, response.text
    assert response.json()["ErrorDescription"].startswith("lists:")
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("field", ["lists", "subscribe_to", "unsubscribe_from"])
def test_post_operation_list_id_out_of_range(admin, field):
    body = {"event": "Unsubscribe", "sources": ["API"], "lists": [1], "unsubscribe_from": [2]}
    body[field] = [2**70]

    response = admin.call("POST", "/post-operations", body)

    assert response.status_code == 400, response.text
    assert response.json()["ErrorDescription"].startswith(f"{field}:")
    assert not PostOperation.objects.exists()
