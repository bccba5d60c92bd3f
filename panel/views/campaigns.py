"""Compose a newsletter, target and send it, and follow a sending's progress."""

import logging
import re

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.errors import InvalidContact
from lists.models import Recipient
from lists.validation import normalize_email
from panel.access import Role, console_view
from panel.charts import bar_chart
from panel.counts import cached_count
from panel.engagement import sending_engagement
from panel.forms import MessageForm, SendForm, TestSendForm
from panel.paging import can_match, keyset_page
from sending import dkim_signing
from sending import services as sending_services
from sending import statistics as sending_statistics
from sending.merge_tags import UNSUBSCRIBE_LINK
from sending.models import Delivery, DkimKey, Message, Sending

logger = logging.getLogger(__name__)

MAX_TEST_ADDRESSES = 10
UNSUBSCRIBE_TAG = re.compile(r"\[(unsubscribe|listunsubscribe)\]", re.IGNORECASE)
LINK_TAGS = [("[unsubscribe]", gettext_lazy("Unsubscribe link")), ("[email]", gettext_lazy("E-mail address"))]


def get_message(request, message_id):
    return get_object_or_404(Message.objects.select_related("list"), list__account=request.account, pk=message_id)


def get_sending(request, sending_id):
    return get_object_or_404(
        Sending.objects.select_related("message", "list"), list__account=request.account, pk=sending_id
    )


