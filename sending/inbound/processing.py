"""Processing of the messages that reach the platform's inbound MX.

`receive_inbound_message` stores the message and, after the commit,
enqueues `process_inbound_message`, which reads it, finds the delivery
it reports on and changes subscriptions through `lists.services`:

- a hard bounce unsubscribes the address from every list (reason 80 to 83);
- a soft bounce is counted, and the account's rule (`soft_bounce_limit`
  soft bounces within `soft_bounce_days`) turns repeated ones into an
  unsubscription from every list with reason 512;
- a complaint unsubscribes the address from the list of the sending (16);
- a mail to a List-Unsubscribe mailto address unsubscribes it from that
  list (64);
- an auto-reply or a success report is only recorded.

`apply_smtp_rejection` does the same for a hard 5xx reply at SMTP time.
"""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from lists import services as lists_services
from lists.models import Source
from sending import campaign_rendering
from sending.inbound import parsing, reasons
from sending.models import Delivery, DeliveryEvent, InboundMessage, SystemMail

logger = logging.getLogger(__name__)

Verdict = InboundMessage.Verdict

# MailUp's unsubscribe reason codes for each hard cause.
HARD_BOUNCE_REASONS = {"host_unknown": "82", "has_moved": "83"}
GENERIC_BOUNCE_REASON = "80"
COMPLAINT_REASON = "16"
REPEATED_SOFT_BOUNCE_REASON = "512"
MAILTO_UNSUBSCRIBE_REASON = "64"

DELIVERY_ADDRESS = re.compile(r"^d-(\d{1,12})@", re.IGNORECASE)
SYSTEM_MAIL_ADDRESS = re.compile(r"^sys-(\d{1,12})@", re.IGNORECASE)
MAILTO_ADDRESS = re.compile(r"^u-(\d{1,12})-([0-9a-f]{16})@", re.IGNORECASE)
DELIVERY_MESSAGE_ID = re.compile(r"<d(\d{1,12})\.s\d{1,12}@")
INBOUND_REQUEUE_AFTER = timedelta(minutes=1)
# How many waiting messages one sweep enqueues at most; the next sweep takes the rest.
INBOUND_SWEEP_BATCH = 500
# Stored subjects are cut here; the raw message keeps the whole one.
MAX_SUBJECT_CHARS = 500


def receive_inbound_message(peer, mail_from, rcpt_tos, raw):
    """Store a message that reached the inbound MX and enqueue its processing; return the InboundMessage."""
    from sending import tasks

    with transaction.atomic():
        inbound = InboundMessage.objects.create(
            peer_ip=peer[0],
            mail_from=(mail_from or "")[:512],
            rcpt_to=list(rcpt_tos),
            subject=_subject(raw),
            size=len(raw),
            raw=raw,
        )
        transaction.on_commit(lambda: tasks.process_inbound_message.delay(inbound.pk))
    logger.info("inbound stored message=%s peer=%s from=%s rcpt=%s", inbound.pk, peer[0], mail_from, rcpt_tos)
    return inbound


def _subject(raw):
    header_end = raw.find(b"\r\n\r\n")
    headers = raw[: header_end if header_end >= 0 else 65536]
    match = re.search(rb"^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)", headers, re.IGNORECASE | re.MULTILINE)
    if match is None:
        return ""
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:MAX_SUBJECT_CHARS]


def unprocessed_inbound_ids():
    """Return ids of messages stored more than INBOUND_REQUEUE_AFTER ago whose task never ran, oldest first.

    The task is enqueued after the commit, so a broker that was down at
    that moment leaves the row waiting; the beat sweep enqueues it again.
    """
    cutoff = timezone.now() - INBOUND_REQUEUE_AFTER
    waiting = InboundMessage.objects.filter(status=InboundMessage.Status.RECEIVED, received_at__lt=cutoff)
    return list(waiting.order_by("id").values_list("pk", flat=True)[:INBOUND_SWEEP_BATCH])


