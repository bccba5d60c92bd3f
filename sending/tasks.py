import logging

from celery import shared_task
from django.conf import settings

from sending import dkim_signing, relay, rendering, services, smtp

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def deliver_system_mail(mail_id):
    """Render and send one SystemMail; safe to run twice because only a claimed mail is sent."""
    mail = services.claim_system_mail(mail_id)
    if mail is None:
        return

    try:
        message_id, raw = _render_and_sign(mail)
    except Exception as error:
        # A template or data error will fail the same way on every retry.
        logger.exception("system mail rendering failed mail=%s", mail.pk)
        services.record_failure(mail, f"Rendering failed: {error}", permanent=True)
        return

    try:
        smtp.send_message(raw, rendering.return_path(mail), [mail.to_email], settings.SYSTEM_MAIL_SOURCE_IP)
    except smtp.DeliveryError as error:
        # A deferred mail is picked up again by requeue_stalled_mail, which
        # beat runs every minute, once its next_attempt_at has passed.
        services.record_failure(mail, str(error), permanent=error.permanent)
        return

    services.record_sent(mail, message_id, settings.SYSTEM_MAIL_SOURCE_IP)


@shared_task(acks_late=True)
def deliver_system_mails(mail_ids):
    """Send a batch of SystemMails that the outbox publisher enqueued; each is sent only if claimed."""
    for mail_id in mail_ids:
        try:
            deliver_system_mail(mail_id)
        except Exception:
            # The other mails of the batch still go out; this one stays queued
            # or claimed, and requeue_stalled_mail enqueues it again later.
            logger.exception("system mail delivery failed mail=%s", mail_id)


def _render_and_sign(mail):
    """Return the Message-ID and the bytes of a system mail, signed with the keys of its account.

    Mail without an account is the platform's own (it comes from
    PLATFORM_MAIL_FROM) and is signed with the platform's keys instead.
    """
    message = rendering.render_system_mail(mail)
    raw = message.as_bytes(policy=rendering.MESSAGE_POLICY)
    if mail.account is None:
        return message["Message-ID"], dkim_signing.sign(raw, dkim_signing.platform_domain(), dkim_signing.platform_keys())
    domain = mail.list.sender_email.rpartition("@")[2].lower()
    return message["Message-ID"], dkim_signing.sign(raw, domain, dkim_signing.account_keys(mail.account))


@shared_task(acks_late=True)
def requeue_stalled_mail():
    return services.requeue_stalled_mail()


@shared_task(acks_late=True)
def prepare_sending(sending_id):
    """Create a sending's deliveries; does nothing unless the sending can be claimed."""
    sending = services.claim_sending(sending_id)
    if sending is None:
        return 0
    return services.fan_out(sending)


@shared_task(acks_late=True)
def deliver_batch(delivery_ids):
    """Send a batch of deliveries; safe to run twice because only claimed deliveries are sent."""
    return relay.deliver_batch(delivery_ids)


@shared_task(acks_late=True)
def sweep_sendings():
    return services.sweep_sendings()


@shared_task(acks_late=True)
def send_due_sms():
    """Send the SMS sendings whose start time has passed; a second run sends nothing twice, because each sending is claimed."""
    from sending import sms_queue

    return sms_queue.send_due_sms()


@shared_task(acks_late=True)
def process_inbound_message(inbound_id):
    from sending.inbound import processing

    processing.process_inbound_message(inbound_id)


@shared_task(acks_late=True)
def requeue_inbound_messages():
    from sending.inbound import processing

    for inbound_id in processing.unprocessed_inbound_ids():
        process_inbound_message.delay(inbound_id)
