"""DKIM keys of the platform itself: they sign the trial activation mail from PLATFORM_MAIL_FROM."""

import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from lists.models import Account
from sending import dkim_signing, dns_zone
from sending.models import DkimKey
from tests.concurrency import WAIT_SECONDS, InThread, postgresql_only, wait_for_blocked_session
from tests.personas import subscribe_pending
from tests.rest.test_public_service import request_trial


def test_platform_keys_created_once(db):
    first = dkim_signing.platform_keys()
    second = dkim_signing.platform_keys()

    assert [key.algorithm for key in first] == ["rsa-sha256", "ed25519-sha256"]
    assert [key.selector for key in first] == ["muplatformr", "muplatforme"]
    assert [key.account_id for key in first] == [None, None]
    assert [key.pk for key in first] == [key.pk for key in second]
    assert DkimKey.objects.count() == 2


def test_platform_and_account_keys_apart(demo):
    account = Account.objects.get(console_id=1234)

    platform = dkim_signing.platform_keys()
    own = dkim_signing.account_keys(account)

    assert [key.selector for key in own] == ["mu1234r", "mu1234e"]
    assert {key.pk for key in own}.isdisjoint(key.pk for key in platform)
    assert DkimKey.objects.count() == 4


def test_platform_domain_from_setting(settings):
    settings.PLATFORM_MAIL_FROM = "MailUp <NoReply@Platform.Example>"

    assert dkim_signing.platform_domain() == "platform.example"


@pytest.mark.parametrize("value", ["MailUp", "MailUp <noreply>", ""])
def test_platform_domain_missing_raises(settings, value):
    settings.PLATFORM_MAIL_FROM = value

    with pytest.raises(ImproperlyConfigured, match="PLATFORM_MAIL_FROM"):
        dkim_signing.platform_domain()


def test_zone_publishes_platform_keys(demo):
    rsa_key, ed_key = dkim_signing.platform_keys()

    assert dns_zone.resolve_txt(f"muplatformr._domainkey.{dkim_signing.platform_domain()}") == dkim_signing.dns_record(rsa_key).encode()
    assert dns_zone.resolve_txt(f"muplatforme._domainkey.{dkim_signing.platform_domain()}.") == dkim_signing.dns_record(ed_key).encode()
    # The platform's keys are not published under the domains of accounts.
    assert dns_zone.resolve_txt("muplatformr._domainkey.demo.example") is None


def test_account_records_leave_out_platform_keys(demo):
    account = Account.objects.get(console_id=1234)
    dkim_signing.platform_keys()
    dkim_signing.account_keys(account)

    names = [record["name"] for record in dns_zone.records_to_publish(account) if "_domainkey" in record["name"]]

    assert names == ["mu1234e._domainkey.demo.example", "mu1234r._domainkey.demo.example"]


def test_trial_activation_mail_passes_in_sink(demo, sink, http):
    request_trial(http)

    [mail] = sink.wait_for(1)
    summary = http.get("/sink/api/messages").json()["messages"][0]
    assert mail.dkim_result == "pass"
    assert summary["dkim"]["result"] == "pass"
    assert summary["dkim"]["domain"] == "mailup-sim.localhost"
    assert [item["algorithm"] for item in summary["dkim"]["signatures"]] == ["rsa-sha256", "ed25519-sha256"]
    assert [item["result"] for item in summary["dkim"]["signatures"]] == ["pass", "pass"]
    assert b"s=muplatformr;" in bytes(mail.raw)
    assert b"s=muplatforme;" in bytes(mail.raw)


def test_account_mail_still_signed_by_account(demo, sink, http):
    dkim_signing.platform_keys()
    subscribe_pending("carla@example.com")

    [mail] = sink.wait_for(1)
    assert mail.dkim_result == "pass"
    assert b"d=demo.example;" in bytes(mail.raw)
    assert b"s=mu1234r;" in bytes(mail.raw)
    assert b"muplatform" not in bytes(mail.raw)


# --- Two workers creating the keys at once ------------------------------------


@postgresql_only
def test_racing_workers_create_keys_once(transactional_db):
    first_inserted = threading.Event()
    release_first = threading.Event()

    def first_worker():
        # Holds its new keys uncommitted until the second worker is blocked
        # on the unique index, so both have read "no keys" before inserting.
        with transaction.atomic():
            keys = dkim_signing.platform_keys()
            first_inserted.set()
            assert release_first.wait(WAIT_SECONDS)
        return keys

    first = InThread(first_worker)
    first.start()
    assert first_inserted.wait(WAIT_SECONDS)
    second = InThread(dkim_signing.platform_keys)
    second.start()
    wait_for_blocked_session()
    release_first.set()
    first.join(WAIT_SECONDS)
    second.join(WAIT_SECONDS)

    assert first.error is None
    assert second.error is None
    assert [key.pk for key in first.result] == [key.pk for key in second.result]
    assert [key.public_key for key in first.result] == [key.public_key for key in second.result]
    assert DkimKey.objects.filter(account=None).count() == 2
