"""Bearer checks on ConsoleService: 401 with the error envelope, then a refresh that works."""

from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from lists.demo import DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET
from lists.models import Account, AccountUser
from tests.rest.conftest import CONSOLE, TOKEN_PATH, Api, assert_envelope


def test_missing_token_is_401(demo, http):
    response = http.get(CONSOLE + "/Authentication/Info")
    body = assert_envelope(response, 401, "Unauthorized")
    assert body["ErrorDescription"].startswith("Authorization error")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_garbage_token_is_401(demo, http):
    response = Api(http, "not-a-token").get("/Authentication/Info")
    assert_envelope(response, 401, "Unauthorized")


def test_old_mailup_token_type_is_401(demo, http, tokens):
    headers = {"Authorization": f"MailUp {tokens['access_token']}"}
    response = http.get(CONSOLE + "/Authentication/Info", headers=headers)
    assert_envelope(response, 401, "Unauthorized")


def test_expired_token_then_refresh_then_success(demo, http, tokens):
    get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=1))
    api = Api(http, tokens["access_token"])

    expired = api.get("/Authentication/Info")
    body = assert_envelope(expired, 401, "Unauthorized")
    assert body["ErrorDescription"] == "Authorization error: Access token is expired"

    refreshed = http.post(
        TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": DEMO_OAUTH_CLIENT_ID,
            "client_secret": DEMO_OAUTH_CLIENT_SECRET,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    api.access_token = refreshed.json()["access_token"]

    response = api.get("/Authentication/Info")
    assert response.status_code == 200
    assert response.json()["Username"] == "m1234"


def test_authentication_info_shape(api):
    response = api.get("/Authentication/Info")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["UID"] == "1234"
    assert body["Username"] == "m1234"
    assert body["Company"] == "Demo S.r.l."
    assert body["IsTrial"] is False
    assert isinstance(body["Version"], str)
    assert "Url" in body
    assert "ExpiryDate" in body
    assert "AccountName" in body


def test_authentication_details_shape(api):
    body = api.get("/Authentication/Details").json()
    assert body["Username"] == "m1234"
    assert body["Lang"] == "it"
    assert body["CreditsByList"] == [{"Credit": 0, "ListId": 1}, {"Credit": 0, "ListId": 2}]
    assert body["AutoRenewal"] is False
    assert body["TotalCredits"] == 0
    assert isinstance(body["Plan"], str)
    assert isinstance(body["Email"], str)


def test_revoked_token_is_401_at_once(demo, http, tokens):
    api = Api(http, tokens["access_token"])
    assert api.get("/Authentication/Info").status_code == 200

    get_access_token_model().objects.get().revoke()

    response = api.get("/Authentication/Info")
    body = assert_envelope(response, 401, "Unauthorized")
    assert body["ErrorDescription"] == "Authorization error: Access token is invalid"


def test_token_expiring_between_calls_is_401(demo, http, tokens):
    api = Api(http, tokens["access_token"])
    assert api.get("/Authentication/Info").status_code == 200

    get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=1))

    body = assert_envelope(api.get("/Authentication/Info"), 401, "Unauthorized")
    assert body["ErrorDescription"] == "Authorization error: Access token is expired"


def test_token_of_user_without_console_is_401(demo, http, django_user_model):
    outsider = django_user_model.objects.create_user("no-console")
    get_access_token_model().objects.create(
        user=outsider, token="outsider-token-1234", expires=timezone.now() + timedelta(hours=1), scope="console"
    )

    response = Api(http, "outsider-token-1234").get("/Authentication/Info")
    body = assert_envelope(response, 401, "Unauthorized")
    assert body["ErrorDescription"] == "Authorization error: the token's user belongs to no console."


def test_token_names_the_console_of_its_user(demo, http, django_user_model):
    other = Account.objects.create(console_id=5678, name="Other S.r.l.")
    user = django_user_model.objects.create_user("m5678")
    AccountUser.objects.create(account=other, user=user)
    get_access_token_model().objects.create(
        user=user, token="other-console-token", expires=timezone.now() + timedelta(hours=1), scope="console"
    )

    body = Api(http, "other-console-token").get("/Authentication/Info").json()
    assert body["UID"] == "5678"
    assert body["Company"] == "Other S.r.l."


def test_token_of_suspended_console_is_401(demo, http, tokens):
    Account.objects.filter(console_id=1234).update(status=Account.Status.SUSPENDED)

    response = Api(http, tokens["access_token"]).get("/Authentication/Info")

    body = assert_envelope(response, 401, "Unauthorized")
    assert body["ErrorDescription"] == "Authorization error: console 1234 is suspended."


def test_token_of_deactivated_user_is_401(demo, http, tokens, django_user_model):
    django_user_model.objects.filter(username="m1234").update(is_active=False)

    response = Api(http, tokens["access_token"]).get("/Authentication/Info")

    body = assert_envelope(response, 401, "Unauthorized")
    assert body["ErrorDescription"] == "Authorization error: the token's user is deactivated."


def test_expired_token_of_suspended_console_is_401(demo, http, tokens):
    Account.objects.filter(console_id=1234).update(status=Account.Status.INACTIVE)
    get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = Api(http, tokens["access_token"]).get("/Authentication/Info")

    body = assert_envelope(response, 401, "Unauthorized")
    assert body["ErrorDescription"] == "Authorization error: Access token is expired"
