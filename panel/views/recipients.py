"""Recipients of a list: search and filters with keyset paging, one recipient's page, and manual changes."""

import logging

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from lists import services
from lists.errors import ListsError
from lists.models import Channel, GroupMembership, Recipient, Source, Subscription
from lists.rest import FieldValue
from lists.validation import normalize_email
from panel.access import Role, console_view
from panel.forms import AddRecipientForm
from panel.paging import can_match, keyset_page, read_id
from panel.views.lists import get_group, get_list

logger = logging.getLogger(__name__)



@console_view()
def recipient_index(request, list_id):
    mailing_list = get_list(request, list_id)
    subscriptions = filtered_subscriptions(mailing_list, request.GET)
    page = keyset_page(subscriptions.select_related("recipient"), request.GET)
    context = {
        "list": mailing_list,
        "page": page,
        "fields": request.account.field_definitions.order_by("field_id"),
        "groups": mailing_list.groups.all(),
        "statuses": Subscription.Status.choices,
        "query": _query_without_paging(request.GET),
        "form": AddRecipientForm(mailing_list=mailing_list),
    }
    return render(request, "panel/recipients/index.html", context)


def filtered_subscriptions(mailing_list, params):
    """Apply the status, address, field and group filters of the query string."""
    if not can_match(params.get("q", "") + params.get("value", "")):
        return Subscription.objects.none()

    subscriptions = Subscription.objects.filter(list=mailing_list, channel=Channel.EMAIL)
    if params.get("status") in Subscription.Status.values:
        subscriptions = subscriptions.filter(status=params["status"])
    if params.get("q"):
        subscriptions = subscriptions.filter(recipient__email__contains=params["q"].strip().lower())

    field_id = read_id(params.get("field"))
    if field_id is not None and 1 <= field_id <= 39 and params.get("value"):
        matching = Recipient.objects.annotate(value=FieldValue(field_id)).filter(
            account_id=mailing_list.account_id, value__icontains=params["value"]
        )
        subscriptions = subscriptions.filter(recipient__in=matching.values("pk"))

    group_id = read_id(params.get("group"))
    if group_id is not None:
        members = GroupMembership.objects.filter(group_id=group_id, group__list=mailing_list)
        subscriptions = subscriptions.filter(recipient__in=members.values("recipient_id"))
    return subscriptions


def _query_without_paging(params):
    query = params.copy()
    query.pop("after", None)
    query.pop("before", None)
    return query.urlencode()


@console_view(role=Role.EDITOR, methods=("POST",))
def recipient_add(request, list_id):
    mailing_list = get_list(request, list_id)
    form = AddRecipientForm(request.POST, mailing_list=mailing_list)
    if not form.is_valid():
        messages.error(request, _("Enter a valid e-mail address."))
        return redirect("panel:recipient_index", list_id=list_id)

    subscribe_request = services.SubscribeRequest(
        account=request.account,
        lists=[mailing_list],
        contact=services.Contact(email=normalize_email(form.cleaned_data["email"])),
        source=Source.CONSOLE,
        confirm=form.cleaned_data["confirm"],
        group_ids=[group.pk for group in form.cleaned_data["groups"]],
    )
    try:
        services.subscribe(subscribe_request)
    except ListsError as error:
        logger.info("panel subscribe rejected list=%s error=%s", mailing_list.pk, error.code)
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("%(email)s added to the list.") % {"email": form.cleaned_data["email"]})
    return redirect("panel:recipient_index", list_id=list_id)


def _error_text(error):
    texts = {
        "subscription_blocked": _("A bounce or a complaint unsubscribed this recipient; only they can subscribe again."),
        "invalid_contact": _("The e-mail address is not valid."),
        "invalid_parameter": _("The address and the mobile number belong to two different recipients."),
        "not_subscribed": _("The recipient is not subscribed to this list."),
        "recipient_not_found": _("The recipient was not found."),
    }
    return texts.get(error.code, _("The change was rejected."))


@console_view()
def recipient_detail(request, recipient_id):
    recipient = get_object_or_404(Recipient, account=request.account, pk=recipient_id)
    account_groups = request.account.lists.prefetch_related("groups")
    events = keyset_page(recipient.events.select_related("list"), request.GET, newest_first=True, prefix="events_")
    deliveries = keyset_page(recipient.deliveries.select_related("sending__message"), request.GET, newest_first=True, prefix="deliveries_")
    context = {
        "recipient": recipient,
        "subscriptions": recipient.subscriptions.select_related("list").order_by("list__list_id", "channel"),
        "memberships": recipient.group_memberships.select_related("group__list").order_by("group__list__list_id"),
        "events": events.items,
        "events_page": events,
        "deliveries": deliveries.items,
        "deliveries_page": deliveries,
        "fields": _named_fields(request.account, recipient),
        "lists": account_groups,
    }
    return render(request, "panel/recipients/detail.html", context)


def _named_fields(account, recipient):
    names = dict(account.field_definitions.values_list("field_id", "name"))
    return [(names.get(int(key), f"campo{key}"), value) for key, value in sorted(recipient.fields.items(), key=lambda item: int(item[0])) if value]


@console_view(role=Role.EDITOR, methods=("POST",))
def recipient_change(request, recipient_id):
    """Apply one manual change: subscribe, unsubscribe, add to, remove from or move between groups."""
    recipient = get_object_or_404(Recipient, account=request.account, pk=recipient_id)
    action = request.POST.get("action", "")
    try:
        changed = _apply_change(request, recipient, action)
    except ListsError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("Change saved.") if changed else _("Nothing to change."))
    return redirect("panel:recipient_detail", recipient_id=recipient.pk)


def _apply_change(request, recipient, action):
    post = request.POST
    if action == "subscribe":
        mailing_list = get_list(request, post.get("list_id", "0"))
        return services.force_subscribe(mailing_list, recipient.pk, source=Source.CONSOLE)
    if action == "unsubscribe":
        mailing_list = get_list(request, post.get("list_id", "0"))
        return services.unsubscribe_recipient(recipient.pk, mailing_list, Source.CONSOLE, services.REASON_ADMINISTRATOR)
    if action == "add_group":
        return services.add_to_group(get_group(request, post.get("group_id", "0")), recipient.pk, source=Source.CONSOLE)
    if action == "remove_group":
        return services.remove_from_group(get_group(request, post.get("group_id", "0")), recipient.pk, source=Source.CONSOLE)
    if action == "move_group":
        from_group = get_group(request, post.get("group_id", "0"))
        to_group = get_group(request, post.get("to_group_id", "0"))
        return services.move_to_group(recipient.pk, from_group, to_group)
    messages.error(request, _("Unknown action."))
    return False
