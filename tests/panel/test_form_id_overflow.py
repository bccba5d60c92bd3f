"""Group and filter checkboxes with an id too large for a database key: a form error, not a 500."""

import pytest

from lists.models import Subscription
from sending import services as sending_services
from sending.models import Sending

pytestmark = pytest.mark.django_db

HUGE_ID = "9" * 30


@pytest.fixture
def message(demo_account):
    return sending_services.create_message(demo_account.lists.get(list_id=2), "Overflow", html="<p>x</p>")


@pytest.mark.parametrize("field", ["groups", "excluded_groups", "filters"])
def test_send_with_huge_id_is_rejected(editor, message, field):
    sending_services.save_filter(message.list, "Any", [{"field": "email", "operator": "is_not_empty"}])

    response = editor.post(f"/console/messages/{message.pk}/send", {field: HUGE_ID, "filters_match": "all"})

    assert response.status_code == 302
    assert response.url == f"/console/messages/{message.pk}"
    assert not Sending.objects.filter(message=message).exists()


def test_target_count_with_huge_group_is_rejected(viewer, message):
    response = viewer.get(f"/console/messages/{message.pk}/count", {"groups": HUGE_ID})

    assert response.status_code == 400


def test_recipient_add_with_huge_group_is_rejected(editor, demo_account):
    response = editor.post("/console/lists/2/recipients/add", {"email": "overflow@example.com", "groups": HUGE_ID})

    assert response.status_code in (200, 302)
    assert not Subscription.objects.filter(recipient__email="overflow@example.com").exists()
