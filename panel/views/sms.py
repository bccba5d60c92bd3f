"""SMS messages of a list: write them, send them to the list or a group now or later, and follow their sendings."""

import logging

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from panel.access import Role, console_view
from panel.forms import SmsMessageForm, SmsSendForm
from panel.paging import keyset_page
from panel.views.lists import get_list
from sending import services as sending_services
from sending import sms_queue
from sending.errors import InvalidMessage
from sending.models import SmsMessage, SmsSending

logger = logging.getLogger(__name__)


def get_sms_message(request, message_id):
    return get_object_or_404(SmsMessage.objects.select_related("list"), list__account=request.account, pk=message_id)


@console_view()
def sms_index(request, list_id):
    """List the SMS messages of a list, with the form that writes a new one."""
    mailing_list = get_list(request, list_id)
    return render(request, "panel/sms/index.html", _index_context(request, mailing_list, SmsMessageForm()))


@console_view(role=Role.EDITOR, methods=("POST",))
def sms_create(request, list_id):
    mailing_list = get_list(request, list_id)
    form = SmsMessageForm(request.POST)
    if not form.is_valid():
        return render(request, "panel/sms/index.html", _index_context(request, mailing_list, form), status=400)

    message = sending_services.create_sms_message(mailing_list, form.cleaned_data["text"], subject=form.cleaned_data["subject"])
    messages.success(request, _("SMS saved."))
    return redirect("panel:sms_detail", message_id=message.pk)


def _index_context(request, mailing_list, form):
    page = keyset_page(mailing_list.sms_messages.all(), request.GET, newest_first=True)
    return {"list": mailing_list, "form": form, "page": page, "query": ""}


@console_view()
def sms_detail(request, message_id):
    message = get_sms_message(request, message_id)
    sendings = keyset_page(SmsSending.objects.filter(message=message).select_related("group"), request.GET, newest_first=True)
    context = {
        "message": message,
        "edit_form": SmsMessageForm(initial={"subject": message.subject, "text": message.text}),
        "send_form": SmsSendForm(mailing_list=message.list),
        "page": sendings,
        "query": "",
    }
    return render(request, "panel/sms/detail.html", context)


@console_view(role=Role.EDITOR, methods=("POST",))
def sms_edit(request, message_id):
    message = get_sms_message(request, message_id)
    form = SmsMessageForm(request.POST)
    if form.is_valid():
        sending_services.update_sms_message(message, form.cleaned_data["text"], subject=form.cleaned_data["subject"])
        messages.success(request, _("SMS saved."))
    else:
        messages.error(request, _("The SMS was not saved: %(errors)s") % {"errors": _form_errors(form)})
    return redirect("panel:sms_detail", message_id=message.pk)


@console_view(role=Role.EDITOR, methods=("POST",))
def sms_send(request, message_id):
    """Send the SMS now, or put it into the console's SMS queue for the chosen time."""
    message = get_sms_message(request, message_id)
    form = SmsSendForm(request.POST, mailing_list=message.list)
    if not form.is_valid():
        messages.error(request, _("The SMS was not sent: %(errors)s") % {"errors": _form_errors(form)})
        return redirect("panel:sms_detail", message_id=message.pk)

    group, when = form.cleaned_data["group"], form.cleaned_data["scheduled_at"]
    if when is None:
        sending = sending_services.send_sms_to_list(message, group=group)
        messages.success(request, _("SMS sent to %(count)s numbers.") % {"count": sending.sent})
        return redirect("panel:sms_detail", message_id=message.pk)

    try:
        sms_queue.schedule_sms(message, when, group=group)
    except InvalidMessage as error:
        logger.info("panel sms schedule rejected message=%s: %s", message.pk, error)
        messages.error(request, _("The SMS was not scheduled: %(errors)s") % {"errors": error})
    else:
        messages.success(request, _("SMS scheduled for %(when)s.") % {"when": date_format(localtime(when), "SHORT_DATETIME_FORMAT")})
    return redirect("panel:sms_detail", message_id=message.pk)


def _form_errors(form):
    return " ".join(str(error) for errors in form.errors.values() for error in errors)
