"""Trial consoles under hostile input: a zoned IPv6 address and console user names that another console took."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from oauth2_provider.models import get_application_model

from lists import trials
from lists.account_settings import add_console_user
from lists.demo import DEMO_OAUTH_CLIENT_ID
from lists.errors import InvalidParameter
from lists.models import Account, AccountUser, TrialActivation

PASSWORD = "trial-password-2026"
PERSON = {"NameAndSurname": "Joe Public", "Email": "joe@public.example", "Language": "en"}


def pending_trial(token="link-token"):
    """Store a pending trial whose activation link carries `token`, as request_trial would."""
    now = timezone.now()
    return TrialActivation.objects.create(
        application=get_application_model().objects.get(client_id=DEMO_OAUTH_CLIENT_ID),
        hash="trial-hash",
        link_digest=trials._digest(token),
        pending_email=PERSON["Email"],
        name_and_surname=PERSON["NameAndSurname"],
        email=PERSON["Email"],
        language="en",
        expires_at=now + timedelta(hours=1),
    )


def test_ip_address_zone_dropped(demo):
    # Django's GenericIPAddressField drops the zone on save, so PostgreSQL's inet never receives it.
    application = get_application_model().objects.get(client_id=DEMO_OAUTH_CLIENT_ID)

    trial = trials.request_trial(application, {**PERSON, "IpAddress": "fe80::1%eth0"})

    trial.refresh_from_db()
    assert trial.ip_address == "fe80::1"


@pytest.mark.parametrize("username", ["m1235", "A1235", "m99"])
def test_console_user_name_of_other_console_rejected(demo, username):
    account = Account.objects.get(console_id=1234)

    with pytest.raises(InvalidParameter) as rejected:
        add_console_user(account, username, PASSWORD, AccountUser.Role.ADMIN)

    assert rejected.value.field == "username"
    assert not get_user_model().objects.filter(username=username).exists()


def test_console_user_name_like_but_not_reserved_accepted(demo):
    account = Account.objects.get(console_id=1234)

    member = add_console_user(account, "m1235.sales", PASSWORD, AccountUser.Role.ADMIN)

    assert member.user.username == "m1235.sales"


def test_activation_skips_console_id_whose_user_exists(demo):
    get_user_model().objects.create_user(username="m1235", password=PASSWORD)
    pending_trial()

    trial = trials.activate_trial("link-token", PASSWORD)

    assert trial.account.console_id == 1236
    assert trial.account.members.get().user.username == "m1236"
