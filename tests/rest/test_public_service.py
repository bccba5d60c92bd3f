"""PublicService.svc: a partner application requests a trial console, the person activates it from the mail.

The REST calls go over real HTTP with Basic client credentials, the mail
through the SMTP sink, and the activation page through Django's test client.
"""

import base64
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_application_model

from lists.demo import DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET
from lists.models import Account, TrialActivation
from lists.rest import account_info
from sending.models import SystemMail
from sending.sink import parse_message
from tests.rest.conftest import assert_envelope

PUBLIC = "/API/v1.1/Rest/PublicService.svc/Console"
SECOND_CLIENT_ID = "partner-two"
SECOND_CLIENT_SECRET = "partner-two-secret-5678"
ACTIVATION_LINK = re.compile(r"https?://\S+/console/trial/[A-Za-z0-9_-]+")
PASSWORD = "trial-password-2026"
# The example body of mailup-ruby's documentation, with the optional fields MailUp lists.
PERSON = {
    "NameAndSurname": "Joe Public",
    "Email": "joe@public.example",
    "Company": "ACME",
    "PhoneNumber": "15555551212",
    "Language": "En",
    "IsUSA": True,
    "RegisterToNewsletter": True,
    "IpAddress": "203.0.113.7",
    "Referer": "https://partner.example/signup",
    "UserAgent": "Mozilla/5.0",
}


def basic(client_id=DEMO_OAUTH_CLIENT_ID, secret=DEMO_OAUTH_CLIENT_SECRET):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def call(http, name, body, authorization=None, path=PUBLIC):
    # mailup-ruby sends Content-Type application/json and the Basic header.
    headers = {"Authorization": authorization or basic(), "Content-Type": "application/json"}
    return http.post(f"{path}/{name}", json=body, headers=headers)


def request_trial(http, authorization=None, **changes):
    response = call(http, "TrialActivation", {**PERSON, **changes}, authorization)
    assert response.status_code == 200, response.text
    return response.json()


def status(http, trial, authorization=None):
    response = call(http, "TrialActivationStatus", {"Hash": trial["Hash"], "Id": trial["Id"]}, authorization)
    assert response.status_code == 200, response.text
    return response.json()


def activation_path(message):
    link = ACTIVATION_LINK.search(parse_message(bytes(message.raw))["text"]).group(0)
    return urlsplit(link).path


def activate(client, path, password=PASSWORD, again=None):
    return client.post(path, {"password": password, "password_again": password if again is None else again})


@pytest.fixture
def second_client(demo):
    application_model = get_application_model()
    return application_model.objects.create(
        client_id=SECOND_CLIENT_ID,
        client_secret=SECOND_CLIENT_SECRET,
        name="Second partner",
        client_type=application_model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application_model.GRANT_PASSWORD,
    )


def test_trial_round_trip(demo, sink, http, client):
    trial = request_trial(http)
    assert set(trial) == {"Hash", "Id"}
    assert isinstance(trial["Id"], int)
    assert len(trial["Hash"]) >= 32
    assert status(http, trial)["Code"] == "1"

    [mail] = sink.wait_for(1)
    assert mail.rcpt_to == ["joe@public.example"]
    assert mail.subject == "Activate your MailUp trial console"
    assert "MailUp" in mail.from_header
    path = activation_path(mail)

    page = client.get(path)
    assert page.status_code == 200
    assert b'name="password"' in page.content
    response = activate(client, path)
    assert response.status_code == 200

    trial_row = TrialActivation.objects.get(pk=trial["Id"])
    account = trial_row.account
    assert account.name == "ACME"
    assert account.language == "en"
    user = account.members.get().user
    assert user.username == f"m{account.console_id}"
    assert user.email == "joe@public.example"
    assert user.check_password(PASSWORD)
    assert account_info(account)["IsTrial"] is True
    assert account_info(Account.objects.get(console_id=1234))["IsTrial"] is False
    assert f"m{account.console_id}".encode() in response.content

    answer = status(http, trial)
    assert answer["Code"] == "2"
    assert str(account.console_id) in answer["Description"]


