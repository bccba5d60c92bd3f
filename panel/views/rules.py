"""Webhooks and post-operations of the account: list, create, edit, delete, and replay a failed webhook call.

integrations.configuration checks and saves the rules; these views turn
form input into its data shape and show its ConfigurationError on the field.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from integrations import configuration, webhooks
from integrations.configuration import ConfigurationError
from integrations.models import PostOperation, PostOperationRun, Webhook, WebhookDelivery
from panel.access import Role, console_view
from panel.paging import keyset_page
from panel.settings_forms import PostOperationForm, WebhookForm


def _webhook(request, webhook_id):
    return get_object_or_404(Webhook, account=request.account, pk=webhook_id)


def _post_operation(request, post_operation_id):
    return get_object_or_404(PostOperation, account=request.account, pk=post_operation_id)


def _show_error(form, error):
    field = error.field if error.field in form.fields else None
    form.add_error(field, _("Invalid value: %(detail)s") % {"detail": error.message})


@console_view()
def rule_index(request):
    account = request.account
    webhooks = keyset_page(Webhook.objects.filter(account=account).prefetch_related("lists"), request.GET, prefix="webhooks_")
    post_operations = keyset_page(
        PostOperation.objects.filter(account=account).prefetch_related("lists", "subscribe_to", "unsubscribe_from"),
        request.GET,
        prefix="post_operations_",
    )
    runs = keyset_page(PostOperationRun.objects.filter(post_operation__account=account), request.GET, newest_first=True, prefix="runs_")
    context = {
        "webhooks": webhooks.items,
        "webhooks_page": webhooks,
        "post_operations": post_operations.items,
        "post_operations_page": post_operations,
        "runs": runs.items,
        "runs_page": runs,
    }
    return render(request, "panel/settings/rules.html", context)


# --- Webhooks --------------------------------------------------------------------


def _webhook_data(form, webhook):
    data = {name: form.cleaned_data[name] for name in ("event", "sources", "lists", "method", "url", "parameters", "active")}
    # An empty key field keeps the saved key, which the form never shows.
    if form.cleaned_data["encryption_key"] or webhook is None:
        data["encryption_key"] = form.cleaned_data["encryption_key"]
    return data


def _webhook_initial(webhook):
    return {
        "event": webhook.event,
        "sources": webhook.sources,
        "lists": [item.list_id for item in webhook.lists.all()],
        "active": webhook.active,
        "method": webhook.method,
        "url": webhook.url,
        "parameters": "\n".join(f"{name}={template}" for name, template in webhook.parameters),
    }


def _edit_webhook(request, webhook):
    initial = _webhook_initial(webhook) if webhook else {"active": True}
    form = WebhookForm(request.POST or None, initial=initial, account=request.account)
    if request.method == "POST" and form.is_valid():
        try:
            configuration.save_webhook(request.account, _webhook_data(form, webhook), webhook)
        except ConfigurationError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("Webhook saved."))
            return redirect("panel:rule_index")
    return render(request, "panel/settings/rule_form.html", {"form": form, "rule": webhook, "kind": "webhook"})


@console_view(role=Role.ADMIN, methods=("GET", "POST"))
def webhook_create(request):
    return _edit_webhook(request, None)


@console_view(role=Role.ADMIN, methods=("GET", "POST"))
def webhook_edit(request, webhook_id):
    return _edit_webhook(request, _webhook(request, webhook_id))


@console_view(role=Role.ADMIN, methods=("POST",))
def webhook_delete(request, webhook_id):
    _webhook(request, webhook_id).delete()
    messages.success(request, _("Webhook deleted."))
    return redirect("panel:rule_index")


@console_view(role=Role.ADMIN, methods=("POST",))
def webhook_replay(request, delivery_id):
    """Send a failed webhook call again with a fresh set of attempts."""
    delivery = get_object_or_404(WebhookDelivery, webhook__account=request.account, pk=delivery_id)
    if webhooks.replay_webhook_delivery(delivery.pk):
        messages.success(request, _("Webhook call %(id)s queued again.") % {"id": delivery.pk})
    else:
        messages.error(request, _("Only a failed webhook call can be replayed."))
    return redirect("panel:webhook_log")


# --- Post-operations ----------------------------------------------------------------


def _post_operation_initial(post_operation):
    return {
        "event": post_operation.event,
        "sources": post_operation.sources,
        "lists": [item.list_id for item in post_operation.lists.all()],
        "subscribe_to": [item.list_id for item in post_operation.subscribe_to.all()],
        "unsubscribe_from": [item.list_id for item in post_operation.unsubscribe_from.all()],
        "active": post_operation.active,
    }


def _edit_post_operation(request, post_operation):
    initial = _post_operation_initial(post_operation) if post_operation else {"active": True}
    form = PostOperationForm(request.POST or None, initial=initial, account=request.account)
    if request.method == "POST" and form.is_valid():
        try:
            configuration.save_post_operation(request.account, form.cleaned_data, post_operation)
        except ConfigurationError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("Post-operation saved."))
            return redirect("panel:rule_index")
    context = {"form": form, "rule": post_operation, "kind": "post_operation"}
    return render(request, "panel/settings/rule_form.html", context)


@console_view(role=Role.ADMIN, methods=("GET", "POST"))
def post_operation_create(request):
    return _edit_post_operation(request, None)


@console_view(role=Role.ADMIN, methods=("GET", "POST"))
def post_operation_edit(request, post_operation_id):
    return _edit_post_operation(request, _post_operation(request, post_operation_id))


@console_view(role=Role.ADMIN, methods=("POST",))
def post_operation_delete(request, post_operation_id):
    _post_operation(request, post_operation_id).delete()
    messages.success(request, _("Post-operation deleted."))
    return redirect("panel:rule_index")
