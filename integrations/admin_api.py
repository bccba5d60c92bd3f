"""mailup-sim's own admin API for an account's CRM settings: webhooks, their deliveries, post-operations, exports.

MailUp has no API for these settings, so the shapes are mailup-sim's. The
caller authenticates as for REST v1.1, with a bearer token of the account,
and gets only that account's rules and deliveries. Errors use the REST
error envelope. docs/webhooks.md documents every route.
"""

from django.db.models import Prefetch

from integrations import configuration, exports, webhooks
from integrations.configuration import ConfigurationError
from integrations.models import PostOperation, PostOperationRun, Webhook, WebhookAttempt, WebhookDelivery
from integrations.sink_api import summarize_delivery
from mailup_sim.rest import RestError, empty_response, json_response, query_params, read_json_object

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
# Ids are BigAutoField keys. A larger number names no row, and int() raises
# ValueError past 4300 digits, so longer digit strings never reach it.
MAX_ROW_ID = 2**63 - 1


def _save(save, request, *args):
    try:
        return save(request.account, read_json_object(request), *args)
    except ConfigurationError as error:
        raise RestError(400, str(error)) from None


def _read_limit(params):
    raw = params.get("limit") or str(DEFAULT_LIMIT)
    limit = _parse_bounded_int(raw, MAX_LIMIT)
    if limit is None or limit < 1:
        raise RestError(400, f"limit must be an integer from 1 to {MAX_LIMIT}; got {raw[:40]!r}.")
    return limit


def _parse_bounded_int(raw, maximum):
    """Return the value of an ASCII digit string from 0 to `maximum`, else None."""
    digits = raw.lstrip("0") or "0"
    if not (raw.isascii() and raw.isdigit()) or len(digits) > len(str(maximum)) or int(digits) > maximum:
        return None
    return int(digits)


# --- Webhooks ----------------------------------------------------------------


def _webhook_of(request, webhook_id):
    webhook = Webhook.objects.filter(account=request.account, pk=webhook_id).first()
    if webhook is None:
        raise RestError(404, f"Webhook {webhook_id} not found in account {request.account.console_id}.")
    return webhook


def list_webhooks(request):
    rules = Webhook.objects.filter(account=request.account).prefetch_related("lists")
    return json_response([configuration.describe_webhook(webhook) for webhook in rules])


def create_webhook(request):
    return json_response(configuration.describe_webhook(_save(configuration.save_webhook, request)))


def get_webhook(request, webhook_id):
    return json_response(configuration.describe_webhook(_webhook_of(request, webhook_id)))


def update_webhook(request, webhook_id):
    webhook = _save(configuration.save_webhook, request, _webhook_of(request, webhook_id))
    return json_response(configuration.describe_webhook(webhook))


def delete_webhook(request, webhook_id):
    _webhook_of(request, webhook_id).delete()
    return empty_response()


# --- Deliveries and replay ---------------------------------------------------


def _account_deliveries(request):
    return WebhookDelivery.objects.filter(webhook__account=request.account).select_related("webhook__account")


def list_deliveries(request):
    """List the account's deliveries, newest first, filtered by `status` and `webhook`, at most `limit`."""
    params = query_params(request)
    deliveries = _account_deliveries(request).order_by("-id")
    status = params.get("status", "")
    if status:
        if status not in WebhookDelivery.Status.values:
            raise RestError(400, f"status must be one of {', '.join(WebhookDelivery.Status.values)}; got {status!r}.")
        deliveries = deliveries.filter(status=status)
    webhook_id = params.get("webhook", "")
    if webhook_id:
        number = _parse_bounded_int(webhook_id, MAX_ROW_ID)
        if number is None:
            raise RestError(400, f"webhook must be a webhook id; got {webhook_id[:40]!r}.")
        deliveries = deliveries.filter(webhook_id=number)

    page = deliveries.prefetch_related(Prefetch("attempt_log", WebhookAttempt.objects.order_by("id")))
    return json_response([summarize_delivery(delivery) for delivery in page[: _read_limit(params)]])


def get_delivery(request, delivery_id):
    delivery = _account_deliveries(request).filter(pk=delivery_id).first()
    if delivery is None:
        raise RestError(404, f"Webhook delivery {delivery_id} not found in account {request.account.console_id}.")
    return json_response(summarize_delivery(delivery))


def replay_delivery(request, delivery_id):
    """Send a failed delivery again with a fresh set of attempts; 409 when the delivery is not failed."""
    delivery = _account_deliveries(request).filter(pk=delivery_id).first()
    if delivery is None:
        raise RestError(404, f"Webhook delivery {delivery_id} not found in account {request.account.console_id}.")
    if not webhooks.replay_webhook_delivery(delivery.pk):
        raise RestError(409, f"Webhook delivery {delivery_id} is {delivery.status}; only a failed delivery is replayed.")
    delivery.refresh_from_db()
    return json_response(summarize_delivery(delivery))


# --- Post-operations ---------------------------------------------------------


def _post_operation_of(request, post_operation_id):
    post_operation = PostOperation.objects.filter(account=request.account, pk=post_operation_id).first()
    if post_operation is None:
        raise RestError(
            404, f"Post-operation {post_operation_id} not found in account {request.account.console_id}."
        )
    return post_operation


def list_post_operations(request):
    rules = PostOperation.objects.filter(account=request.account)
    return json_response([configuration.describe_post_operation(rule) for rule in rules])


def create_post_operation(request):
    post_operation = _save(configuration.save_post_operation, request)
    return json_response(configuration.describe_post_operation(post_operation))


def get_post_operation(request, post_operation_id):
    return json_response(configuration.describe_post_operation(_post_operation_of(request, post_operation_id)))


def update_post_operation(request, post_operation_id):
    post_operation = _save(configuration.save_post_operation, request, _post_operation_of(request, post_operation_id))
    return json_response(configuration.describe_post_operation(post_operation))


def delete_post_operation(request, post_operation_id):
    _post_operation_of(request, post_operation_id).delete()
    return empty_response()


def list_post_operation_runs(request):
    """List the account's post-operation runs, newest first, at most `limit`."""
    params = query_params(request)
    runs = PostOperationRun.objects.filter(post_operation__account=request.account).order_by("-id")
    return json_response([_describe_run(run) for run in runs[: _read_limit(params)]])


def _describe_run(run):
    return {
        "id": run.pk,
        "post_operation": run.post_operation_id,
        "subscription_event": run.event_id,
        "chain": run.chain,
        "status": run.status,
        "attempts": run.attempts,
        "outcomes": run.outcomes,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


# --- Exports -----------------------------------------------------------------


def export_unsubscribers(request, list_id):
    """Write the list's unsubscriber export now, as the nightly job would, and describe the file."""
    mailing_list = request.account.lists.filter(list_id=list_id).first()
    if mailing_list is None:
        raise RestError(404, f"List {list_id} not found in account {request.account.console_id}.")
    export = exports.export_unsubscribed(mailing_list)
    return json_response(
        {
            "list": list_id,
            "file": f"export/{export.file_name}",
            "rows": export.rows,
            "since": export.since.isoformat() if export.since else None,
            "until": export.until.isoformat(),
        }
    )
