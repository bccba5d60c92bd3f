"""Statistics per list, and CSV exports of a sending's deliveries and of a list's figures."""

import csv

from django.db.models import Count, Q
from django.http import StreamingHttpResponse
from django.shortcuts import render

from lists.models import Channel, Subscription
from panel.access import console_view
from panel.charts import bar_chart
from panel.counts import subscription_counts
from panel.views.campaigns import get_sending
from panel.views.lists import get_list
from panel.views.recipients import filtered_subscriptions
from sending.models import Delivery, Sending

EXPORT_BATCH = 2000
RECENT_SENDINGS = 20


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


# A spreadsheet runs a cell that starts with one of these as a formula, so
# recipient-supplied text such as "=HYPERLINK(...)" would run on the
# marketer's machine. Exported cells that start with one get a leading
# apostrophe, which spreadsheets show as plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_response(filename, header, rows):
    writer = csv.writer(_Echo())
    lines = (writer.writerow([_plain_cell(value) for value in row]) for row in _prepend(header, rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _plain_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _prepend(first, rows):
    yield first
    yield from rows


def _delivery_rows(sending):
    """Yield one row per delivery in id order, reading batches by key so memory stays bounded."""
    last_id = 0
    columns = ("pk", "to_email", "status", "attempts", "source_ip", "smtp_code", "delivered_at", "last_error")
    while True:
        batch = list(sending.deliveries.filter(pk__gt=last_id).order_by("pk").values_list(*columns)[:EXPORT_BATCH])
        if not batch:
            return
        last_id = batch[-1][0]
        for pk, email, status, attempts, source_ip, smtp_code, delivered_at, error in batch:
            yield [pk, email, status, attempts, source_ip or "", smtp_code or "", delivered_at.isoformat() if delivered_at else "", error]


@console_view()
def sending_csv(request, sending_id):
    sending = get_sending(request, sending_id)
    header = ["delivery", "email", "status", "attempts", "source_ip", "smtp_code", "delivered_at", "error"]
    return _csv_response(f"sending-{sending.pk}.csv", header, _delivery_rows(sending))


def _list_figures(mailing_list):
    """Return the subscription counts by status and the unsubscriptions by reason code of a list's e-mail channel."""
    subscriptions = Subscription.objects.filter(list=mailing_list, channel=Channel.EMAIL)
    by_status = subscription_counts([mailing_list.pk])[mailing_list.pk]
    reasons = (
        subscriptions.filter(status=Subscription.Status.UNSUBSCRIBED)
        .values_list("optout_reason")
        .annotate(total=Count("pk"))
        .order_by("-total")
        .values_list("optout_reason", "total")
    )
    return by_status, list(reasons)


def _sending_rows(mailing_list):
    delivered = Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DELIVERED))
    failed = Count("deliveries", filter=Q(deliveries__status__in=[Delivery.Status.FAILED, Delivery.Status.BOUNCED]))
    return (
        Sending.objects.filter(list=mailing_list)
        .select_related("message")
        .annotate(total=Count("deliveries"), delivered=delivered, failed=failed)
        .order_by("-pk")[:RECENT_SENDINGS]
    )


@console_view()
def list_statistics(request, list_id):
    mailing_list = get_list(request, list_id)
    by_status, reasons = _list_figures(mailing_list)
    status_rows = [(label, by_status.get(value, 0)) for value, label in Subscription.Status.choices]
    context = {
        "list": mailing_list,
        "status_chart": bar_chart(status_rows, {Subscription.Status.SUBSCRIBED.label: "ok", Subscription.Status.UNSUBSCRIBED.label: "bad"}),
        "reason_chart": bar_chart([(reason or "-", total) for reason, total in reasons]),
        "sendings": _sending_rows(mailing_list),
    }
    return render(request, "panel/statistics/list.html", context)


@console_view()
def list_statistics_csv(request, list_id):
    mailing_list = get_list(request, list_id)
    rows = [
        [sending.pk, sending.message.subject, sending.status, sending.created_at.isoformat(), sending.total, sending.delivered, sending.failed]
        for sending in _sending_rows(mailing_list)
    ]
    header = ["sending", "subject", "status", "created_at", "deliveries", "delivered", "failed_or_bounced"]
    return _csv_response(f"list-{mailing_list.list_id}-sendings.csv", header, rows)


def _recipient_rows(subscriptions, field_ids):
    """Yield one row per e-mail subscription in id order, reading batches by key so memory stays bounded."""
    last_id = 0
    columns = ("pk", "recipient__email", "status", "optin_at", "optout_at", "optout_reason", "recipient__fields")
    while True:
        batch = list(subscriptions.filter(pk__gt=last_id).order_by("pk").values_list(*columns)[:EXPORT_BATCH])
        if not batch:
            return
        last_id = batch[-1][0]
        for _pk, email, status, optin_at, optout_at, reason, fields in batch:
            values = [(fields or {}).get(str(field_id), "") for field_id in field_ids]
            yield [email, status, _iso(optin_at), _iso(optout_at), reason, *values]


def _iso(moment):
    return moment.isoformat() if moment else ""


@console_view()
def recipient_csv(request, list_id):
    """Export the list's e-mail recipients with their fields, filtered like the recipients page."""
    mailing_list = get_list(request, list_id)
    subscriptions = filtered_subscriptions(mailing_list, request.GET)
    definitions = list(request.account.field_definitions.order_by("field_id").values_list("field_id", "name"))
    header = ["email", "status", "optin_at", "optout_at", "optout_reason", *(name for _id, name in definitions)]
    rows = _recipient_rows(subscriptions, [field_id for field_id, _name in definitions])
    return _csv_response(f"list-{mailing_list.list_id}-recipients.csv", header, rows)
