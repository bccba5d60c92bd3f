import logging

from celery import shared_task

from integrations import exports, ftpzip, post_operations, services, sso, webhooks

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def import_uploaded_file(path, sha256):
    """Import one upload; safe to run twice because only an unclaimed upload is imported."""
    upload = services.import_upload(path, sha256)
    return upload.status if upload else None


@shared_task(acks_late=True)
def run_import(import_id):
    """Run one SOAP or REST import; a second delivery finds it claimed or finished and does nothing."""
    job = services.run_import(import_id)
    return job.status if job else None


@shared_task(acks_late=True)
def sweep_imports():
    return services.sweep_imports()


@shared_task(acks_late=True)
def run_due_exports():
    """Write the unsubscriber exports whose account time has come today and that have not run yet."""
    return len(exports.run_due_exports())


@shared_task(acks_late=True)
def deliver_webhook(delivery_id):
    """Make one attempt at a webhook delivery. Running it twice is safe because only a claimed delivery is sent."""
    delivery = webhooks.claim_delivery(delivery_id)
    if delivery is None:
        return None
    webhooks.attempt_delivery(delivery)
    return delivery_id


@shared_task(acks_late=True)
def sweep_webhook_deliveries():
    return webhooks.sweep_webhook_deliveries()


@shared_task(acks_late=True)
def run_post_operation(run_id):
    """Run one post-operation run. Running it twice is safe because only a claimed pending run is executed."""
    run = post_operations.claim_run(run_id)
    if run is None:
        return None
    post_operations.execute_run(run)
    return run_id


@shared_task(acks_late=True)
def sweep_post_operation_runs():
    return post_operations.sweep_post_operation_runs()


@shared_task(acks_late=True)
def process_send_zip(send_zip_id):
    """Process one FTPZIP archive; safe to run twice because only a claimed archive is processed."""
    send_zip = ftpzip.claim_send_zip(send_zip_id)
    if send_zip is None:
        return None
    return ftpzip.process_send_zip(send_zip)


@shared_task(acks_late=True)
def delete_expired_sso_codes():
    """Delete single sign-on codes that expired more than a day ago."""
    return sso.delete_expired_codes()
