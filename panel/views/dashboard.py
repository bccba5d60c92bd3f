from django.db.models import Count, Q
from django.shortcuts import render

from lists.models import Subscription
from panel.access import console_view
from sending.models import Sending, SinkMessage

RECENT_SENDINGS = 5


@console_view()
def dashboard(request):
    account = request.account
    subscribed = Q(subscriptions__status=Subscription.Status.SUBSCRIBED)
    lists = account.lists.annotate(subscribed=Count("subscriptions", filter=subscribed)).order_by("list_id")
    sendings = (
        Sending.objects.filter(list__account=account).select_related("message", "list").order_by("-pk")[:RECENT_SENDINGS]
    )
    inbox_latest = SinkMessage.objects.filter(account_console_id=account.console_id).only("pk", "received_at").first()
    context = {"lists": lists, "sendings": sendings, "inbox_latest": inbox_latest}
    return render(request, "panel/dashboard.html", context)
