"""PyPI django-mailupy 0.1.0 and djangomailup 0.2.0, unchanged, against the live server.

Both are pointed at the server through what they offer: django-mailupy
through the AUTH_URL and BASE_URL class attributes it inherits from
mailupy, djangomailup through the entries of its `conf.ENDPOINT` table,
because it reads its host from nowhere else.
"""

import pytest
from rest_framework.test import APIRequestFactory

from lists.demo import DEMO_CONSOLE_PASSWORD, DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET
from lists.models import Subscription

django_mailupy_client = pytest.importorskip(
    "django_mailupy.client", reason="install the clients with: pip install --no-deps -r requirements-clients.txt"
)
djangomailup = pytest.importorskip(
    "djangomailup", reason="install the clients with: pip install --no-deps -r requirements-clients.txt"
)

from django_mailupy.models import MailupyCredential  # noqa: E402
from djangomailup import conf as djangomailup_conf  # noqa: E402

CONSOLE_PATH = "/API/v1.1/Rest/ConsoleService.svc/Console"


@pytest.fixture
def local_django_mailupy(demo, server_url, monkeypatch):
    """DjangoMailupy with the console user stored in its credential row and its URLs on the live server."""
    MailupyCredential.objects.create(username="m1234", mailup_password=DEMO_CONSOLE_PASSWORD)
    client_class = django_mailupy_client.DjangoMailupy
    monkeypatch.setattr(client_class, "AUTH_URL", f"{server_url}/Authorization/OAuth/Token")
    monkeypatch.setattr(client_class, "BASE_URL", f"{server_url}{CONSOLE_PATH}")
    return client_class


@pytest.fixture
def djangomailup_settings(demo, server_url, settings, monkeypatch):
    """The MAILUP setting djangomailup requires, and its endpoint table pointed at the live server."""
    settings.MAILUP = {
        "default": {
            "username": "m1234",
            "password": DEMO_CONSOLE_PASSWORD,
            "client_id": DEMO_OAUTH_CLIENT_ID,
            "client_secret": DEMO_OAUTH_CLIENT_SECRET,
        },
        "wrong": {"username": "m1234", "password": "wrong", "client_id": DEMO_OAUTH_CLIENT_ID, "client_secret": "x"},
    }
    endpoints = {
        "authorize": f"{server_url}/Authorization/OAuth/LogOn",
        "token": f"{server_url}/Authorization/OAuth/Token",
        "info": f"{server_url}{CONSOLE_PATH}/Authentication/Info",
    }
    for name, url in endpoints.items():
        monkeypatch.setitem(djangomailup_conf.ENDPOINT, name, url)
    return server_url


# --- django-mailupy ----------------------------------------------------------------


def test_django_mailupy_reads_stored_credentials(local_django_mailupy):
    client = local_django_mailupy(client_id=DEMO_OAUTH_CLIENT_ID, client_secret=DEMO_OAUTH_CLIENT_SECRET)
    assert [field["Id"] for field in client.get_fields()][:3] == [1, 2, 3]


def test_django_mailupy_subscription_flow(local_django_mailupy):
    client = local_django_mailupy(client_id=DEMO_OAUTH_CLIENT_ID, client_secret=DEMO_OAUTH_CLIENT_SECRET)
    group_id, created = client.get_or_create_group(1, "Da Django")
    assert created is True

    recipient_id = client.subscribe_to_group(group_id, "Gina", "gina@example.com", fields={"nome": "Gina"})
    assert client.get_recipient_from_group(group_id, "gina@example.com")["idRecipient"] == recipient_id
    status = Subscription.objects.get(recipient_id=recipient_id, list__list_id=1).status
    assert status == Subscription.Status.SUBSCRIBED

    client.unsubscribe_from_list(1, recipient_id)
    assert client.get_unsubscribed_recipient_from_list(1, "gina@example.com")["idRecipient"] == recipient_id


def test_django_mailupy_connection_check_fails(local_django_mailupy):
    """The bundled test_connection action logs in with client id "foo" and calls get_lists(), which mailupy lacks."""
    from django_mailupy.viewsets import MailupyCredentialViewSet

    view = MailupyCredentialViewSet.as_view({"get": "test_connection"})
    response = view(APIRequestFactory().get("/api/mailupy-credentials/test_connection/"))
    assert response.status_code == 400
    assert "invalid_client" in response.data["error"]


# --- djangomailup --------------------------------------------------------------------


def test_djangomailup_account_info(djangomailup_settings):
    client = djangomailup.MailUpClient()
    info = client.get_info()
    assert info.status_code == 200
    body = info.json()
    assert body["Username"] == "m1234"
    assert body["UID"] == "1234"
    assert body["Company"] == "Demo S.r.l."
    assert body["IsTrial"] is False
    assert body["Version"]


def test_djangomailup_session_calls_console(djangomailup_settings):
    # MailUpClient is a requests Session with the bearer token attached.
    client = djangomailup.AuthenticateSession()
    lists = client.get(f"{djangomailup_settings}{CONSOLE_PATH}/User/Lists").json()
    assert lists["TotalElementsCount"] == 2


def test_djangomailup_plural_lists_is_404(djangomailup_settings):
    # MailUp serves lists at /Console/List and /Console/User/Lists only.
    response = djangomailup.MailUpClient().get(f"{djangomailup_settings}{CONSOLE_PATH}/Lists")
    assert response.status_code == 404
    assert response.json()["ErrorCode"] == "404"


def test_djangomailup_wrong_password_raises(djangomailup_settings):
    with pytest.raises(Exception, match="invalid_client|invalid_grant"):
        djangomailup.MailUpClient(using="wrong")
