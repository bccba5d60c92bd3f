"""The developer's view: the sink inbox and SMS sink of the account, the webhook log, and a reset for test runs."""

from django.contrib import messages
from django.db.models import Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from integrations import services as integration_services
from integrations.models import WebhookAttempt, WebhookDelivery
from panel.access import Role, console_view
from panel.paging import can_match, keyset_page, read_id
from sending import services as sending_services
from sending.models import Delivery, Sending, SinkMessage, SinkSms
from sending.sink import parse_message

TABS = ("html", "text", "headers", "raw")


def _account_messages(request):
    return SinkMessage.objects.filter(account_console_id=request.account.console_id)


@console_view()
def inbox_index(request):
    inbox = _account_messages(request).defer("raw")
    query = request.GET.get("q", "").strip()
    if query and not can_match(query):
        inbox = inbox.none()
    elif query:
        inbox = inbox.filter(Q(rcpt_search__contains=query.lower()) | Q(subject__icontains=query))
    sending_id = read_id(request.GET.get("sending"))
    if sending_id is not None:
        inbox = inbox.filter(sending_id=sending_id)
    page = keyset_page(inbox, request.GET, newest_first=True)
    return render(request, "panel/inbox/index.html", {"page": page, "query": _paging_query(request)})


def _paging_query(request):
    params = request.GET.copy()
    params.pop("after", None)
    params.pop("before", None)
    return params.urlencode()


@console_view()
def inbox_detail(request, message_id):
    message = get_object_or_404(_account_messages(request), pk=message_id)
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else "html"
    raw = bytes(message.raw)
    context = {
        "message": message,
        "parts": parse_message(raw),
        "raw": raw.decode("utf-8", "replace"),
        "tab": tab,
        "sending": _sending_of(request, message),
        "delivery": _delivery_of(request, message),
    }
    return render(request, "panel/inbox/detail.html", context)


def _sending_of(request, message):
    if message.sending_id is None:
        return None
    return Sending.objects.filter(pk=message.sending_id, list__account=request.account).select_related("message").first()


def _delivery_of(request, message):
    if not message.message_id or message.sending_id is None:
        return None
    return Delivery.objects.filter(
        sending_id=message.sending_id, sending__list__account=request.account, message_id=message.message_id
    ).first()


@console_view()
def inbox_raw(request, message_id):
    message = get_object_or_404(_account_messages(request), pk=message_id)
    response = HttpResponse(bytes(message.raw), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
    return response


@console_view()
def webhook_log(request):
    deliveries = WebhookDelivery.objects.filter(webhook__account=request.account).select_related("webhook", "event")
    if request.GET.get("status") in WebhookDelivery.Status.values:
        deliveries = deliveries.filter(status=request.GET["status"])
    page = keyset_page(deliveries.prefetch_related(Prefetch("attempt_log", WebhookAttempt.objects.order_by("pk"))), request.GET, newest_first=True)
    context = {"page": page, "query": _paging_query(request), "statuses": WebhookDelivery.Status.choices}
    return render(request, "panel/inbox/webhooks.html", context)


@console_view()
def sms_inbox(request):
    """List the SMS that the account's sends put into the SMS sink, and its SMS sendings that failed."""
    received = SinkSms.objects.filter(account_console_id=request.account.console_id).select_related("sending")
    query = request.GET.get("q", "").strip()
    if query and not can_match(query):
        received = received.none()
    elif query:
        received = received.filter(Q(number__contains=query) | Q(text__icontains=query))
    context = {
        "page": keyset_page(received, request.GET, newest_first=True),
        "query": _paging_query(request),
        "failed": sending_services.failed_sms_sendings(request.account),
    }
    return render(request, "panel/inbox/sms.html", context)


@console_view(role=Role.ADMIN, methods=("POST",))
def reset_test_data(request):
    """Empty the account's sink inbox, SMS sink and webhook log, so the next test run starts from nothing."""
    removed_messages = sending_services.clear_sink(request.account)
    removed_sms = sending_services.clear_sms_sink(request.account)
    removed_calls = integration_services.clear_webhook_log(request.account)
    counts = {"messages": removed_messages, "sms": removed_sms, "calls": removed_calls}
    messages.success(request, _("Removed %(messages)s messages, %(sms)s SMS and %(calls)s webhook calls.") % counts)
    return redirect("panel:inbox_index")
