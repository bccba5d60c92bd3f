"""Set-based reading and writing of one bulk-import batch, for lists.services.import_batch.

A batch is planned in Python from a few reads: the recipients, subscriptions
and group memberships it names. It is then written with one statement per
table. On PostgreSQL, rows that may meet a concurrent insert are COPied into
a temporary staging table and moved with `INSERT … SELECT … ON CONFLICT DO
NOTHING`, and rows of recipients created by the batch itself are COPied
straight into their table. Elsewhere they go in as multi-row inserts. The
rules (which status a row moves to, which rows are rejected) come from
lists.services, and nothing here decides them.
"""

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.db import IntegrityError, connection
from django.utils import timezone

from integrations import rules
from integrations.models import PostOperation
from lists import services
from lists.models import MAX_FIELD_ID, Channel, GroupMembership, Recipient, Subscription, SubscriptionEvent

logger = logging.getLogger(__name__)

Status = Subscription.Status
# Recipient.fields is keyed by the field id as a string.
FIELD_KEYS = {field_id: str(field_id) for field_id in range(1, MAX_FIELD_ID + 1)}
Kind = SubscriptionEvent.Kind
EVENT_KINDS = {Status.SUBSCRIBED: Kind.SUBSCRIBE, Status.PENDING: Kind.SUBSCRIBE_REQUEST, Status.UNSUBSCRIBED: Kind.UNSUBSCRIBE}


class ConcurrentChange(Exception):
    """Another transaction created a recipient or subscription of the batch meanwhile; retry the batch."""


def import_batch(mailing_list, rows, options):
    """Plan and write rows, splitting the batch where a contact repeats; return their ImportRowResults."""
    results = []
    for part in _split_at_repeats(rows):
        results.extend(_import_part(mailing_list, part, options))
    return results


def _split_at_repeats(rows):
    """Cut the rows where an e-mail address or mobile number repeats, so each part names a contact once.

    One statement cannot insert or update the same row twice, and later
    rows must see the effect of earlier ones.
    """
    part, emails, mobiles = [], set(), set()
    for row in rows:
        contact = row.contact
        email = contact.email
        mobile = (contact.mobile_prefix, contact.mobile_number) if contact.mobile_number else None
        if email in emails or mobile in mobiles:
            yield part
            part, emails, mobiles = [], set(), set()
        part.append(row)
        if email:
            emails.add(email)
        if mobile:
            mobiles.add(mobile)
    if part:
        yield part


def _import_part(mailing_list, rows, options):
    store = store_for_connection()
    store.prepare()
    # Post-operations need each event as a model instance. When one reacts to
    # imports, the rows of new recipients are written like the others.
    dispatch = _post_operations_react_to_imports(mailing_list.account_id)
    plan = BatchPlan(mailing_list, options, timezone.now(), dispatch, store.writes_new_recipients_whole and not dispatch)
    plan.read(store, rows)
    for row in rows:
        plan.add(row)
    plan.write(store)
    return plan.results()


# --- Planning ------------------------------------------------------------------


@dataclass
class KnownRecipient:
    id: int
    email: str | None
    mobile_prefix: str
    mobile_number: str | None
    fields: dict


@dataclass(slots=True)
class RowPlan:
    """The decisions for one row; `recipient` is an id, or a NewRecipient until it is inserted."""

    recipient: object = None
    created: bool = False
    changed: bool = False
    reject: str = ""
    new_channels: list = field(default_factory=list)
    existing_channels: list = field(default_factory=list)
    unsubscribed_channels: list = field(default_factory=list)


@dataclass(eq=False)
class NewRecipient:
    """A recipient the batch creates.

    `subscriptions` ([(channel, status)]) and `group_ids` are filled only
    when the store writes them with the recipient (insert_new_recipients).
    """

    email: str | None
    mobile_prefix: str
    mobile_number: str | None
    fields: dict
    id: int | None = None
    subscriptions: list = field(default_factory=list)
    group_ids: list = field(default_factory=list)


