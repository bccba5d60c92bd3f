"""The sink inspection API: what a CRM developer reads to assert on sent mail."""

from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from rest_framework.response import Response

from sending.models import SinkMessage, SinkSms
from sending.sink import parse_message
from sending.sink_api_base import SinkApiView

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def summarize(message):
    return {
        "id": message.pk,
        "received_at": message.received_at.isoformat(),
        "source_ip": message.peer_ip,
        "helo": message.helo,
        "mail_from": message.mail_from,
        "rcpt_to": message.rcpt_to,
        "from": message.from_header,
        "to": message.to_header,
        "subject": message.subject,
        "message_id": message.message_id,
        "account": message.account_console_id,
        "list": message.list_id,
        "sending": message.sending_id,
        "size": message.size,
        "dkim": {
            "result": message.dkim_result,
            "domain": message.dkim_domain,
            "reason": message.dkim_reason,
            "signatures": message.dkim_signatures,
        },
    }


class MessageListView(SinkApiView):
    """GET lists messages, newest first, with filters; DELETE removes every message."""

    def get(self, request):
        queryset = SinkMessage.objects.all()
        try:
            queryset = _filter(queryset, request.query_params)
            limit, offset = read_window(request.query_params)
        except ValueError as error:
            return Response({"error": str(error)}, status=400)

        total = queryset.count()
        items = [summarize(message) for message in queryset.defer("raw")[offset : offset + limit]]
        return Response({"total": total, "offset": offset, "limit": limit, "messages": items})

    def delete(self, request):
        deleted, _ = SinkMessage.objects.all().delete()
        return Response({"deleted": deleted})


def _filter(queryset, params):
    """Apply the to, from, subject, account, list, sending and since filters; raise ValueError on a bad value."""
    reject_nul(params, ("to", "from", "subject"))
    if params.get("to"):
        queryset = queryset.filter(rcpt_search__contains=params["to"].lower())
    if params.get("from"):
        queryset = queryset.filter(Q(from_header__icontains=params["from"]) | Q(mail_from__icontains=params["from"]))
    if params.get("subject"):
        queryset = queryset.filter(subject__icontains=params["subject"])
    for name, column in (("account", "account_console_id"), ("list", "list_id"), ("sending", "sending_id")):
        if params.get(name):
            queryset = queryset.filter(**{column: _bounded_int(params[name], None, 0, 2**31 - 1, name)})
    if params.get("since"):
        since = parse_datetime(params["since"])
        if since is None:
            raise ValueError("since must be an ISO 8601 date and time, such as 2026-12-04T10:00:00Z.")
        queryset = queryset.filter(received_at__gte=since)
    return queryset


def reject_nul(params, names):
    """Raise ValueError for a search parameter with NUL, which PostgreSQL cannot compare with text."""
    for name in names:
        if "\x00" in params.get(name, ""):
            raise ValueError(f"{name} contains a NUL character.")


def read_window(params):
    """Return the (limit, offset) of a listing's query parameters; raise ValueError naming a bad one."""
    limit = _bounded_int(params.get("limit"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE, "limit")
    offset = _bounded_int(params.get("offset"), 0, 0, 10**9, "offset")
    return limit, offset


def _bounded_int(raw, default, minimum, maximum, name):
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise ValueError(f"{name} must be an integer from {minimum} to {maximum}.")
    return int(raw)


class MessageDetailView(SinkApiView):
    def get(self, request, message_id):
        message = _get_message(message_id)
        detail = summarize(message)
        detail.update(parse_message(bytes(message.raw)))
        detail["raw"] = bytes(message.raw).decode("utf-8", "replace")
        return Response(detail)


def raw_message(request, message_id):
    """Return the message source exactly as the sink received it, or a JSON 404 for an unknown id."""
    try:
        message = _get_message(message_id)
    except Http404 as error:
        return JsonResponse({"detail": str(error)}, status=404)
    return HttpResponse(bytes(message.raw), content_type="message/rfc822")


def _get_message(message_id):
    message = SinkMessage.objects.filter(pk=message_id).first()
    if message is None:
        raise Http404(f"No sink message {message_id}.")
    return message


def summarize_sms(sms):
    return {
        "id": sms.pk,
        "received_at": sms.received_at.isoformat(),
        "number": sms.number,
        "sender": sms.sender,
        "text": sms.text,
        "account": sms.account_console_id,
        "list": sms.list_id,
        "sending": sms.sending_id,
        "recipient": sms.recipient_id,
    }


class SmsListView(SinkApiView):
    """GET lists the text messages of the SMS sink, newest first; DELETE removes every one."""

    def get(self, request):
        queryset = SinkSms.objects.all()
        params = request.query_params
        try:
            reject_nul(params, ("number",))
            if params.get("number"):
                queryset = queryset.filter(number__contains=params["number"])
            for name, column in (("account", "account_console_id"), ("list", "list_id"), ("sending", "sending_id")):
                if params.get(name):
                    queryset = queryset.filter(**{column: _bounded_int(params[name], None, 0, 2**31 - 1, name)})
            limit, offset = read_window(params)
        except ValueError as error:
            return Response({"error": str(error)}, status=400)

        total = queryset.count()
        items = [summarize_sms(sms) for sms in queryset[offset : offset + limit]]
        return Response({"total": total, "offset": offset, "limit": limit, "messages": items})

    def delete(self, request):
        deleted, _ = SinkSms.objects.all().delete()
        return Response({"deleted": deleted})