def process_inbound_message(inbound_id):
    """Read a stored inbound message and apply its verdict once; return the InboundMessage or None.

    The conditional UPDATE claims the row, so a duplicate task does
    nothing. A message left in `processing` by a dead worker stays there
    for an operator to look at; its verdict's changes were rolled back with
    the worker's transaction.
    """
    claimed = InboundMessage.objects.filter(pk=inbound_id, status=InboundMessage.Status.RECEIVED).update(
        status=InboundMessage.Status.PROCESSING
    )
    if not claimed:
        return None

    inbound = InboundMessage.objects.get(pk=inbound_id)
    try:
        # One transaction for the verdict's subscription changes and events,
        # so a failure leaves none of them behind.
        with transaction.atomic():
            _apply(inbound)
    except Exception as error:
        logger.exception("inbound processing failed message=%s", inbound.pk)
        InboundMessage.objects.filter(pk=inbound.pk).update(
            status=InboundMessage.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        return inbound

    inbound.status = InboundMessage.Status.PROCESSED
    inbound.processed_at = timezone.now()
    inbound.save()
    logger.info(
        "inbound processed message=%s verdict=%s delivery=%s recipient=%s",
        inbound.pk,
        inbound.verdict,
        inbound.delivery_id,
        inbound.recipient_id,
    )
    return inbound


def _apply(inbound):
    raw = bytes(inbound.raw)
    mailto_delivery = _mailto_delivery(inbound.rcpt_to)
    if mailto_delivery is not None:
        _apply_mailto_unsubscribe(inbound, mailto_delivery)
        return

    report = parsing.parse_report(raw)
    inbound.verdict = report.outcome if report.outcome in Verdict.values else Verdict.UNKNOWN
    inbound.details = {
        "recipients": [_recipient_details(recipient) for recipient in report.recipients],
        "feedback_type": report.feedback_type,
    }
    target = _find_target(inbound.rcpt_to, report.original)
    if target is None:
        inbound.details["note"] = "No delivery or system mail matches this report."
        return

    delivery, recipient, mailing_list, message_id = target
    inbound.delivery = delivery
    inbound.recipient = recipient
    inbound.account_id = recipient.account_id
    ACTIONS[inbound.verdict](inbound, report, delivery, recipient, mailing_list, message_id)


def _recipient_details(recipient):
    return {
        "address": recipient.address,
        "status": recipient.status,
        "reply_code": recipient.reply_code,
        "reason": recipient.reason,
        "hard": recipient.hard,
        "diagnostic": recipient.diagnostic[:500],
    }


def apply_smtp_rejection(delivery, smtp_code, reply):
    """Treat a 5xx reply to a delivery as the bounce it reports; return the reason code applied or None.

    A reply that names a hard cause (unknown mailbox or domain) unsubscribes
    the address from every list, as a DSN would. Other 5xx replies (policy,
    spam, full mailbox) leave subscriptions alone: the delivery has failed.
    """
    status = reasons.find_status(reply)
    cause, hard = reasons.classify(reply, status, str(smtp_code))
    if not hard:
        return None

    delivery, recipient, _, message_id = _delivery_target(_delivery(delivery.pk))
    reason = HARD_BOUNCE_REASONS.get(cause, GENERIC_BOUNCE_REASON)
    lists_services.unsubscribe_for_report(
        recipient, None, Source.BOUNCE, reason, message_id, details={"delivery": delivery.pk, "smtp_reply": reply[:500]}
    )
    return reason


# --- Finding what the report is about ---------------------------------------------


def _find_target(rcpt_tos, original):
    """Return (delivery or None, recipient, list, message id) from the VERP address or the original's headers."""
    for address in rcpt_tos:
        match = DELIVERY_ADDRESS.match(address)
        if match:
            delivery = _delivery(match.group(1))
            if delivery is not None:
                return _delivery_target(delivery)
        match = SYSTEM_MAIL_ADDRESS.match(address)
        if match:
            mail = SystemMail.objects.select_related("recipient", "list").filter(pk=int(match.group(1))).first()
            # Mail of the platform itself (a trial activation link) has no recipient to mark.
            if mail is not None and mail.recipient is not None:
                return None, mail.recipient, mail.list, None

    delivery = _delivery_from_headers(original)
    return _delivery_target(delivery) if delivery is not None else None


def _delivery_from_headers(original):
    """Find the delivery named by the returned original's X-MailupSim-Delivery or Message-ID header."""
    header = (original.get("x-mailupsim-delivery") or "").strip()
    if header.isascii() and header.isdigit() and len(header) <= 12:
        return _delivery(header)
    message_id = (original.get("message-id") or "").strip()
    match = DELIVERY_MESSAGE_ID.search(message_id)
    if match is None:
        return None
    delivery = _delivery(match.group(1))
    if delivery is not None and delivery.message_id and delivery.message_id != message_id:
        return None
    return delivery


def _delivery(delivery_id):
    return Delivery.objects.select_related("recipient", "sending__list", "sending__message").filter(pk=int(delivery_id)).first()


def _delivery_target(delivery):
    sending = delivery.sending
    return delivery, delivery.recipient, sending.list, sending.message_id


def _mailto_delivery(rcpt_tos):
    """Return the delivery of a signed List-Unsubscribe mailto address among the recipients, or None."""
    for address in rcpt_tos:
        match = MAILTO_ADDRESS.match(address)
        if match is None or not address.lower().endswith("@" + settings.BOUNCE_DOMAIN.lower()):
            continue
        delivery = _delivery(match.group(1))
        expected = campaign_rendering.mailto_unsubscribe(delivery) if delivery is not None else ""
        if delivery is not None and constant_time_compare(expected.lower(), f"mailto:{address.lower()}"):
            return delivery
    return None


# --- Verdicts -----------------------------------------------------------------------


def _apply_hard_bounce(inbound, report, delivery, recipient, mailing_list, message_id):
    causes = [failed.reason for failed in report.recipients if failed.hard]
    reason = HARD_BOUNCE_REASONS.get(causes[0], GENERIC_BOUNCE_REASON) if causes else GENERIC_BOUNCE_REASON
    _mark_bounced(delivery, report)
    _record_event(delivery, DeliveryEvent.Kind.HARD_BOUNCE)
    _unsubscribe(inbound, recipient, None, Source.BOUNCE, reason, message_id)


def _apply_soft_bounce(inbound, report, delivery, recipient, mailing_list, message_id):
    _mark_bounced(delivery, report)
    _record_event(delivery, DeliveryEvent.Kind.SOFT_BOUNCE)
    account = recipient.account
    if account.soft_bounce_limit == 0:
        return
    since = timezone.now() - timedelta(days=account.soft_bounce_days)
    earlier = InboundMessage.objects.filter(
        recipient=recipient, verdict=Verdict.SOFT_BOUNCE, received_at__gte=since
    ).exclude(pk=inbound.pk)
    count = earlier.count() + 1
    inbound.details["soft_bounces_in_window"] = count
    if count >= account.soft_bounce_limit:
        _unsubscribe(inbound, recipient, None, Source.BOUNCE, REPEATED_SOFT_BOUNCE_REASON, message_id)


def _apply_complaint(inbound, report, delivery, recipient, mailing_list, message_id):
    _record_event(delivery, DeliveryEvent.Kind.COMPLAINT)
    _unsubscribe(inbound, recipient, [mailing_list], Source.FBL, COMPLAINT_REASON, message_id)


def _apply_mailto_unsubscribe(inbound, delivery):
    delivery, recipient, mailing_list, message_id = _delivery_target(delivery)
    inbound.verdict = Verdict.UNSUBSCRIBE
    inbound.delivery = delivery
    inbound.recipient = recipient
    inbound.account_id = recipient.account_id
    _unsubscribe(inbound, recipient, [mailing_list], Source.RECIPIENT, MAILTO_UNSUBSCRIBE_REASON, message_id)


def _record_only(inbound, report, delivery, recipient, mailing_list, message_id):
    """Auto-replies and success reports change no subscription."""


def _unsubscribe(inbound, recipient, lists, source, reason, message_id):
    changed = lists_services.unsubscribe_for_report(
        recipient, lists, source, reason, message_id, details={"inbound_message": inbound.pk}
    )
    inbound.details["reason_code"] = reason
    inbound.details["unsubscribed_lists"] = [mailing_list.list_id for mailing_list in changed]


def _record_event(delivery, kind):
    # Sending statistics count later bounces and complaints from these
    # events. A report about system mail has no delivery and no statistics.
    if delivery is None:
        return
    from sending.services import record_delivery_event

    record_delivery_event(delivery, kind)


def _mark_bounced(delivery, report):
    if delivery is None:
        return
    failed = report.recipients[0] if report.recipients else None
    error = f"{failed.status} {failed.diagnostic}".strip()[:2000] if failed else "bounce report"
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.BOUNCED, last_error=error)


ACTIONS = {
    Verdict.HARD_BOUNCE: _apply_hard_bounce,
    Verdict.SOFT_BOUNCE: _apply_soft_bounce,
    Verdict.COMPLAINT: _apply_complaint,
    Verdict.AUTO_REPLY: _record_only,
    Verdict.DELIVERED: _record_only,
    Verdict.UNKNOWN: _record_only,
}