class BatchPlan:
    """Collects every write of a batch, row by row, then performs them table by table."""

    def __init__(self, mailing_list, options, now, dispatch=False, whole_new_recipients=False):
        """`dispatch` records the events through lists.services, for the post-operations that react to imports.

        `whole_new_recipients` keeps the subscriptions and groups of new
        recipients on their NewRecipient, and the store writes them
        together with their events (insert_new_recipients).
        """
        self.mailing_list = mailing_list
        self.options = options
        self.now = now
        self.dispatch = dispatch
        self.whole_new_recipients = whole_new_recipients
        self.rows = []
        self.new_recipients = []
        self.contact_updates = []
        self.field_updates = {}
        self.subscription_inserts = []
        self.subscription_updates = []
        self.events = []
        self.memberships_added = []
        self.memberships_removed = []
        self.confirmations = []
        self._transitions = {}
        self._group_ids = {}

    # Reads

    def read(self, store, rows):
        account_id = self.mailing_list.account_id
        emails = sorted({row.contact.email for row in rows if row.contact.email})
        numbers = sorted({row.contact.mobile_number for row in rows if row.contact.mobile_number})
        known = store.find_recipients(account_id, emails, numbers)
        self.known = {recipient.id: recipient for recipient in known}
        self.by_email = {r.email: r.id for r in known if r.email}
        self.by_mobile = {(r.mobile_prefix, r.mobile_number): r.id for r in known if r.mobile_number}

        ids = sorted(self.known)
        self.subscriptions = store.find_subscriptions(self.mailing_list.pk, ids)
        self.list_group_ids = set(self.mailing_list.groups.values_list("id", flat=True))
        wants_groups = self.options.replace_groups or self.options.group_ids or any(row.group_ids for row in rows)
        self.memberships = store.find_memberships(ids, sorted(self.list_group_ids)) if wants_groups and ids else set()

    # Decisions

    def add(self, row):
        plan = RowPlan()
        self.rows.append(plan)
        recipient = self._resolve(row, plan)
        if plan.reject:
            return

        channels = [channel for channel in row.contact.channels if channel in self.options.channels]
        if not channels:
            plan.reject = "The row has no e-mail address or mobile number for the channels this import changes."
            return
        moves = self._plan_moves(row, recipient, channels, plan)
        if plan.reject:
            return

        if recipient is None:
            recipient = self._new_recipient(row)
            plan.created = True
        plan.recipient = recipient if isinstance(recipient, NewRecipient) else recipient.id
        self._apply_moves(plan, moves)
        self._apply_profile(row, recipient, plan)

    def _resolve(self, row, plan):
        """Return the KnownRecipient of the row, or None for a new one; set plan.reject on a conflict."""
        contact = row.contact
        email_owner = self.by_email.get(contact.email) if contact.email else None
        mobile_owner = self.by_mobile.get((contact.mobile_prefix, contact.mobile_number)) if contact.mobile_number else None
        if email_owner and mobile_owner and email_owner != mobile_owner:
            plan.recipient = email_owner
            plan.reject = (
                f"The e-mail address belongs to recipient {email_owner} and the mobile number to recipient {mobile_owner}."
            )
            return None

        owner = email_owner or mobile_owner
        if owner is None:
            return None
        recipient = self.known[owner]
        plan.recipient = recipient.id
        email_differs = contact.email and recipient.email and recipient.email != contact.email
        mobile = (contact.mobile_prefix, contact.mobile_number)
        mobile_differs = contact.mobile_number and recipient.mobile_number and (
            recipient.mobile_prefix,
            recipient.mobile_number,
        ) != mobile
        if email_differs or mobile_differs:
            plan.reject = (
                "The e-mail address and the mobile number belong to different recipients "
                f"(recipient {recipient.id} has only one of them)."
            )
        return recipient

    def _plan_moves(self, row, recipient, channels, plan):
        """Return [(channel, current subscription or None, Transition)], or set plan.reject."""
        transitions = self._transitions_for(row.status)
        moves = []
        for channel in channels:
            current = self.subscriptions.get((recipient.id, channel)) if recipient else None
            state = current.status if current else services.NEW
            transition = transitions[state]
            if current and _reopens_blocked(current, transition):
                plan.reject = (
                    f"Recipient {recipient.id} was unsubscribed from list {self.mailing_list.pk} "
                    f"with reason {current.optout_reason} and cannot be subscribed again by this call."
                )
                return []
            moves.append((channel, current, transition))
        return moves

    def _transitions_for(self, row_status):
        if row_status not in self._transitions:
            self._transitions[row_status] = services.import_transitions(self.options, row_status)
        return self._transitions[row_status]

    def _new_recipient(self, row):
        contact = row.contact
        fields = {FIELD_KEYS[field_id]: value for field_id, value in row.fields.items() if value != ""}
        recipient = NewRecipient(contact.email, contact.mobile_prefix if contact.mobile_number else "", contact.mobile_number, fields)
        self.new_recipients.append(recipient)
        return recipient

    def _apply_moves(self, plan, moves):
        for channel, current, transition in moves:
            (plan.existing_channels if current else plan.new_channels).append(channel)
            final = transition.target or current.status
            if final == Status.UNSUBSCRIBED:
                plan.unsubscribed_channels.append(channel)

            if transition.target is not None and (current is None or current.status != transition.target):
                plan.changed = True
                self._move(plan, channel, current, transition.target)
            if transition.request and channel == Channel.EMAIL and final == Status.PENDING:
                self.confirmations.append(plan)

    def _move(self, plan, channel, current, target):
        if plan.created and self.whole_new_recipients:
            plan.recipient.subscriptions.append((channel, target))
            return
        if current is None:
            self.subscription_inserts.append((plan.recipient, channel, target))
        else:
            self.subscription_updates.append((current.id, target))
        reason = services.REASON_IMPORTED_UNSUBSCRIBED if target == Status.UNSUBSCRIBED else ""
        self._event(plan.recipient, EVENT_KINDS[target], channel, reason)

    def _groups_for(self, row_group_ids):
        """Return the import's groups and the row's, without repeats; rows repeat a few group cells."""
        group_ids = self._group_ids.get(row_group_ids)
        if group_ids is None:
            group_ids = self._group_ids[row_group_ids] = list(dict.fromkeys([*self.options.group_ids, *row_group_ids]))
        return group_ids

    def _apply_profile(self, row, recipient, plan):
        group_ids = self._groups_for(row.group_ids)
        if plan.created:
            if self.whole_new_recipients:
                # Shared between rows, and only read from here on.
                plan.recipient.group_ids = group_ids
            else:
                self.memberships_added.extend((group_id, plan.recipient) for group_id in group_ids)
            return

        changed_fields = self._merge_fields(recipient, row)
        if row.contact.email and not recipient.email or row.contact.mobile_number and not recipient.mobile_number:
            self._attach_contact(recipient, row.contact)
            plan.changed = True

        current = {group_id for group_id in self.list_group_ids if (recipient.id, group_id) in self.memberships}
        added = [group_id for group_id in group_ids if group_id not in current]
        removed = sorted(current - set(group_ids)) if self.options.replace_groups else []
        self.memberships_added.extend((group_id, recipient.id) for group_id in added)
        self.memberships_removed.extend((group_id, recipient.id) for group_id in removed)

        if changed_fields or added or removed:
            plan.changed = True
            details = {"fields": changed_fields, "groups_added": added, **services.BULK_IMPORT_EVENT_DETAILS}
            if removed:
                details["groups_removed"] = removed
            self._event(recipient.id, Kind.PROFILE_CHANGE, "", "", details)

    def _merge_fields(self, recipient, row):
        """Merge the row's fields into the recipient's; return the ids whose value changed."""
        changed = []
        merged = recipient.fields
        for field_id, value in row.fields.items():
            key = str(field_id)
            if merged.get(key, "") != value:
                merged = merged if changed else dict(merged)
                merged[key] = value
                changed.append(field_id)
        if changed:
            recipient.fields = merged
            self.field_updates[recipient.id] = merged
        return changed

    def _attach_contact(self, recipient, contact):
        """Give a recipient found by one identifier the other one, which no recipient has yet."""
        if contact.email and not recipient.email:
            recipient.email = contact.email
        if contact.mobile_number and not recipient.mobile_number:
            recipient.mobile_prefix, recipient.mobile_number = contact.mobile_prefix, contact.mobile_number
        self.contact_updates.append(recipient)

    def _event(self, recipient, kind, channel, reason, details=None):
        self.events.append((recipient, kind, channel, reason, details or services.BULK_IMPORT_EVENT_DETAILS))

    # Writes

    def write(self, store):
        if self.new_recipients and self.whole_new_recipients:
            store.insert_new_recipients(self.mailing_list, self.new_recipients, self.now)
        elif self.new_recipients:
            ids = store.insert_recipients(self.mailing_list.account_id, self.new_recipients, self.now)
            for recipient, recipient_id in zip(self.new_recipients, ids):
                recipient.id = recipient_id
        store.update_contacts(self.contact_updates, self.now)
        store.update_fields(self.field_updates, self.now)
        # Rows of recipients this transaction created cannot meet a row of
        # another transaction, so they skip the conflict check.
        new_subscriptions, subscriptions = self._split_new(self.subscription_inserts)
        store.insert_subscriptions(self.mailing_list.pk, new_subscriptions, self.now, conflicts_possible=False)
        store.insert_subscriptions(self.mailing_list.pk, subscriptions, self.now)
        store.update_subscriptions(self.subscription_updates, self.now)
        new_memberships, memberships = self._split_new(self.memberships_added, position=1)
        store.insert_memberships(new_memberships, self.now, conflicts_possible=False)
        store.insert_memberships(memberships, self.now)
        store.delete_memberships(self.memberships_removed)
        store.insert_events(self.mailing_list, self._resolved(self.events), self.now, self.dispatch)
        self._queue_confirmations()

    def _split_new(self, items, position=0):
        """Split tuples into those of new recipients and the others, with the new recipients' ids filled in."""
        new = [item for item in items if isinstance(item[position], NewRecipient)]
        others = [item for item in items if not isinstance(item[position], NewRecipient)]
        return self._resolved(new, position), others

    def _resolved(self, items, position=0):
        """Replace NewRecipient placeholders at `position` of each tuple with the inserted id."""
        resolved = []
        for item in items:
            value = item[position]
            if isinstance(value, NewRecipient):
                item = (*item[:position], value.id, *item[position + 1 :])
            resolved.append(item)
        return resolved

    def _queue_confirmations(self):
        if not self.confirmations:
            return
        recipient_ids = {_recipient_id(plan.recipient) for plan in self.confirmations}
        pending = Subscription.objects.filter(
            list=self.mailing_list, recipient_id__in=recipient_ids, channel=Channel.EMAIL, status=Status.PENDING
        ).select_related("list")
        by_recipient = defaultdict(list)
        for subscription in pending:
            by_recipient[subscription.recipient_id].append(subscription)
        services.queue_import_confirmations(self.mailing_list, by_recipient, self.options.confirmation_sending_id)

    def results(self):
        return [_result(plan) for plan in self.rows]


