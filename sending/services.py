"""Queueing and delivery of system mail.

A SystemMail row is written inside the caller's transaction and the
delivery task is enqueued only after that transaction commits, so a mail
exists exactly when the change that caused it exists.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sending.models import SystemMail

logger = logging.getLogger(__name__)

Kind = SystemMail.Kind
Status = SystemMail.Status

# Temporary failures are retried after 1, 2, 4, ... 64 minutes: eight
# attempts spread over about two hours, then the mail is marked failed.
MAX_ATTEMPTS = 8
# A mail claimed this long ago by a worker that never reported back is
# assumed lost with that worker and is queued again.
CLAIM_TIMEOUT = timedelta(minutes=10)
# A queued mail whose task has not started after this long was probably
# lost by the broker, so the sweep enqueues it again.
QUEUE_GRACE = timedelta(minutes=1)


def queue_confirmation_request(recipient, mailing_list, token, from_email="", from_name=""):
    return _queue(Kind.CONFIRMATION_REQUEST, recipient, mailing_list, {"token": token}, from_email, from_name)


def queue_welcome(recipient, mailing_list):
    return _queue(Kind.WELCOME, recipient, mailing_list, {})


def queue_unsubscribe_confirmation(recipient, mailing_list):
    return _queue(Kind.UNSUBSCRIBE_CONFIRMATION, recipient, mailing_list, {})


def _queue(kind, recipient, mailing_list, context, from_email="", from_name=""):
    mail = SystemMail.objects.create(
        account_id=mailing_list.account_id,
        list=mailing_list,
        recipient=recipient,
        kind=kind,
        to_email=recipient.email,
        from_email=from_email,
        from_name=from_name,
        language=mailing_list.language,
        context=context,
    )
    transaction.on_commit(lambda: _enqueue(mail.pk), robust=True)
    return mail


def _enqueue(mail_id, countdown=None):
    from sending.tasks import deliver_system_mail

    deliver_system_mail.apply_async((mail_id,), countdown=countdown)


def claim_system_mail(mail_id):
    """Mark a queued or deferred mail as being sent and return it.

    Returns None when another worker claimed it first or it is already final.
    """
    claimed = SystemMail.objects.filter(pk=mail_id, status__in=[Status.QUEUED, Status.DEFERRED]).update(
        status=Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return SystemMail.objects.select_related("account", "list", "recipient").get(pk=mail_id)


def record_sent(mail, message_id, source_ip):
    SystemMail.objects.filter(pk=mail.pk, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), message_id=message_id, source_ip=source_ip, last_error=""
    )
    logger.info("system mail sent mail=%s kind=%s list=%s message_id=%s", mail.pk, mail.kind, mail.list_id, message_id)


def record_failure(mail, error, permanent):
    """Defer the mail for another attempt, or mark it failed when the failure is permanent or attempts ran out."""
    if permanent or mail.attempts >= MAX_ATTEMPTS:
        SystemMail.objects.filter(pk=mail.pk).update(status=Status.FAILED, last_error=error[:2000])
        logger.warning("system mail failed mail=%s attempts=%s error=%s", mail.pk, mail.attempts, error)
        return

    delay = timedelta(minutes=2 ** (mail.attempts - 1))
    SystemMail.objects.filter(pk=mail.pk).update(
        status=Status.DEFERRED, next_attempt_at=timezone.now() + delay, last_error=error[:2000]
    )
    logger.info("system mail deferred mail=%s attempts=%s retry_in=%s error=%s", mail.pk, mail.attempts, delay, error)


def requeue_stalled_mail():
    """Enqueue every mail that is due but has no task: lost by the broker, due for retry, or left by a dead worker.

    Returns how many were enqueued. Enqueuing twice is harmless because a
    task sends only the mails it manages to claim.
    """
    now = timezone.now()
    SystemMail.objects.filter(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT).update(
        status=Status.DEFERRED, next_attempt_at=now
    )
    due = SystemMail.objects.filter(
        Q(status=Status.QUEUED, created_at__lt=now - QUEUE_GRACE)
        | Q(status=Status.DEFERRED, next_attempt_at__lte=now)
    ).values_list("pk", flat=True)[:1000]

    ids = list(due)
    for mail_id in ids:
        _enqueue(mail_id)
    if ids:
        logger.info("requeued %s stalled system mails", len(ids))
    return len(ids)
