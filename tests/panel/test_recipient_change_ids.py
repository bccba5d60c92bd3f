"""Manual recipient changes whose posted list or group id is not ASCII digits: 404, not a 500."""

import pytest

from lists.models import Group, GroupMembership, Recipient, Subscription

pytestmark = pytest.mark.django_db

# str.isdigit() accepts these, but int() and the database do not.
NOT_ASCII_DIGITS = ["²", "١٢", "\uff11"]


@pytest.fixture
def recipient(demo_account):
    return Recipient.objects.create(account=demo_account, email="digits@example.com")


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
@pytest.mark.parametrize(
    ("action", "field"),
    [("subscribe", "list_id"), ("unsubscribe", "list_id"), ("add_group", "group_id"), ("remove_group", "group_id"), ("move_group", "to_group_id")],
)
def test_change_with_non_ascii_id_is_not_found(editor, recipient, action, field, value):
    group = Group.objects.filter(list__account=recipient.account).first()
    data = {"action": action, "list_id": "2", "group_id": str(group.pk), "to_group_id": str(group.pk), field: value}

    response = editor.post(f"/console/recipients/{recipient.pk}/change", data)

    assert response.status_code == 404
    assert not Subscription.objects.filter(recipient=recipient).exists()
    assert not GroupMembership.objects.filter(recipient=recipient).exists()