@console_view()
def message_index(request):
    account_messages = Message.objects.filter(list__account=request.account).select_related("list")
    page = keyset_page(account_messages, request.GET, newest_first=True)
    return render(request, "panel/campaigns/messages.html", {"page": page, "query": ""})


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def message_create(request):
    form = MessageForm(request.POST or None, account=request.account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        html = sending_services.inline_css(data["html"]) if data["inline_css"] else data["html"]
        message = sending_services.create_message(
            data["list"], data["subject"], html=html, text=data["text"], preheader=data["preheader"]
        )
        # Keys are otherwise created by the first sending; making them now
        # lets the checklist below show the DNS-ready state before sending.
        dkim_signing.account_keys(request.account)
        messages.success(request, _("Message saved."))
        return redirect("panel:message_detail", message_id=message.pk)
    return render(request, "panel/campaigns/compose.html", {"form": form, "merge_tags": merge_tags(request.account)})


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def message_edit(request, message_id):
    message = get_message(request, message_id)
    initial = {"list": message.list, "subject": message.subject, "preheader": message.preheader, "html": message.html}
    initial["text"] = message.text
    form = MessageForm(request.POST or None, account=request.account, initial=initial)
    form.fields["list"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        html = sending_services.inline_css(data["html"]) if data["inline_css"] else data["html"]
        sending_services.update_message(
            message, subject=data["subject"], html=html, text=data["text"], preheader=data["preheader"]
        )
        messages.success(request, _("Message saved."))
        return redirect("panel:message_detail", message_id=message.pk)
    context = {"form": form, "message": message, "merge_tags": merge_tags(request.account)}
    return render(request, "panel/campaigns/compose.html", context)


def merge_tags(account):
    """Return (tag, label) pairs for the merge-tag picker: link tags, then every named field."""
    fields = [(f"[{definition.name}]", definition.name) for definition in account.field_definitions.order_by("field_id")]
    return LINK_TAGS + fields


def spam_checklist(message):
    """Return (label, passed) pairs that a sender checks before sending."""
    has_unsubscribe = bool(UNSUBSCRIBE_TAG.search(message.html) or UNSUBSCRIBE_LINK.search(message.html))
    dkim_ready = DkimKey.objects.filter(account_id=message.list.account_id).exists()
    return [
        (_("The HTML contains an unsubscribe link ([unsubscribe])."), has_unsubscribe),
        (_("The console has a DKIM key, so messages are signed."), dkim_ready),
        (_("The message has a text part."), bool(message.text.strip())),
        (_("The subject is not empty."), bool(message.subject.strip())),
    ]


@console_view()
def message_detail(request, message_id):
    message = get_message(request, message_id)
    sendings = keyset_page(message.sendings.all(), request.GET, newest_first=True)
    context = {
        "message": message,
        "checklist": spam_checklist(message),
        "send_form": SendForm(mailing_list=message.list),
        "test_form": TestSendForm(),
        "sendings": sendings.items,
        "page": sendings,
        "target_count": _target_count(message.list),
    }
    return render(request, "panel/campaigns/message.html", context)


@console_view()
def target_count(request, message_id):
    """Return, as JSON, how many recipients the target in the query string reaches now."""
    message = get_message(request, message_id)
    form = SendForm(request.GET, mailing_list=message.list)
    if not form.is_valid():
        return JsonResponse({"error": _("Choose groups of this list.")}, status=400)

    return JsonResponse({"count": _target_count(message.list, form.target())})


def _target_count(mailing_list, target=None):
    """Count the recipients of a target (the whole list when None), reusing a large count for a short while."""
    target = target or {}

    def ids(name):
        return ",".join(str(pk) for pk in sorted(row.pk for row in target.get(name, ())))

    key = f"target:{mailing_list.pk}:{ids('groups')}:{ids('excluded_groups')}:{ids('filters')}:{target.get('filters_match', '')}"
    return cached_count(key, lambda: sending_services.count_target_recipients(mailing_list, **target))


@console_view(role=Role.EDITOR, methods=("POST",))
def message_send(request, message_id):
    message = get_message(request, message_id)
    form = SendForm(request.POST, mailing_list=message.list)
    if not form.is_valid():
        messages.error(request, _("The target or the date is not valid."))
        return redirect("panel:message_detail", message_id=message.pk)

    sending = sending_services.queue_sending(message, scheduled_at=form.cleaned_data["scheduled_at"], **form.target())
    messages.success(request, _("Sending %(id)s created.") % {"id": sending.pk})
    return redirect("panel:sending_detail", sending_id=sending.pk)


@console_view(role=Role.EDITOR, methods=("POST",))
def message_test_send(request, message_id):
    """Send the message now to a few subscribed recipients of its list, as a sending of its own."""
    message = get_message(request, message_id)
    form = TestSendForm(request.POST)
    addresses = _read_addresses(form.data.get("addresses", ""))
    if not addresses or len(addresses) > MAX_TEST_ADDRESSES:
        messages.error(request, _("Enter from 1 to %(max)s addresses.") % {"max": MAX_TEST_ADDRESSES})
        return redirect("panel:message_detail", message_id=message.pk)

    searchable = [address for address in addresses if can_match(address)]
    found = Recipient.objects.filter(account=request.account, email__in=searchable)
    reachable = list(sending_services.recipients_in_target(message.list_id, recipient_ids=found.values("pk")))
    if not reachable:
        messages.error(request, _("None of these addresses is a subscribed recipient of the list."))
        return redirect("panel:message_detail", message_id=message.pk)

    sending = sending_services.queue_sending(message, recipients=reachable)
    skipped = sorted(set(addresses) - {recipient.email for recipient in reachable})
    messages.success(request, _("Test sending %(id)s created.") % {"id": sending.pk})
    if skipped:
        messages.error(request, _("Not subscribed to the list, so skipped: %(addresses)s") % {"addresses": ", ".join(skipped)})
    return redirect("panel:sending_detail", sending_id=sending.pk)


def _read_addresses(raw):
    """Return the distinct addresses in `raw`, lower-cased; invalid ones are kept so they show as skipped."""
    addresses = []
    for part in re.split(r"[,;\s]+", raw):
        if not part:
            continue
        try:
            addresses.append(normalize_email(part))
        except InvalidContact:
            addresses.append(part.lower()[:254])
    return list(dict.fromkeys(addresses))


@console_view()
def sending_index(request):
    sendings = Sending.objects.filter(list__account=request.account).select_related("message", "list")
    page = keyset_page(sendings, request.GET, newest_first=True)
    return render(request, "panel/campaigns/sendings.html", {"page": page, "query": ""})


@console_view()
def sending_detail(request, sending_id):
    sending = get_sending(request, sending_id)
    # One grouped pass over the deliveries gives the progress, the charts and the per-ISP counters.
    breakdown = sending_statistics.sending_breakdown(sending)
    statistics = sending_services.progress_counters(breakdown["statuses"], breakdown["sent"])
    done = statistics["total"] - statistics["queued"] - statistics["deferred"]
    context = {
        "sending": sending,
        "statistics": statistics,
        "percent": round(100 * done / statistics["total"]) if statistics["total"] else 0,
        "running": sending.status not in (Sending.Status.DONE, Sending.Status.CANCELLED),
        "status_chart": bar_chart(_status_rows(statistics), STATUS_COLOURS),
        "hour_chart": bar_chart(_hour_rows(breakdown["delivered_by_hour"])),
        "ip_chart": bar_chart(breakdown["by_source_ip"]),
        "engagement": sending_engagement(sending, breakdown["by_isp"], statistics["total"]),
    }
    return render(request, "panel/campaigns/sending.html", context)


def _hour_rows(delivered_by_hour):
    """Return the hour chart rows, each hour labelled in the active language's SHORT_DATETIME_FORMAT."""
    return [(date_format(localtime(hour), "SHORT_DATETIME_FORMAT"), total) for hour, total in delivered_by_hour]


def _status_rows(statistics):
    labels = Delivery.Status
    return [
        (labels.DELIVERED.label, statistics["delivered"]),
        (labels.BOUNCED.label, statistics["bounced"]),
        (labels.FAILED.label, statistics["failed"]),
        (labels.DEFERRED.label, statistics["deferred"]),
        (labels.QUEUED.label, statistics["queued"]),
    ]


STATUS_COLOURS = {
    Delivery.Status.DELIVERED.label: "ok",
    Delivery.Status.BOUNCED.label: "bad",
    Delivery.Status.FAILED.label: "bad",
    Delivery.Status.DEFERRED.label: "warn",
}


SENDING_ACTIONS = {
    "pause": sending_services.pause_sending,
    "resume": sending_services.resume_sending,
    "stop": sending_services.stop_sending,
}


@console_view(role=Role.EDITOR, methods=("POST",))
def sending_action(request, sending_id):
    sending = get_sending(request, sending_id)
    action = SENDING_ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        raise Http404
    if action(sending):
        messages.success(request, _("Sending updated."))
    else:
        messages.error(request, _("The sending is not in a state that allows this."))
    return redirect("panel:sending_detail", sending_id=sending.pk)
