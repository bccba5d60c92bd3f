from django.shortcuts import render

from lists.models import Subscription
from panel.access import console_view
from panel.counts import subscription_counts
from panel.views.lists import MAX_LISTS_SHOWN
from sending.models import Sending, SinkMessage

RECENT_SENDINGS = 5


@console_view()
def dashboard(request):
    account = request.account
    lists = list(account.lists.order_by("list_id").only("pk", "list_id", "name")[:MAX_LISTS_SHOWN])
    counts = subscription_counts(mailing_list.pk for mailing_list in lists)
    for mailing_list in lists:
        mailing_list.subscribed = counts[mailing_list.pk].get(Subscription.Status.SUBSCRIBED, 0)
    sendings = (
        Sending.objects.filter(list__account=account).select_related("message", "list").order_by("-pk")[:RECENT_SENDINGS]
    )
    inbox_latest = SinkMessage.objects.filter(account_console_id=account.console_id).only("pk", "received_at").first()
    context = {"lists": lists, "sendings": sendings, "inbox_latest": inbox_latest}
    return render(request, "panel/dashboard.html", context)
