import logging
from email import policy

from celery import shared_task
from django.conf import settings

from sending import rendering, services, smtp

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def deliver_system_mail(mail_id):
    """Render and send one SystemMail; safe to run twice because only a claimed mail is sent."""
    mail = services.claim_system_mail(mail_id)
    if mail is None:
        return

    try:
        message = rendering.render_system_mail(mail)
    except Exception as error:
        # A template or data error will fail the same way on every retry.
        logger.exception("system mail rendering failed mail=%s", mail.pk)
        services.record_failure(mail, f"Rendering failed: {error}", permanent=True)
        return

    try:
        smtp.send_message(message.as_bytes(policy=policy.SMTP), rendering.return_path(mail), [mail.to_email], settings.SYSTEM_MAIL_SOURCE_IP)
    except smtp.DeliveryError as error:
        # A deferred mail is picked up again by requeue_stalled_mail, which
        # beat runs every minute, once its next_attempt_at has passed.
        services.record_failure(mail, str(error), permanent=error.permanent)
        return

    services.record_sent(mail, message["Message-ID"], settings.SYSTEM_MAIL_SOURCE_IP)


@shared_task(acks_late=True)
def requeue_stalled_mail():
    return services.requeue_stalled_mail()