def _recipient_id(recipient):
    return recipient.id if isinstance(recipient, NewRecipient) else recipient


def _result(plan):
    recipient_id = _recipient_id(plan.recipient) if plan.recipient is not None else None
    if plan.reject:
        return services.ImportRowResult("rejected", plan.reject, recipient_id)
    outcome = "unchanged"
    if plan.created:
        outcome = "created"
    elif plan.changed:
        outcome = "updated"
    return services.ImportRowResult(
        outcome,
        recipient_id=recipient_id,
        new_channels=tuple(plan.new_channels),
        existing_channels=tuple(plan.existing_channels),
        unsubscribed_channels=tuple(plan.unsubscribed_channels),
    )


def _reopens_blocked(subscription, transition):
    return transition.target in (Status.SUBSCRIBED, Status.PENDING) and services.is_blocked(subscription)


# --- Storage -----------------------------------------------------------------


@dataclass
class CurrentSubscription:
    id: int
    status: str
    optout_reason: str


def store_for_connection():
    return PostgresStore() if connection.vendor == "postgresql" else SqlStore()


class SqlStore:
    """Batch reads and multi-row writes in SQL that SQLite and PostgreSQL both run."""

    recipients = Recipient._meta.db_table
    subscriptions = Subscription._meta.db_table
    memberships = GroupMembership._meta.db_table
    events = SubscriptionEvent._meta.db_table
    lock = ""
    # Whether insert_new_recipients writes new recipients with their subscriptions, groups and events.
    writes_new_recipients_whole = False

    def prepare(self):
        """Set up the transaction before the batch's first statement."""

    def in_list(self, column, values):
        """Return an SQL condition `column IN values` with one parameter, and that parameter."""
        return f"{column} IN (SELECT value FROM json_each(%s))", json.dumps(values)

    def fetch(self, sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    # Reads

    def find_recipients(self, account_id, emails, numbers, lock=True):
        found = {}
        for column, values in (("email", emails), ("mobile_number", numbers)):
            if not values:
                continue
            sql, params = self.select_recipients(account_id, column, values, lock)
            for row in self.fetch(sql, params):
                found[row[0]] = KnownRecipient(row[0], row[1], row[2], row[3], _json(row[4]))
        return list(found.values())

    def select_recipients(self, account_id, column, values, lock):
        """Return the SQL and parameters that read the account's recipients whose `column` is one of `values`."""
        condition, param = self.in_list(column, values)
        sql = (
            f"SELECT {RECIPIENT_READ_COLUMNS} FROM {self.recipients} "
            f"WHERE account_id = %s AND {condition} {self.lock if lock else ''}"
        )
        return sql, [account_id, param]

    def find_subscriptions(self, list_pk, recipient_ids):
        if not recipient_ids:
            return {}
        condition, param = self.in_list("recipient_id", recipient_ids)
        sql = (
            f"SELECT id, recipient_id, channel, status, optout_reason FROM {self.subscriptions} "
            f"WHERE list_id = %s AND {condition} {self.lock}"
        )
        return {(row[1], row[2]): CurrentSubscription(row[0], row[3], row[4]) for row in self.fetch(sql, [list_pk, param])}

    def find_memberships(self, recipient_ids, group_ids):
        if not group_ids:
            return set()
        condition, param = self.in_list("recipient_id", recipient_ids)
        groups, groups_param = self.in_list("group_id", group_ids)
        sql = f"SELECT recipient_id, group_id FROM {self.memberships} WHERE {condition} AND {groups}"
        return {(row[0], row[1]) for row in self.fetch(sql, [param, groups_param])}

    # Writes

    def insert_recipients(self, account_id, recipients, now):
        """Insert new recipients; return their ids in order."""
        sql = (
            f"INSERT INTO {self.recipients} (account_id, email, mobile_prefix, mobile_number, fields, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
        )
        ids = []
        with connection.cursor() as cursor:
            for recipient in recipients:
                try:
                    cursor.execute(sql, [account_id, *_recipient_values(recipient), now, now])
                except IntegrityError as error:
                    # A new recipient can only break the unique address or number of one created meanwhile.
                    raise ConcurrentChange(f"A recipient of account {account_id} appeared meanwhile: {error}") from error
                ids.append(cursor.fetchone()[0])
        return ids

    def update_contacts(self, recipients, now):
        sql = f"UPDATE {self.recipients} SET email = %s, mobile_prefix = %s, mobile_number = %s, updated_at = %s WHERE id = %s"
        self.execute_many(sql, [(r.email, r.mobile_prefix, r.mobile_number, now, r.id) for r in recipients])

    def update_fields(self, fields_by_id, now):
        sql = f"UPDATE {self.recipients} SET fields = %s, updated_at = %s WHERE id = %s"
        self.execute_many(sql, [(json.dumps(fields), now, pk) for pk, fields in fields_by_id.items()])

    def insert_subscriptions(self, list_pk, inserts, now, conflicts_possible=True):
        rows = [_subscription_values(recipient_id, list_pk, channel, status, now) for recipient_id, channel, status in inserts]
        if not conflicts_possible:
            self.insert_rows(self.subscriptions, SUBSCRIPTION_COLUMNS, rows)
            return
        inserted = self.insert_ignoring_conflicts(self.subscriptions, SUBSCRIPTION_COLUMNS, rows)
        if inserted != len(rows):
            raise ConcurrentChange(f"{len(rows) - inserted} subscriptions of list {list_pk} appeared meanwhile.")

    def update_subscriptions(self, updates, now):
        reason = services.REASON_IMPORTED_UNSUBSCRIBED
        # A move to pending or subscribed clears the opt-out date, reason and
        # message of an earlier unsubscription, as services._write_subscription does.
        to_active = (
            f"UPDATE {self.subscriptions} SET status = %s, source = %s, requested_at = %s, request_ip = NULL, "
            "optin_at = CASE WHEN %s THEN %s ELSE optin_at END, "
            "optout_at = NULL, optout_reason = '', optout_message_id = NULL, updated_at = %s WHERE id = %s"
        )
        to_unsubscribed = (
            f"UPDATE {self.subscriptions} SET status = %s, optout_at = %s, optout_reason = %s, "
            "optout_message_id = NULL, updated_at = %s WHERE id = %s"
        )
        active, unsubscribed = [], []
        for pk, status in updates:
            if status == Status.UNSUBSCRIBED:
                unsubscribed.append((status, now, reason, now, pk))
            else:
                opt_in = status == Status.SUBSCRIBED
                active.append((status, services.Source.IMPORT, now, opt_in, now, now, pk))
        self.execute_many(to_active, active)
        self.execute_many(to_unsubscribed, unsubscribed)

    def insert_memberships(self, memberships, now, conflicts_possible=True):
        rows = [(group_id, recipient_id, now) for group_id, recipient_id in memberships]
        if conflicts_possible:
            self.insert_ignoring_conflicts(self.memberships, MEMBERSHIP_COLUMNS, rows)
        else:
            self.insert_rows(self.memberships, MEMBERSHIP_COLUMNS, rows)

    def delete_memberships(self, memberships):
        self.execute_many(f"DELETE FROM {self.memberships} WHERE group_id = %s AND recipient_id = %s", memberships)

    def insert_events(self, mailing_list, events, now, dispatch=False):
        """Insert the events; with `dispatch` (a post-operation reacts to imports), create them one by one and dispatch them."""
        if events and dispatch:
            _dispatch_events(mailing_list, events)
            return

        account_id, list_pk = mailing_list.account_id, mailing_list.pk
        rows = [
            (account_id, list_pk, recipient_id, kind, channel, services.Source.IMPORT, reason, _details_json(details), now)
            for recipient_id, kind, channel, reason, details in events
        ]
        self.insert_rows(self.events, EVENT_COLUMNS, rows)

    # Statements

    def execute_many(self, sql, rows):
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(sql, rows)

    def insert_rows(self, table, columns, rows):
        placeholders = ", ".join(["%s"] * len(columns))
        self.execute_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)

    def insert_ignoring_conflicts(self, table, columns, rows):
        """Insert rows, skipping those that break a unique constraint; return how many went in."""
        if not rows:
            return 0
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"
        inserted = 0
        with connection.cursor() as cursor:
            for row in rows:
                cursor.execute(sql, row)
                inserted += cursor.rowcount
        return inserted


