"""Panel logins whose user name or headers django-axes cannot store as they come: a login page, not a 500.

PostgreSQL text cannot contain NUL, and django-axes keeps user names in a
255-character column.
"""

import pytest
from axes.models import AccessAttempt, AccessLog
from django.test import Client

from lists.login_guard import USERNAME_MAX_LENGTH
from tests.panel.conftest import PASSWORD, make_member

pytestmark = pytest.mark.django_db


def test_overlong_user_name_is_counted_cut(demo_account):
    response = Client().post("/console/login", {"username": "a" * 5000, "password": "wrong-password"})

    assert response.status_code == 200
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "a" * USERNAME_MAX_LENGTH


@pytest.mark.parametrize("header", ["HTTP_USER_AGENT", "HTTP_ACCEPT"])
def test_failed_login_with_nul_header_is_counted(demo_account, header):
    client = Client(**{header: "agent\x00x"})

    response = client.post("/console/login", {"username": "m1234", "password": "wrong-password"})

    assert response.status_code == 200
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_login_with_nul_user_agent_succeeds(demo_account):
    make_member(demo_account, "nulagent", "viewer")
    client = Client(HTTP_USER_AGENT="agent\x00x")

    response = client.post("/console/login", {"username": "nulagent", "password": PASSWORD})

    assert response.status_code == 302
    assert AccessLog.objects.get(username="nulagent").user_agent == "agent0x00x"
