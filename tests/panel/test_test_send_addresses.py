"""Test send addresses that no stored address can equal, such as one with a NUL: skipped, not a 500 on PostgreSQL."""

import pytest

from sending import services as sending_services
from sending.models import Sending

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(demo_account):
    return sending_services.create_message(demo_account.lists.get(list_id=2), "Test send", html="<p>x</p>")


def test_address_with_nul_is_skipped(editor, message):
    response = editor.post(f"/console/messages/{message.pk}/test", {"addresses": "nul\x00@example.com"})

    assert response.status_code == 302
    assert response.url == f"/console/messages/{message.pk}"
    assert not Sending.objects.filter(message=message).exists()