SUBSCRIPTION_COLUMNS = (
    "recipient_id",
    "list_id",
    "channel",
    "status",
    "source",
    "requested_at",
    "optin_at",
    "optout_at",
    "optout_reason",
    "updated_at",
)
MEMBERSHIP_COLUMNS = ("group_id", "recipient_id", "created_at")
EVENT_COLUMNS = ("account_id", "list_id", "recipient_id", "kind", "channel", "source", "reason", "details", "created_at")
RECIPIENT_READ_COLUMNS = "id, email, mobile_prefix, mobile_number, fields"
RECIPIENT_COLUMNS = ("id", "account_id", "email", "mobile_prefix", "mobile_number", "fields", "created_at", "updated_at")


def _subscription_values(recipient_id, list_pk, channel, status, now):
    unsubscribed = status == Status.UNSUBSCRIBED
    return (
        recipient_id,
        list_pk,
        channel,
        status,
        services.Source.IMPORT,
        None if unsubscribed else now,
        now if status == Status.SUBSCRIBED else None,
        now if unsubscribed else None,
        services.REASON_IMPORTED_UNSUBSCRIBED if unsubscribed else "",
        now,
    )


def _details_json(details):
    # Nearly every event carries the shared constant, so its JSON is written once.
    if details is services.BULK_IMPORT_EVENT_DETAILS:
        return BULK_IMPORT_DETAILS_JSON
    return json.dumps(details)