def test_mail_in_italian(demo, sink, http):
    request_trial(http, Language="it")
    [mail] = sink.wait_for(1)
    assert mail.subject == "Attiva la tua console di prova MailUp"
    assert "console di prova" in parse_message(bytes(mail.raw))["text"]


def test_language_defaults_to_italian(demo, http):
    request_trial(http, Language=None)
    assert SystemMail.objects.get().language == "it"


def test_get_of_link_does_not_activate(demo, sink, http, client):
    trial = request_trial(http)
    path = activation_path(sink.wait_for(1)[0])

    for _ in range(2):
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200

    assert status(http, trial)["Code"] == "1"
    assert TrialActivation.objects.get(pk=trial["Id"]).account is None
    assert Account.objects.count() == 1


def test_link_used_twice_opens_one_console(demo, sink, http, client):
    request_trial(http)
    path = activation_path(sink.wait_for(1)[0])

    assert activate(client, path).status_code == 200
    again = activate(client, path)

    assert again.status_code == 200
    assert b"already active" in again.content
    assert Account.objects.count() == 2


def test_activation_without_csrf_token_rejected(demo, sink, http):
    request_trial(http)
    path = activation_path(sink.wait_for(1)[0])

    response = activate(Client(enforce_csrf_checks=True), path)

    assert response.status_code == 403
    assert Account.objects.count() == 1


def test_unknown_link_gets_404(demo, client):
    response = client.get("/console/trial/not-a-real-token")
    assert response.status_code == 404
    assert activate(client, "/console/trial/not-a-real-token").status_code == 404
    assert Account.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [("short", None, b"too short"), (PASSWORD, PASSWORD + "x", b"differ")],
)
def test_activation_password_rejected(demo, sink, http, client, password, again, message):
    trial = request_trial(http)
    path = activation_path(sink.wait_for(1)[0])

    response = activate(client, path, password, again)

    assert response.status_code == 200
    assert message in response.content
    assert Account.objects.count() == 1
    assert status(http, trial)["Code"] == "1"


