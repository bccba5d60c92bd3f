"""A list deleted while an import writes to it, in two real transactions on PostgreSQL.

Subscription events have no foreign key constraint in the database. The
order of the row locks, and the foreign key of subscriptions, keep an import
from leaving events that point at a deleted list. SQLite runs one writing
transaction at a time, so the race cannot happen there.
"""

import threading

import pytest
from django.db import IntegrityError, transaction

from lists import bulk_import, services
from lists.models import List, Subscription, SubscriptionEvent
from tests.concurrency import WAIT_SECONDS, InThread, postgresql_only, wait_for_blocked_session
from tests.personas import demo_list

pytestmark = postgresql_only


def subscribe(email):
    row = services.ImportRow(contact=services.Contact(email=email))
    services.import_batch(demo_list(), [row])


def unsubscribe_row(email):
    return services.ImportRow(contact=services.Contact(email=email), status=Subscription.Status.UNSUBSCRIBED)


def test_list_deleted_while_import_writes(transactional_db, demo, monkeypatch):
    subscribe("anna@example.com")
    mailing_list = demo_list()
    events_written = threading.Event()
    resume = threading.Event()
    real_insert_events = bulk_import.SqlStore.insert_events

    def insert_events_then_pause(store, *arguments, **keywords):
        real_insert_events(store, *arguments, **keywords)
        events_written.set()
        assert resume.wait(WAIT_SECONDS)

    monkeypatch.setattr(bulk_import.SqlStore, "insert_events", insert_events_then_pause)
    importer = InThread(lambda: services.import_batch(mailing_list, [unsubscribe_row("anna@example.com")]))
    deleter = InThread(lambda: services.delete_list(List.objects.get(pk=mailing_list.pk)))

    importer.start()
    assert events_written.wait(WAIT_SECONDS)
    deleter.start()
    wait_for_blocked_session()
    resume.set()
    importer.join(WAIT_SECONDS)
    deleter.join(WAIT_SECONDS)

    assert importer.error is None
    assert deleter.error is None
    assert not List.objects.filter(pk=mailing_list.pk).exists()
    assert not SubscriptionEvent.objects.filter(list_id=mailing_list.pk).exists()


def test_import_waits_for_list_deletion(transactional_db, demo):
    subscribe("anna@example.com")
    mailing_list = demo_list()
    deleted = threading.Event()
    resume = threading.Event()

    def delete_then_pause():
        with transaction.atomic():
            services.delete_list(List.objects.get(pk=mailing_list.pk))
            deleted.set()
            assert resume.wait(WAIT_SECONDS)

    deleter = InThread(delete_then_pause)
    importer = InThread(lambda: services.import_batch(mailing_list, [unsubscribe_row("anna@example.com")]))

    deleter.start()
    assert deleted.wait(WAIT_SECONDS)
    importer.start()
    wait_for_blocked_session()
    resume.set()
    deleter.join(WAIT_SECONDS)
    importer.join(WAIT_SECONDS)

    assert deleter.error is None
    # The subscription's foreign key fails the import's commit, so the whole batch rolls back.
    assert isinstance(importer.error, IntegrityError)
    assert not SubscriptionEvent.objects.filter(list_id=mailing_list.pk).exists()
    assert not Subscription.objects.filter(list_id=mailing_list.pk).exists()
