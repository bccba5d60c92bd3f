"""The integration parts of the sink inspection API: webhook deliveries with their attempts, and FTP transfers."""

from django.db.models import Prefetch
from rest_framework.response import Response

from integrations.models import FtpTransfer, WebhookAttempt, WebhookDelivery
from integrations.webhooks import without_password
from sending.sink_api import _bounded_int, read_window, reject_nul
from sending.sink_api_base import SinkApiView

STATUSES = set(WebhookDelivery.Status.values)
DIRECTIONS = set(FtpTransfer.Direction.values)


def summarize_delivery(delivery):
    webhook = delivery.webhook
    return {
        "id": delivery.pk,
        "webhook": webhook.pk,
        "account": webhook.account.console_id,
        "event": webhook.event,
        "subscription_event": delivery.event_id,
        "method": webhook.method,
        "url": without_password(webhook.url),
        "parameters": delivery.parameters,
        "payload": delivery.payload,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "attempt_log": [summarize_attempt(attempt) for attempt in delivery.attempt_log.all()],
    }


def summarize_attempt(attempt):
    return {
        "started_at": attempt.started_at.isoformat(),
        "method": attempt.method,
        "url": attempt.url,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "response": attempt.response,
    }


class WebhookDeliveryListView(SinkApiView):
    """GET lists webhook deliveries, newest first, filtered by `status` and by `url` (a substring)."""

    def get(self, request):
        params = request.query_params
        status = params.get("status", "")
        if status and status not in STATUSES:
            return Response({"error": f"status must be one of {', '.join(sorted(STATUSES))}."}, status=400)
        try:
            limit, offset = read_window(params)
            reject_nul(params, ("url",))
        except ValueError as error:
            return Response({"error": str(error)}, status=400)

        queryset = WebhookDelivery.objects.select_related("webhook__account").order_by("-id")
        if status:
            queryset = queryset.filter(status=status)
        if params.get("url"):
            queryset = queryset.filter(webhook__url__icontains=params["url"])
        total = queryset.count()
        page = queryset.prefetch_related(Prefetch("attempt_log", WebhookAttempt.objects.order_by("id")))
        items = [summarize_delivery(delivery) for delivery in page[offset : offset + limit]]
        return Response({"total": total, "offset": offset, "limit": limit, "deliveries": items})


def summarize_transfer(transfer):
    return {
        "id": transfer.pk,
        "account": transfer.account.console_id,
        "username": transfer.username,
        "direction": transfer.direction,
        "path": transfer.path,
        "size": transfer.size,
        "completed": transfer.completed,
        "remote_ip": transfer.remote_ip,
        "finished_at": transfer.finished_at.isoformat(),
    }


class FtpTransferListView(SinkApiView):
    """GET lists FTP uploads and downloads, newest first, filtered by `account`, `direction` and `path` (a substring)."""

    def get(self, request):
        params = request.query_params
        direction = params.get("direction", "")
        if direction and direction not in DIRECTIONS:
            return Response({"error": f"direction must be one of {', '.join(sorted(DIRECTIONS))}."}, status=400)
        try:
            account = _bounded_int(params.get("account"), None, 1, 2**31 - 1, "account")
            limit, offset = read_window(params)
            reject_nul(params, ("path",))
        except ValueError as error:
            return Response({"error": str(error)}, status=400)

        queryset = FtpTransfer.objects.select_related("account").order_by("-id")
        if direction:
            queryset = queryset.filter(direction=direction)
        if account is not None:
            queryset = queryset.filter(account__console_id=account)
        if params.get("path"):
            queryset = queryset.filter(path__icontains=params["path"])
        total = queryset.count()
        items = [summarize_transfer(transfer) for transfer in queryset[offset : offset + limit]]
        return Response({"total": total, "offset": offset, "limit": limit, "transfers": items})
