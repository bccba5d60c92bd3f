import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.contrib.sessions.middleware import SessionMiddleware

from lists.models import AccountUser
from panel.auth import log_in_account_user

pytestmark = pytest.mark.django_db

LOGIN = "/console/login"


def test_login_with_demo_password_opens_dashboard(demo_account):
    client = Client()

    response = client.post(LOGIN, {"username": "m1234", "password": "demo-console-1234"})

    assert response.status_code == 302
    assert response.url == "/console/"
    dashboard = client.get("/console/")
    assert dashboard.status_code == 200
    assert "Demo S.r.l." in dashboard.content.decode()


def test_login_with_wrong_password_shows_error(demo_account):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(LOGIN, {"username": "m1234", "password": "wrong"})

    assert response.status_code == 200
    assert "Wrong user name or password" in response.content.decode()


def test_repeated_wrong_passwords_lock_user_out(demo_account, settings):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "m1234", "password": "wrong"})

    response = client.post(LOGIN, {"username": "m1234", "password": "demo-console-1234"})

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_spares_other_user_names(demo_account, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "someone-else", "password": "wrong"})

    response = client.post(LOGIN, {"username": "m1234", "password": "demo-console-1234"})

    assert response.status_code == 302


def test_pages_redirect_anonymous_to_login(demo_account):
    response = Client().get("/console/")

    assert response.status_code == 302
    assert response.url.startswith("/console/login?next=")


def test_user_without_account_gets_403(demo_account):
    user = get_user_model().objects.create_user(username="nobody", password="x" * 12)
    client = Client()
    client.force_login(user)

    assert client.get("/console/").status_code == 403


def test_suspended_account_gets_403(demo_account, admin):
    demo_account.status = demo_account.Status.SUSPENDED
    demo_account.save()

    assert admin.get("/console/").status_code == 403


def test_logout_needs_post(admin):
    assert admin.get("/console/logout").status_code == 405

    response = admin.post("/console/logout")

    assert response.status_code == 302
    assert admin.get("/console/").status_code == 302


def test_log_in_account_user_starts_session(demo_account):
    request = RequestFactory().get("/Console/Sso")
    SessionMiddleware(lambda r: None).process_request(request)
    member = AccountUser.objects.get(user__username="m1234")

    url = log_in_account_user(request, member)

    assert url == "/console/"
    assert request.session["_auth_user_id"] == str(member.user_id)


def test_log_in_account_user_rejects_suspended_account(demo_account):
    request = RequestFactory().get("/Console/Sso")
    SessionMiddleware(lambda r: None).process_request(request)
    demo_account.status = demo_account.Status.SUSPENDED
    demo_account.save()

    with pytest.raises(PermissionError):
        log_in_account_user(request, AccountUser.objects.get(user__username="m1234"))
