"""Post-operations: list actions that run after a recipient event, in a background task.

lists.services calls `dispatch_event` for every event it records, inside
the transaction that made the change. Each matching post-operation gets a
PostOperationRun row there, and a task runs it once the transaction
commits. The run's actions and its final status are written in one
transaction, so a run killed midway is retried whole and never applied twice.

The events that a run causes carry the run's chain (the ids of the
post-operations that led to them) in `details["post_operation_chain"]`. A
post-operation already in the chain of an event is not run again for it,
so a loop such as A -> B -> A stops, with a run in status `loop` that shows
the chain.
"""

import contextvars
import logging
from contextlib import contextmanager
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.models import PostOperation, PostOperationRun
from integrations.rules import matching_rules
from lists import services as lists_services
from lists.errors import NotSubscribed, RecipientNotFound, SubscriptionBlocked
from lists.models import Channel, SubscriptionEvent

logger = logging.getLogger(__name__)

Status = PostOperationRun.Status
Kind = SubscriptionEvent.Kind

CHAIN_DETAIL = "post_operation_chain"
# A run claimed this long ago by a worker that never finished it is taken to
# be lost with that worker, and the sweep enqueues it again.
CLAIM_TIMEOUT = timedelta(minutes=5)
# A run that fails this many times with an unexpected error is marked failed.
MAX_ATTEMPTS = 5
SWEEP_BATCH = 1000

# The chain of the run whose actions are executing in this thread or task.
_current_chain = contextvars.ContextVar("post_operation_chain", default=())


def chain_details():
    """Return the details that mark an event as caused by the running post-operation, or {} outside a run."""
    chain = _current_chain.get()
    return {CHAIN_DETAIL: list(chain)} if chain else {}


@contextmanager
def _running_chain(chain):
    token = _current_chain.set(tuple(chain))
    try:
        yield
    finally:
        _current_chain.reset(token)


# --- Dispatch ----------------------------------------------------------------


def dispatch_event(event):
    """Create a run of each active post-operation that the event fires, and enqueue the runs after commit.

    Call it inside the transaction that records the event. A post-operation
    already in the event's chain gets a run in status `loop` and is not
    enqueued. Returns the runs.
    """
    matching = matching_rules(PostOperation, event)
    if not matching:
        return []

    chain = list(event.details.get(CHAIN_DETAIL, []))
    runs = []
    for post_operation in matching:
        looping = post_operation.pk in chain
        runs.append(
            PostOperationRun.objects.create(
                post_operation=post_operation,
                event=event,
                chain=chain,
                status=Status.LOOP if looping else Status.PENDING,
                finished_at=timezone.now() if looping else None,
            )
        )
        if looping:
            logger.warning(
                "post-operation loop stopped post_operation=%s event=%s chain=%s", post_operation.pk, event.pk, chain
            )

    pending = [run.pk for run in runs if run.status == Status.PENDING]
    if pending:
        transaction.on_commit(lambda: _enqueue_all(pending), robust=True)
    return runs


def _enqueue_all(run_ids):
    from integrations.tasks import run_post_operation

    for run_id in run_ids:
        run_post_operation.delay(run_id)


# --- Running -----------------------------------------------------------------


