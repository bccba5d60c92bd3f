"""Post-operations: list actions after recipient events, their chains and loops, with a test CRM on 127.0.0.1."""

from urllib.parse import parse_qs, urlsplit

from integrations import post_operations, tasks
from integrations.models import PostOperation, PostOperationRun, Webhook
from lists import services
from lists.models import Account, Source, Subscription
from tests.lists.pages import LIST1_GUID

RunStatus = PostOperationRun.Status
UNSUBSCRIBE_ANNA = f"/frontend/xmlUnSubscribe.aspx?ListGuid={LIST1_GUID}&List=1&Email=anna%40example.com"
SUBSCRIBE_ANNA = "/frontend/xmlSubscribe.aspx?List={list_id}&Email=anna%40example.com&Confirm=0&retCode=1"


def demo_account():
    return Account.objects.get(console_id=1234)


def demo_list(list_id):
    return demo_account().lists.get(list_id=list_id)


def subscribe_anna(*list_ids):
    """Subscribe anna@example.com from the console, which fires nothing configured for API sources."""
    request = services.SubscribeRequest(
        account=demo_account(),
        lists=[demo_list(list_id) for list_id in list_ids],
        contact=services.Contact(email="anna@example.com"),
        source=Source.CONSOLE,
        confirm=False,
    )
    services.subscribe(request)


def add_post_operation(event, on_lists=(), subscribe_to=(), unsubscribe_from=(), sources=("API",)):
    post_operation = PostOperation.objects.create(account=demo_account(), event=event, sources=list(sources))
    post_operation.lists.set([demo_list(list_id) for list_id in on_lists])
    post_operation.subscribe_to.set([demo_list(list_id) for list_id in subscribe_to])
    post_operation.unsubscribe_from.set([demo_list(list_id) for list_id in unsubscribe_from])
    return post_operation


def anna_status(list_id):
    return Subscription.objects.get(recipient__email="anna@example.com", list=demo_list(list_id)).status


def crm_values(receiver):
    return [parse_qs(urlsplit(request["path"]).query) for request in receiver.requests]


def test_unsubscribe_cascades_to_second_list(demo, http, receiver):
    subscribe_anna(1, 2)
    Webhook.objects.create(
        account=demo_account(),
        event=Webhook.Event.UNSUBSCRIBE,
        sources=["API"],
        url=receiver.url,
        parameters=[["customerEmail", "[email]"], ["customerList", "[IdList]"], ["reason", "[Reason]"]],
    )
    add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[1], unsubscribe_from=[2])

    assert http.get(UNSUBSCRIBE_ANNA).text == "0"

    assert anna_status(1) == Subscription.Status.UNSUBSCRIBED
    assert anna_status(2) == Subscription.Status.UNSUBSCRIBED
    values = crm_values(receiver)
    assert [value["customerList"] for value in values] == [["1"], ["2"]]
    assert [value["customerEmail"] for value in values] == [["anna@example.com"], ["anna@example.com"]]
    # The cascaded unsubscribe keeps the reason of the one that started it.
    assert values[1].get("reason") == values[0].get("reason")
    run = PostOperationRun.objects.get()
    assert run.status == RunStatus.DONE
    assert run.outcomes == [{"action": "unsubscribe", "list": 2, "outcome": "unsubscribed"}]


def test_cascaded_event_carries_chain(demo, http):
    subscribe_anna(1, 2)
    post_operation = add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[1], unsubscribe_from=[2])

    http.get(UNSUBSCRIBE_ANNA)

    cascaded = demo_list(2).events.get(kind="unsubscribe")
    assert cascaded.source == Source.API
    assert cascaded.details["post_operation_chain"] == [post_operation.pk]


def test_chain_a_b_a_stops(demo, http):
    first = add_post_operation(Webhook.Event.SUBSCRIBE, on_lists=[1], subscribe_to=[2])
    second = add_post_operation(Webhook.Event.SUBSCRIBE, on_lists=[2], subscribe_to=[1])

    http.get(SUBSCRIBE_ANNA.format(list_id=1))

    assert anna_status(1) == Subscription.Status.SUBSCRIBED
    assert anna_status(2) == Subscription.Status.SUBSCRIBED
    runs = list(PostOperationRun.objects.order_by("id"))
    assert [run.post_operation_id for run in runs] == [first.pk, second.pk]
    assert [run.status for run in runs] == [RunStatus.DONE, RunStatus.DONE]
    assert runs[1].outcomes == [{"action": "subscribe", "list": 1, "outcome": "unchanged"}]


