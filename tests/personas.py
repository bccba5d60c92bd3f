"""Named actions on the demo console that many tests share."""

from lists import services
from lists.models import Account, Source
from lists.validation import normalize_email


def demo_list(list_id=1):
    return Account.objects.get(console_id=1234).lists.get(list_id=list_id)


def subscribe_pending(email, list_id=1):
    """Subscribe `email` to a demo list with double opt-in, as xmlSubscribe.aspx does."""
    mailing_list = demo_list(list_id)
    request = services.SubscribeRequest(
        account=mailing_list.account,
        lists=[mailing_list],
        contact=services.Contact(email=normalize_email(email)),
        source=Source.API,
        confirm=True,
        ip="127.0.0.1",
    )
    return services.subscribe(request)