def claim_run(run_id):
    """Mark a pending run as claimed by this worker, count the attempt and return the run.

    Returns None when the run is final or claimed by a worker that is still
    within CLAIM_TIMEOUT.
    """
    now = timezone.now()
    unclaimed = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    claimed = PostOperationRun.objects.filter(unclaimed, pk=run_id, status=Status.PENDING).update(
        claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return PostOperationRun.objects.select_related("post_operation", "event__recipient", "event__list").get(pk=run_id)


def execute_run(run):
    """Apply the actions of a claimed run and mark it done, in one transaction.

    An unexpected error rolls the actions back, and the run stays pending
    for the sweep to retry until MAX_ATTEMPTS, then it is marked failed.
    """
    try:
        with transaction.atomic(), _running_chain([*run.chain, run.post_operation_id]):
            outcomes = apply_actions(run.post_operation, run.event)
            done = PostOperationRun.objects.filter(pk=run.pk, status=Status.PENDING).update(
                status=Status.DONE, outcomes=outcomes, claimed_at=None, finished_at=timezone.now()
            )
            if not done:
                # Another worker finished the run after this one's claim timed out.
                transaction.set_rollback(True)
    except Exception as error:
        logger.exception("post-operation run failed run=%s attempts=%s", run.pk, run.attempts)
        _record_failure(run, error)
        return

    logger.info("post-operation run done run=%s post_operation=%s outcomes=%s", run.pk, run.post_operation_id, outcomes)


def _record_failure(run, error):
    final = run.attempts >= MAX_ATTEMPTS
    PostOperationRun.objects.filter(pk=run.pk, status=Status.PENDING).update(
        status=Status.FAILED if final else Status.PENDING,
        error=f"{type(error).__name__}: {error}"[:2000],
        # A released claim lets the next sweep retry the run at once.
        claimed_at=None,
        finished_at=timezone.now() if final else None,
    )


def apply_actions(post_operation, event):
    """Subscribe and unsubscribe the event's recipient as the post-operation defines; return one outcome per list.

    The actions use the event's source and act on the event's channel. An
    unsubscribe records the event's reason when the trigger was an
    unsubscribe, else the administrator reason.
    """
    recipient = event.recipient if event else None
    if recipient is None:
        return [{"action": "none", "list": None, "outcome": "recipient deleted"}]

    contact = _contact_of(recipient, event.channel)
    reason = event.reason if event.kind == Kind.UNSUBSCRIBE and event.reason else lists_services.REASON_ADMINISTRATOR
    outcomes = []
    for target in post_operation.subscribe_to.all().order_by("list_id"):
        outcomes.append({"action": "subscribe", "list": target.list_id, "outcome": _subscribe(event, target, contact)})
    for target in post_operation.unsubscribe_from.all().order_by("list_id"):
        outcome = _unsubscribe(event, target, contact, reason)
        outcomes.append({"action": "unsubscribe", "list": target.list_id, "outcome": outcome})
    return outcomes


def _contact_of(recipient, channel):
    """Return the contact for one channel of the recipient, or for every channel it has when `channel` is empty."""
    email = recipient.email if channel in ("", Channel.EMAIL) else None
    mobile = recipient.mobile_number if channel in ("", Channel.SMS) else None
    return lists_services.Contact(
        email=email, mobile_prefix=recipient.mobile_prefix if mobile else "", mobile_number=mobile
    )


def _subscribe(event, target, contact):
    request = lists_services.SubscribeRequest(
        account=target.account, lists=[target], contact=contact, source=event.source, confirm=False
    )
    try:
        outcome = lists_services.subscribe(request)
    except SubscriptionBlocked:
        return "blocked"
    return "unchanged" if outcome == lists_services.SubscribeOutcome.ALREADY_SUBSCRIBED else "subscribed"


def _unsubscribe(event, target, contact, reason):
    try:
        lists_services.unsubscribe(target.account, target, contact, event.source, reason, event.message_id)
    except (NotSubscribed, RecipientNotFound):
        return "unchanged"
    return "unsubscribed"


def sweep_post_operation_runs():
    """Enqueue pending runs that no live worker holds: lost by the broker, left by a dead worker, or failed once.

    Returns how many were enqueued. Enqueuing twice is harmless because a
    task runs only a run it manages to claim.
    """
    now = timezone.now()
    unclaimed = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    # Runs created in the last minute are still on their way from on_commit.
    due = PostOperationRun.objects.filter(unclaimed, status=Status.PENDING, created_at__lt=now - timedelta(minutes=1))
    ids = list(due.values_list("pk", flat=True)[:SWEEP_BATCH])
    _enqueue_all(ids)
    if ids:
        logger.info("sweep enqueued post-operation runs=%s", len(ids))
    return len(ids)