def test_changing_loop_is_detected(demo, http):
    """Four rules that keep changing state: only the chain check stops them."""
    subscribe_anna(1, 2)
    rules = [
        add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[1], subscribe_to=[2]),
        add_post_operation(Webhook.Event.SUBSCRIBE, on_lists=[2], subscribe_to=[1]),
        add_post_operation(Webhook.Event.SUBSCRIBE, on_lists=[1], unsubscribe_from=[2]),
        add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[2], unsubscribe_from=[1]),
    ]
    # Anna was subscribed to list 2 by the console; the rules react to API events only.
    services.unsubscribe(demo_account(), demo_list(2), services.Contact(email="anna@example.com"), Source.CONSOLE)

    http.get(UNSUBSCRIBE_ANNA)

    runs = list(PostOperationRun.objects.order_by("id"))
    ids = [rule.pk for rule in rules]
    assert [run.post_operation_id for run in runs] == [*ids, ids[0]]
    assert [run.status for run in runs[:4]] == [RunStatus.DONE] * 4
    assert runs[4].status == RunStatus.LOOP
    assert runs[4].chain == ids
    assert anna_status(1) == Subscription.Status.UNSUBSCRIBED
    assert anna_status(2) == Subscription.Status.UNSUBSCRIBED


def test_source_filter_skips_other_sources(demo, http):
    subscribe_anna(1, 2)
    add_post_operation(Webhook.Event.UNSUBSCRIBE, unsubscribe_from=[2], sources=["Console", "Recipient"])

    http.get(UNSUBSCRIBE_ANNA)

    assert anna_status(2) == Subscription.Status.SUBSCRIBED
    assert PostOperationRun.objects.count() == 0


def test_list_filter_skips_other_lists(demo, http):
    subscribe_anna(1, 2)
    add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[2], subscribe_to=[2])

    http.get(UNSUBSCRIBE_ANNA)

    assert PostOperationRun.objects.count() == 0


def test_inactive_post_operation_runs_nothing(demo, http):
    subscribe_anna(1, 2)
    post_operation = add_post_operation(Webhook.Event.UNSUBSCRIBE, unsubscribe_from=[2])
    post_operation.active = False
    post_operation.save()

    http.get(UNSUBSCRIBE_ANNA)

    assert anna_status(2) == Subscription.Status.SUBSCRIBED


def test_task_run_twice_applies_once(demo, http):
    subscribe_anna(1, 2)
    add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[1], unsubscribe_from=[2])
    http.get(UNSUBSCRIBE_ANNA)
    run = PostOperationRun.objects.get()

    assert tasks.run_post_operation(run.pk) is None

    assert demo_list(2).events.filter(kind="unsubscribe").count() == 1


def test_failed_run_rolls_back_and_retries(demo, http, monkeypatch):
    subscribe_anna(1, 2)
    add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[1], subscribe_to=[1], unsubscribe_from=[2])
    original = post_operations._unsubscribe

    def fail_once(*args):
        monkeypatch.setattr(post_operations, "_unsubscribe", original)
        raise RuntimeError("database went away")

    monkeypatch.setattr(post_operations, "_unsubscribe", fail_once)

    http.get(UNSUBSCRIBE_ANNA)

    run = PostOperationRun.objects.get()
    assert run.status == RunStatus.PENDING
    assert run.error == "RuntimeError: database went away"
    # The subscribe action ran before the failure and was rolled back with it.
    assert anna_status(1) == Subscription.Status.UNSUBSCRIBED
    assert anna_status(2) == Subscription.Status.SUBSCRIBED

    PostOperationRun.objects.update(created_at=run.created_at.replace(year=2000))
    assert tasks.sweep_post_operation_runs() == 1

    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.attempts == 2
    assert anna_status(1) == Subscription.Status.SUBSCRIBED
    assert anna_status(2) == Subscription.Status.UNSUBSCRIBED


def test_webhook_list_filter(demo, http, receiver):
    subscribe_anna(1, 2)
    webhook = Webhook.objects.create(
        account=demo_account(),
        event=Webhook.Event.UNSUBSCRIBE,
        sources=["API"],
        url=receiver.url,
        parameters=[["customerList", "[IdList]"]],
    )
    webhook.lists.set([demo_list(2)])
    add_post_operation(Webhook.Event.UNSUBSCRIBE, on_lists=[1], unsubscribe_from=[2])

    http.get(UNSUBSCRIBE_ANNA)

    assert [value["customerList"] for value in crm_values(receiver)] == [["2"]]


def test_confirmation_fires_subscribe_rules(demo, sink):
    add_post_operation(Webhook.Event.SUBSCRIBE, on_lists=[1], subscribe_to=[2], sources=["Recipient"])
    request = services.SubscribeRequest(
        account=demo_account(),
        lists=[demo_list(1)],
        contact=services.Contact(email="anna@example.com"),
        source=Source.API,
        confirm=True,
    )
    services.subscribe(request)
    pending = Subscription.objects.get(recipient__email="anna@example.com", list=demo_list(1))
    assert PostOperationRun.objects.count() == 0

    services.confirm_subscriptions(services.make_confirmation_token([pending], 48))

    assert anna_status(2) == Subscription.Status.SUBSCRIBED
    cascaded = demo_list(2).events.get(kind="subscribe")
    assert cascaded.source == Source.RECIPIENT
    assert PostOperationRun.objects.get().status == RunStatus.DONE
