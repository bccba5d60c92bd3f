"""ConsoleService SMTP+ calls: the priority table and creating an SMTP+ user for a list."""

import pytest

from lists.models import Account, List
from sending import transactional
from sending.models import SmtpUser
from tests.rest.conftest import assert_envelope

NEW_USER = {
    "IsEnabled": True,
    "Note": "Ordini del negozio",
    "PriorityCode": 2,
    "TrustedDomains": ["Shop.Example"],
    "TrustedSenders": ["Ordini@Demo.Example"],
}


def test_priorities_in_code_order(api):
    response = api.get("/SmtpPlusPriorities")

    assert response.status_code == 200
    assert response.json() == [
        {"PriorityCode": 1, "PriorityName": "VeryHigh"},
        {"PriorityCode": 2, "PriorityName": "High"},
        {"PriorityCode": 3, "PriorityName": "Normal"},
        {"PriorityCode": 4, "PriorityName": "Low"},
        {"PriorityCode": 5, "PriorityName": "VeryLow"},
    ]


def test_priorities_path_ignores_case(api):
    assert api.get("/smtppluspriorities").status_code == 200


def test_create_user_returns_password_once(api):
    response = api.post("/List/1/SmtpPlus", json=NEW_USER)

    assert response.status_code == 200, response.text
    body = response.json()
    # The demo console already has s1234_01.
    assert body["Username"] == "s1234_02"
    assert body["idList"] == 1
    assert body["IsEnabled"] is True
    assert body["Note"] == "Ordini del negozio"
    assert body["PriorityCode"] == 2
    assert body["TrustedDomains"] == ["shop.example"]
    assert body["TrustedSenders"] == ["ordini@demo.example"]

    stored = SmtpUser.objects.get(username="s1234_02")
    assert stored.check_password(body["Password"])
    assert body["Password"] not in stored.password
    assert transactional.authenticate("s1234_02", body["Password"]) == stored


def test_create_user_with_empty_body_takes_defaults(api):
    response = api.post("/List/2/SmtpPlus", json={})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["IsEnabled"] is True
    assert body["PriorityCode"] == 3
    assert body["Note"] == ""
    assert body["TrustedDomains"] == []
    assert body["TrustedSenders"] == []
    assert SmtpUser.objects.get(username=body["Username"]).list.list_id == 2


def test_disabled_user_cannot_authenticate(api):
    body = api.post("/List/1/SmtpPlus", json={"IsEnabled": False}).json()

    assert SmtpUser.objects.get(username=body["Username"]).active is False
    with pytest.raises(transactional.AuthenticationFailed):
        transactional.authenticate(body["Username"], body["Password"])


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"IsEnabled": "yes"}, "IsEnabled"),
        ({"Note": 7}, "Note"),
        ({"Note": "x" * 501}, "Note"),
        ({"Note": "bell\x07"}, "Note"),
        ({"PriorityCode": 0}, "PriorityCode"),
        ({"PriorityCode": 6}, "PriorityCode"),
        ({"PriorityCode": "2"}, "PriorityCode"),
        ({"PriorityCode": True}, "PriorityCode"),
        ({"PriorityCode": 2.5}, "PriorityCode"),
        ({"TrustedDomains": "shop.example"}, "TrustedDomains"),
        ({"TrustedDomains": [3]}, "TrustedDomains"),
        ({"TrustedDomains": ["localhost"]}, "TrustedDomains"),
        ({"TrustedDomains": ["-bad.example"]}, "TrustedDomains"),
        ({"TrustedDomains": ["a@b.example"]}, "TrustedDomains"),
        ({"TrustedDomains": ["x.example"] * 101}, "TrustedDomains"),
        ({"TrustedSenders": ["not an address"]}, "TrustedSenders"),
        ({"TrustedSenders": {"a": "b"}}, "TrustedSenders"),
    ],
)
def test_bad_field_is_400_naming_it(api, changes, field):
    response = api.post("/List/1/SmtpPlus", json={**NEW_USER, **changes})

    assert_envelope(response, 400, "BadRequest")
    assert field in response.json()["ErrorDescription"]
    assert SmtpUser.objects.count() == 1


@pytest.mark.parametrize("body", ["[]", "null", "not json", '"text"'])
def test_body_not_an_object_is_400(api, body):
    response = api.post("/List/1/SmtpPlus", data=body)

    assert_envelope(response, 400, "BadRequest")
    assert SmtpUser.objects.count() == 1


def test_unknown_list_is_404(api):
    assert_envelope(api.post("/List/77/SmtpPlus", json=NEW_USER), 404, "NotFound")


def test_other_console_list_is_404(api, demo):
    other = Account.objects.create(console_id=5678, name="Other S.r.l.")
    List.objects.create(account=other, list_id=9, name="Other", sender_name="O", sender_email="o@other.example")

    assert_envelope(api.post("/List/9/SmtpPlus", json=NEW_USER), 404, "NotFound")
    assert not SmtpUser.objects.filter(account=other).exists()


def test_without_token_is_401(http, demo):
    response = http.get("/API/v1.1/Rest/ConsoleService.svc/Console/SmtpPlusPriorities")

    assert_envelope(response, 401, "Unauthorized")