BULK_IMPORT_DETAILS_JSON = json.dumps(services.BULK_IMPORT_EVENT_DETAILS)


def _post_operations_react_to_imports(account_id):
    operations = PostOperation.objects.filter(account_id=account_id, active=True).only("sources")
    return any(services.Source.IMPORT in operation.sources for operation in operations)


def _dispatch_events(mailing_list, events):
    """Record the events through lists.services, which hands each to the webhooks and post-operations that match it.

    Webhooks skip bulk-import events, and post-operations whose sources
    include Import run after the batch commits.
    """
    recipients = Recipient.objects.in_bulk({recipient_id for recipient_id, *_rest in events})
    with rules.cached_rules():
        for recipient_id, kind, channel, reason, details in events:
            services.record_event(recipients[recipient_id], mailing_list, kind, services.Source.IMPORT, channel, reason, details)


def _recipient_values(recipient):
    return recipient.email, recipient.mobile_prefix, recipient.mobile_number, json.dumps(recipient.fields)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


class PostgresStore(SqlStore):
    """The same reads with row locks, and writes that COPY into temporary staging tables first."""

    lock = "FOR UPDATE"
    writes_new_recipients_whole = True

    def prepare(self):
        # The batch and the import's checkpoint commit together, so a commit
        # lost in a server crash is redone by the resumed import. Waiting for
        # the WAL flush at every batch would therefore buy nothing.
        # JIT compilation took longer than the statements it was meant to
        # speed up. The planner overestimates them, because the staging
        # tables have no statistics and the reads probe an index per address.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute("SET LOCAL jit TO OFF")

    def in_list(self, column, values):
        # Addresses and numbers never contain a line break, so thousands of
        # them travel as one string rather than an array psycopg builds
        # value by value.
        joined = "\n".join(values) if values and isinstance(values[0], str) else None
        if joined is not None and joined.count("\n") == len(values) - 1:
            return f"{column} = ANY(string_to_array(%s, E'\\n'))", joined
        return f"{column} = ANY(%s)", list(values)

    def select_recipients(self, account_id, column, values, lock):
        """Read addresses with one index probe each, in a lateral subquery the planner cannot flatten (OFFSET 0).

        With `email = ANY(…)` the planner of PostgreSQL 15 read every
        recipient of the account through the index on account_id and
        filtered them, so each batch cost more as the table grew. Over
        350,000 recipients that took 9 µs of server CPU per address, and the
        probes 1.2 µs. Mobile numbers keep the generic read, because the
        unique index puts the prefix before the number, and a probe by
        number alone would scan the account.
        """
        if column != "email":
            return super().select_recipients(account_id, column, values, lock)
        source, param = _unnest_text(values)
        sql = f"""
            SELECT r.id, r.email, r.mobile_prefix, r.mobile_number, r.fields
            FROM {source} AS wanted(email)
            CROSS JOIN LATERAL (
                SELECT {RECIPIENT_READ_COLUMNS} FROM {self.recipients}
                WHERE account_id = %s AND email = wanted.email OFFSET 0 {self.lock if lock else ''}
            ) r
        """
        return sql, [param, account_id]

    def insert_new_recipients(self, mailing_list, recipients, now):
        """Write new recipients with their subscriptions, group memberships and events, and set their ids.

        One COPY fills a temporary staging table with a line per recipient,
        and SQL fans each line out into the tables. The batch read the
        account's recipients with these addresses and numbers under lock, so
        only a transaction that inserted one of them meanwhile can break the
        unique constraints, and then the batch is retried.
        """
        ids = [row[0] for row in self.fetch(RESERVE_RECIPIENT_IDS, [len(recipients)])]
        for recipient, recipient_id in zip(recipients, ids):
            recipient.id = recipient_id
        params = {
            "account": mailing_list.account_id,
            "list": mailing_list.pk,
            "now": now,
            "source": services.Source.IMPORT,
            "details": BULK_IMPORT_DETAILS_JSON,
            **STAGED_VALUES,
        }
        with connection.cursor() as cursor:
            cursor.execute(CREATE_NEW_RECIPIENTS_STAGING)
            cursor.execute(f"TRUNCATE {NEW_RECIPIENTS_STAGING}")
            with cursor.copy(f"COPY {NEW_RECIPIENTS_STAGING} FROM STDIN") as copy:
                copy.write(_staging_text(recipients))
            try:
                cursor.execute(INSERT_STAGED_RECIPIENTS, params)
            except IntegrityError as error:
                if not isinstance(error.__cause__, psycopg.errors.UniqueViolation):
                    raise
                raise ConcurrentChange(f"A recipient of account {mailing_list.account_id} appeared meanwhile: {error}") from error
            for statement in (INSERT_STAGED_SUBSCRIPTIONS, INSERT_STAGED_MEMBERSHIPS, INSERT_STAGED_EVENTS):
                cursor.execute(statement, params)

    def insert_recipients(self, account_id, recipients, now):
        """Reserve ids from the sequence, then COPY the rows straight into the table.

        The batch read the account's recipients with these addresses and
        numbers under lock. Only a transaction that inserted one of them
        meanwhile can break the unique constraints, and then the batch is
        retried.
        """
        ids = [row[0] for row in self.fetch(RESERVE_RECIPIENT_IDS, [len(recipients)])]
        rows = [(pk, account_id, *_recipient_values(r), now, now) for pk, r in zip(ids, recipients)]
        try:
            self.insert_rows(self.recipients, RECIPIENT_COLUMNS, rows)
        except (IntegrityError, psycopg.errors.UniqueViolation) as error:
            # Django does not wrap the errors of COPY.
            if not isinstance(error, psycopg.errors.UniqueViolation) and not isinstance(
                error.__cause__, psycopg.errors.UniqueViolation
            ):
                raise
            raise ConcurrentChange(f"A recipient of account {account_id} appeared meanwhile: {error}") from error
        return ids

    def insert_rows(self, table, columns, rows):
        if rows:
            with connection.cursor() as cursor:
                _copy(cursor, table, columns, rows)

    def insert_ignoring_conflicts(self, table, columns, rows):
        if not rows:
            return 0
        staging = f"import_staging_{table}"
        names = ", ".join(columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS "
                f"AS SELECT {names} FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {staging}")
            _copy(cursor, staging, columns, rows)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ON CONFLICT DO NOTHING")
            return cursor.rowcount


