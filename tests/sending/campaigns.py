"""Named people and actions for campaign tests on the demo console."""

from lists import services as lists_services
from lists.models import Source, Subscription
from lists.validation import normalize_email
from sending import services
from sending.models import Delivery
from tests.personas import demo_list


def subscribe(email, list_id=1, confirm=False, fields=None, group_ids=()):
    """Subscribe `email` to a demo list and return the recipient."""
    mailing_list = demo_list(list_id)
    contact = lists_services.Contact(email=normalize_email(email))
    request = lists_services.SubscribeRequest(
        account=mailing_list.account,
        lists=[mailing_list],
        contact=contact,
        source=Source.API,
        confirm=confirm,
        fields=fields or {},
        group_ids=list(group_ids),
    )
    lists_services.subscribe(request)
    return lists_services.find_recipient(mailing_list.account, contact)


def unsubscribe(email, list_id=1):
    mailing_list = demo_list(list_id)
    contact = lists_services.Contact(email=normalize_email(email))
    lists_services.unsubscribe(mailing_list.account, mailing_list, contact, Source.API)


def newsletter(list_id=1, subject="Novità di dicembre", html="<p>Ciao [nome]</p>", **extra):
    return services.create_message(demo_list(list_id), subject, html, **extra)


def subscription_of(recipient, list_id=1):
    return Subscription.objects.get(recipient=recipient, list=demo_list(list_id), channel="email")


def deliveries(sending):
    return {delivery.to_email: delivery for delivery in Delivery.objects.filter(sending=sending)}