def test_expired_request(demo, sink, http, client):
    trial = request_trial(http)
    path = activation_path(sink.wait_for(1)[0])
    TrialActivation.objects.filter(pk=trial["Id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert status(http, trial)["Code"] == "3"
    assert client.get(path).status_code == 410
    assert activate(client, path).status_code == 410
    assert Account.objects.count() == 1


def test_expired_request_frees_the_address(demo, sink, http):
    first = request_trial(http)
    TrialActivation.objects.filter(pk=first["Id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    second = request_trial(http)

    assert second["Id"] != first["Id"]
    assert len(sink.wait_for(2)) == 2


def test_pending_address_repeated_by_same_client(demo, sink, http):
    first = request_trial(http)
    again = request_trial(http, Email="JOE@public.example", NameAndSurname="Joe P.")

    assert again == first
    assert TrialActivation.objects.count() == 1
    assert SystemMail.objects.count() == 1


def test_pending_address_rejected_for_other_client(demo, http, second_client):
    request_trial(http)

    response = call(http, "TrialActivation", PERSON, basic(SECOND_CLIENT_ID, SECOND_CLIENT_SECRET))

    body = assert_envelope(response, 400, "BadRequest")
    assert "Email" in body["ErrorDescription"]
    assert TrialActivation.objects.count() == 1


def test_other_client_cannot_read_status(demo, http, second_client):
    trial = request_trial(http)

    response = call(
        http, "TrialActivationStatus", {"Hash": trial["Hash"], "Id": trial["Id"]}, basic(SECOND_CLIENT_ID, SECOND_CLIENT_SECRET)
    )

    assert_envelope(response, 404, "NotFound")


def test_status_with_wrong_hash_or_id(demo, http):
    trial = request_trial(http)

    wrong_hash = call(http, "TrialActivationStatus", {"Hash": trial["Hash"] + "x", "Id": trial["Id"]})
    unknown_id = call(http, "TrialActivationStatus", {"Hash": trial["Hash"], "Id": trial["Id"] + 1000})

    assert_envelope(wrong_hash, 404, "NotFound")
    assert_envelope(unknown_id, 404, "NotFound")


def test_status_accepts_id_as_string(demo, http):
    trial = request_trial(http)
    response = call(http, "TrialActivationStatus", {"Hash": trial["Hash"], "Id": str(trial["Id"])})
    assert response.json()["Code"] == "1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Hash": "abc"}, "Id"),
        ({"Hash": "abc", "Id": "twelve"}, "Id"),
        ({"Hash": "abc", "Id": True}, "Id"),
        ({"Hash": "abc", "Id": 0}, "Id"),
        ({"Id": 1}, "Hash"),
        ({"Hash": 12, "Id": 1}, "Hash"),
    ],
)
def test_status_with_malformed_fields(demo, http, body, field):
    response = call(http, "TrialActivationStatus", body)
    assert field in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"NameAndSurname": None}, "NameAndSurname"),
        ({"NameAndSurname": "  "}, "NameAndSurname"),
        ({"NameAndSurname": ["Joe"]}, "NameAndSurname"),
        ({"NameAndSurname": "Joe\nPublic"}, "NameAndSurname"),
        ({"Email": None}, "Email"),
        ({"Email": "not-an-address"}, "Email"),
        ({"Email": "joe@public.example\u200b"}, "Email"),
        ({"Company": "x" * 201}, "Company"),
        ({"PhoneNumber": "call me"}, "PhoneNumber"),
        ({"Language": "de"}, "Language"),
        ({"Language": 1}, "Language"),
        ({"IsUSA": "true"}, "IsUSA"),
        ({"IsUSA": 1}, "IsUSA"),
        ({"RegisterToNewsletter": "yes"}, "RegisterToNewsletter"),
        ({"IpAddress": "999.1.1.1"}, "IpAddress"),
        ({"Referer": "x" * 2001}, "Referer"),
        ({"UserAgent": {"name": "x"}}, "UserAgent"),
    ],
)
def test_request_with_invalid_field(demo, http, changes, field):
    response = call(http, "TrialActivation", {**PERSON, **changes})

    assert field in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]
    assert TrialActivation.objects.count() == 0
    assert SystemMail.objects.count() == 0


@pytest.mark.parametrize("body", [[PERSON], "text", None])
def test_request_body_not_an_object(demo, http, body):
    assert_envelope(call(http, "TrialActivation", body), 400, "BadRequest")


def test_optional_fields_may_be_absent(demo, http):
    trial = request_trial(
        http, Company=None, PhoneNumber=None, IsUSA=None, RegisterToNewsletter=None, IpAddress=None, Referer=None, UserAgent=None
    )
    row = TrialActivation.objects.get(pk=trial["Id"])
    assert row.is_usa is False
    assert row.ip_address is None


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        basic(secret="wrong-secret"),
        basic(client_id="unknown-client"),
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer some-access-token",
    ],
)
def test_bad_client_credentials_get_401(demo, http, authorization):
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization

    for name, body in [("TrialActivation", PERSON), ("TrialActivationStatus", {"Hash": "abc", "Id": 1})]:
        response = http.post(f"{PUBLIC}/{name}", json=body, headers=headers)
        assert_envelope(response, 401, "Unauthorized")
    assert TrialActivation.objects.count() == 0


def test_bearer_token_is_not_enough(demo, http, tokens):
    response = call(http, "TrialActivation", PERSON, f"Bearer {tokens['access_token']}")
    assert_envelope(response, 401, "Unauthorized")


def test_paths_ignore_case(demo, http):
    path = "/api/v1.1/rest/publicservice.svc/console"
    trial = call(http, "trialactivation", PERSON, path=path).json()
    response = call(http, "TRIALACTIVATIONSTATUS", {"Hash": trial["Hash"], "Id": trial["Id"]}, path=path)
    assert response.json()["Code"] == "1"


def test_get_gets_405(demo, http):
    response = http.get(f"{PUBLIC}/TrialActivation", headers={"Authorization": basic()})
    assert_envelope(response, 405, "MethodNotAllowed")