def _unnest_text(values):
    """Return an SQL set of the strings `values` and its parameter.

    Strings without a line break, as addresses are, travel as one string
    rather than an array that psycopg builds value by value.
    """
    joined = "\n".join(values)
    if joined.count("\n") == len(values) - 1:
        return "unnest(string_to_array(%s, E'\\n'))", joined
    return "unnest(%s::text[])", list(values)


NEW_RECIPIENTS_STAGING = "import_staging_new_recipients"
CREATE_NEW_RECIPIENTS_STAGING = f"""
    CREATE TEMPORARY TABLE IF NOT EXISTS {NEW_RECIPIENTS_STAGING} (
        id integer, email text, mobile_prefix text, mobile_number text, fields jsonb,
        email_status text, sms_status text, group_ids integer[]
    ) ON COMMIT DELETE ROWS
"""
# The values the statements below compare with or write, as parameters.
STAGED_VALUES = {
    "email": Channel.EMAIL,
    "sms": Channel.SMS,
    "subscribed": Status.SUBSCRIBED,
    "pending": Status.PENDING,
    "unsubscribed": Status.UNSUBSCRIBED,
    "subscribe": Kind.SUBSCRIBE,
    "subscribe_request": Kind.SUBSCRIBE_REQUEST,
    "unsubscribe": Kind.UNSUBSCRIBE,
    "optout_reason": services.REASON_IMPORTED_UNSUBSCRIBED,
}
INSERT_STAGED_RECIPIENTS = f"""
    INSERT INTO {Recipient._meta.db_table} (id, account_id, email, mobile_prefix, mobile_number, fields, created_at, updated_at)
    SELECT id, %(account)s, email, mobile_prefix, mobile_number, fields, %(now)s, %(now)s
    FROM {NEW_RECIPIENTS_STAGING}
"""
# One row per channel that a staged recipient subscribes to, in the order
# the generic path writes them: by recipient, e-mail before SMS.
STAGED_SUBSCRIPTIONS = f"""
    FROM {NEW_RECIPIENTS_STAGING} s
    CROSS JOIN LATERAL (VALUES (1, %(email)s, s.email_status), (2, %(sms)s, s.sms_status)) AS c(position, channel, status)
    WHERE c.status IS NOT NULL
    ORDER BY s.id, c.position
"""
INSERT_STAGED_SUBSCRIPTIONS = f"""
    INSERT INTO {Subscription._meta.db_table}
        (recipient_id, list_id, channel, status, source, requested_at, optin_at, optout_at, optout_reason, updated_at)
    SELECT s.id, %(list)s, c.channel, c.status, %(source)s,
        CASE WHEN c.status = %(unsubscribed)s THEN NULL ELSE %(now)s END,
        CASE WHEN c.status = %(subscribed)s THEN %(now)s END,
        CASE WHEN c.status = %(unsubscribed)s THEN %(now)s END,
        CASE WHEN c.status = %(unsubscribed)s THEN %(optout_reason)s ELSE '' END,
        %(now)s
    {STAGED_SUBSCRIPTIONS}
"""
INSERT_STAGED_MEMBERSHIPS = f"""
    INSERT INTO {GroupMembership._meta.db_table} (group_id, recipient_id, created_at)
    SELECT g.group_id, s.id, %(now)s
    FROM {NEW_RECIPIENTS_STAGING} s CROSS JOIN LATERAL unnest(s.group_ids) AS g(group_id)
"""
INSERT_STAGED_EVENTS = f"""
    INSERT INTO {SubscriptionEvent._meta.db_table}
        (account_id, list_id, recipient_id, kind, channel, source, reason, details, created_at)
    SELECT %(account)s, %(list)s, s.id,
        CASE c.status WHEN %(subscribed)s THEN %(subscribe)s WHEN %(pending)s THEN %(subscribe_request)s ELSE %(unsubscribe)s END,
        c.channel, %(source)s,
        CASE WHEN c.status = %(unsubscribed)s THEN %(optout_reason)s ELSE '' END,
        %(details)s, %(now)s
    {STAGED_SUBSCRIPTIONS}
"""

