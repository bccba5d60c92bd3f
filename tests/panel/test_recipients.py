import pytest

from lists import services
from lists.models import GroupMembership, Recipient, Source, Subscription, SubscriptionEvent
from panel.paging import PAGE_SIZE

pytestmark = pytest.mark.django_db


def subscribe(account, email, list_id=1, fields=None, group_ids=()):
    mailing_list = account.lists.get(list_id=list_id)
    services.subscribe(
        services.SubscribeRequest(
            account=account,
            lists=[mailing_list],
            contact=services.Contact(email=email),
            source=Source.API,
            confirm=False,
            fields=fields or {},
            group_ids=list(group_ids),
        )
    )
    return Recipient.objects.get(account=account, email=email)


def test_add_recipient_subscribes_with_console_source(editor, demo_account):
    group = demo_account.lists.get(list_id=1).groups.get(name="Clienti")

    editor.post("/console/lists/1/recipients/add", {"email": "Anna@Example.com", "groups": [group.pk]})

    subscription = Subscription.objects.get(recipient__email="anna@example.com", list__list_id=1)
    assert subscription.status == Subscription.Status.SUBSCRIBED
    assert subscription.source == Source.CONSOLE
    assert GroupMembership.objects.filter(group=group, recipient=subscription.recipient).exists()


def test_add_recipient_with_confirmation_stays_pending(editor, demo_account):
    editor.post("/console/lists/1/recipients/add", {"email": "bruno@example.com", "confirm": "on"})

    subscription = Subscription.objects.get(recipient__email="bruno@example.com")
    assert subscription.status == Subscription.Status.PENDING


def test_recipients_page_through_keyset(viewer, demo_account):
    for number in range(PAGE_SIZE + 5):
        subscribe(demo_account, f"user{number:03d}@example.com")

    first = viewer.get("/console/lists/1/recipients").content.decode()
    last_id = Subscription.objects.filter(list__list_id=1, list__account=demo_account).order_by("pk")[PAGE_SIZE - 1].pk
    second = viewer.get(f"/console/lists/1/recipients?after={last_id}").content.decode()

    assert "user000@example.com" in first
    assert f"after={last_id}" in first
    assert "user054@example.com" not in first
    assert "user054@example.com" in second
    assert "user000@example.com" not in second


def test_recipients_filter_by_address_status_field_and_group(viewer, demo_account):
    group = demo_account.lists.get(list_id=1).groups.get(name="Clienti")
    subscribe(demo_account, "carla@example.com", fields={"1": "Carla"}, group_ids=[group.pk])
    subscribe(demo_account, "dario@example.com", fields={"1": "Dario"})
    services.unsubscribe(demo_account, demo_account.lists.get(list_id=1), services.Contact(email="dario@example.com"), Source.API)

    by_address = viewer.get("/console/lists/1/recipients?q=carla").content.decode()
    by_status = viewer.get("/console/lists/1/recipients?status=unsubscribed").content.decode()
    by_field = viewer.get("/console/lists/1/recipients?field=1&value=dar").content.decode()
    by_group = viewer.get(f"/console/lists/1/recipients?group={group.pk}").content.decode()

    assert "carla@example.com" in by_address
    assert "dario@example.com" not in by_address
    assert "dario@example.com" in by_status
    assert "carla@example.com" not in by_status
    assert "dario@example.com" in by_field
    assert "carla@example.com" not in by_field
    assert "carla@example.com" in by_group
    assert "dario@example.com" not in by_group


@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "-1", "99999999999999999999999"])
@pytest.mark.parametrize("name", ["field", "group"])
def test_recipients_filter_ignores_malformed_ids(viewer, demo_account, name, value):
    subscribe(demo_account, "carla@example.com")

    response = viewer.get("/console/lists/1/recipients", {name: value, "value": "x"})

    assert response.status_code == 200
    assert "carla@example.com" in response.content.decode()


@pytest.mark.parametrize("query", [{"q": "carla\x00"}, {"field": "1", "value": "Car\x00la"}])
def test_recipients_search_with_nul_matches_nothing(viewer, demo_account, query):
    subscribe(demo_account, "carla@example.com", fields={"1": "Carla"})

    response = viewer.get("/console/lists/1/recipients", query)

    assert response.status_code == 200
    assert "carla@example.com" not in response.content.decode()


def test_recipient_page_shows_subscriptions_and_events(viewer, demo_account):
    recipient = subscribe(demo_account, "elena@example.com", fields={"1": "Elena"})

    page = viewer.get(f"/console/recipients/{recipient.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "elena@example.com" in page
    assert "Newsletter" in page
    assert "Elena" in page
    assert "subscribed" in page


def test_unsubscribe_and_subscribe_again_by_hand(editor, demo_account):
    recipient = subscribe(demo_account, "fabio@example.com")
    url = f"/console/recipients/{recipient.pk}/change"

    editor.post(url, {"action": "unsubscribe", "list_id": "1"})
    after_unsubscribe = Subscription.objects.get(recipient=recipient).status
    editor.post(url, {"action": "subscribe", "list_id": "1"})
    after_subscribe = Subscription.objects.get(recipient=recipient).status

    assert after_unsubscribe == Subscription.Status.UNSUBSCRIBED
    assert after_subscribe == Subscription.Status.SUBSCRIBED
    sources = set(SubscriptionEvent.objects.filter(recipient=recipient).values_list("source", flat=True))
    assert Source.CONSOLE in sources


def test_move_between_groups(editor, demo_account):
    clienti, prospect = demo_account.lists.get(list_id=1).groups.order_by("pk")
    recipient = subscribe(demo_account, "gaia@example.com", group_ids=[clienti.pk])

    editor.post(
        f"/console/recipients/{recipient.pk}/change",
        {"action": "move_group", "group_id": clienti.pk, "to_group_id": prospect.pk},
    )

    groups = set(GroupMembership.objects.filter(recipient=recipient).values_list("group_id", flat=True))
    assert groups == {prospect.pk}


def test_viewer_cannot_change_recipient(viewer, demo_account):
    recipient = subscribe(demo_account, "ivo@example.com")

    response = viewer.post(f"/console/recipients/{recipient.pk}/change", {"action": "unsubscribe", "list_id": "1"})

    assert response.status_code == 403
    assert Subscription.objects.get(recipient=recipient).status == Subscription.Status.SUBSCRIBED
