"""Panel personas: the demo console's admin, an editor and a viewer, and a viewer of another console."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lists.demo import seed_demo
from lists.models import Account, AccountUser

PASSWORD = "panel-test-password"


def make_member(account, username, role):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    return AccountUser.objects.create(account=account, user=user, role=role)


def client_for(member):
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def demo_account(db):
    seed_demo()
    return Account.objects.get(console_id=1234)


@pytest.fixture
def other_account(db):
    account = Account.objects.create(console_id=5678, name="Other S.p.A.")
    account.lists.create(list_id=1, name="Other list", sender_name="Other", sender_email="news@other.example")
    return account


@pytest.fixture
def admin(demo_account):
    return client_for(demo_account.members.get(user__username="m1234"))


@pytest.fixture
def editor(demo_account):
    return client_for(make_member(demo_account, "editor1234", AccountUser.Role.EDITOR))


@pytest.fixture
def viewer(demo_account):
    return client_for(make_member(demo_account, "viewer1234", AccountUser.Role.VIEWER))


@pytest.fixture
def outsider(other_account):
    """A viewer of console 5678, who must never see console 1234."""
    return client_for(make_member(other_account, "viewer5678", AccountUser.Role.VIEWER))