# The sequence is looked up once, not once per id: pg_get_serial_sequence is
# stable, not immutable, and a plain subquery would be flattened into a call
# per row (measured with perf on PostgreSQL 15).
RESERVE_RECIPIENT_IDS = f"""
    WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('{Recipient._meta.db_table}', 'id')::regclass AS sequence)
    SELECT nextval(s.sequence) FROM s, generate_series(1, %s)
"""


def _copy(cursor, table, columns, rows):
    """COPY rows into a table, formatted here as COPY text in one piece rather than row by row by psycopg."""
    text = {}
    special = COPY_SPECIAL.search
    lines = []
    for row in rows:
        # Plain strings and ints, most of the values, skip the function call.
        cells = [
            value
            if value.__class__ is str and not special(value)
            else str(value)
            if value.__class__ is int
            else _copy_value(value, text)
            for value in row
        ]
        lines.append("\t".join(cells))
    lines.append("")
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write("\n".join(lines))


def _fields_json(fields):
    """Return the JSON of a fields dict, built by hand when no value needs a JSON escape, as almost none does."""
    if not fields:
        return "{}"
    if JSON_SPECIAL.search("".join(fields.values())):
        return json.dumps(fields, ensure_ascii=False)
    return '{"' + '","'.join([f'{key}":"{value}' for key, value in fields.items()]) + '"}'


# The characters a JSON string cannot contain unescaped: quote, backslash and controls.
JSON_SPECIAL = re.compile(r'["\\\x00-\x1f]')


def _staging_text(recipients):
    """Format new recipients as the COPY text of the staging table."""
    lines = []
    for recipient in recipients:
        statuses = dict(recipient.subscriptions)
        email, prefix, number = recipient.email or "", recipient.mobile_prefix, recipient.mobile_number or ""
        fields = _fields_json(recipient.fields)
        # Only these four cells come from the input. One search over them
        # clears nearly every line, and the rest are escaped cell by cell.
        if COPY_SPECIAL.search(email + prefix + number + fields):
            email, prefix, number, fields = (_copy_value(cell, None) for cell in (email, prefix, number, fields))
        cells = (
            str(recipient.id),
            email if recipient.email is not None else "\\N",
            prefix,
            number if recipient.mobile_number is not None else "\\N",
            fields,
            statuses.get(Channel.EMAIL, "\\N"),
            statuses.get(Channel.SMS, "\\N"),
            "{" + ",".join(map(str, recipient.group_ids)) + "}",
        )
        lines.append("\t".join(cells))
    lines.append("")
    return "\n".join(lines)


# The characters COPY's text format gives a meaning to, escaped as it reads them back.
COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _copy_value(value, text):
    """Format a value as COPY text. `text` caches the text of values other than strings and ints, because those repeat."""
    kind = value.__class__
    if kind is str:
        return COPY_SPECIAL.sub(_copy_escape, value) if COPY_SPECIAL.search(value) else value
    if kind is int:
        return str(value)
    if value is None:
        return "\\N"
    key = (kind, value)
    if key not in text:
        text[key] = _copy_other(value)
    return text[key]


def _copy_escape(match):
    return COPY_ESCAPES[match.group()]


def _copy_other(value):
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
