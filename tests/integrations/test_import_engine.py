"""The import engine: the status-flag matrix, xmlDoc reading, hostile payloads and resuming after a crash."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import importing, services, xmldoc
from integrations.models import Import
from lists import bulk_import
from lists import services as lists_services
from lists.models import Channel, Recipient, Source, Subscription, SubscriptionEvent
from tests.personas import demo_list

Status = Subscription.Status
ImportOptions = lists_services.ImportOptions


def subscriber(email, fields="", prefix="", number=""):
    return f'<subscriber email="{email}" Prefix="{prefix}" Number="{number}" Name="">{fields}</subscriber>'


def document(*subscribers):
    return "<subscribers>" + "".join(subscribers) + "</subscribers>"


def soap_import(xml_doc, options=ImportOptions(), payload=services.PayloadSettings()):
    job = services.create_import(demo_list(), Import.Kind.SOAP, services.XMLDOC, xml_doc, options, payload, start=True)
    job.refresh_from_db()
    return job


def set_status(email, status, reason=""):
    mailing_list = demo_list()
    contact = lists_services.Contact(email=email)
    request = lists_services.SubscribeRequest(
        account=mailing_list.account, lists=[mailing_list], contact=contact, source=Source.API, confirm=False
    )
    lists_services.subscribe(request)
    if status == Status.UNSUBSCRIBED:
        lists_services.unsubscribe(mailing_list.account, mailing_list, contact, Source.API, reason or "0")
    elif status == Status.PENDING:
        Subscription.objects.filter(recipient__email=email).update(status=Status.PENDING)


def status_of(email):
    return Subscription.objects.get(recipient__email=email, list=demo_list(), channel=Channel.EMAIL).status


MATRIX = [
    # (status before, flags, status after)
    (Status.SUBSCRIBED, {}, Status.SUBSCRIBED),
    (Status.PENDING, {}, Status.PENDING),
    (Status.UNSUBSCRIBED, {}, Status.UNSUBSCRIBED),
    (Status.PENDING, {"as_pending": True}, Status.SUBSCRIBED),
    (Status.UNSUBSCRIBED, {"force_opt_in": True}, Status.SUBSCRIBED),
    (Status.SUBSCRIBED, {"confirm_email": True}, Status.PENDING),
    (Status.UNSUBSCRIBED, {"confirm_email": True, "force_opt_in": True}, Status.PENDING),
    (Status.UNSUBSCRIBED, {"confirm_email": True, "force_opt_in": True, "as_pending": True}, Status.PENDING),
    (Status.SUBSCRIBED, {"as_opt_out": True}, Status.UNSUBSCRIBED),
    (Status.PENDING, {"as_opt_out": True}, Status.PENDING),
    (Status.PENDING, {"as_opt_out": True, "as_pending": True}, Status.UNSUBSCRIBED),
]


@pytest.mark.parametrize("before, flags, after", MATRIX)
def test_status_flag_matrix(demo, sink, before, flags, after):
    set_status("anna@example.com", before)

    job = soap_import(document(subscriber("anna@example.com")), ImportOptions(**flags))

    assert job.status == Import.Status.COMPLETED
    assert status_of("anna@example.com") == after


@pytest.mark.parametrize(
    "flags, after",
    [({}, Status.SUBSCRIBED), ({"confirm_email": True}, Status.PENDING), ({"as_opt_out": True}, Status.UNSUBSCRIBED)],
)
def test_new_recipient_status(demo, sink, flags, after):
    soap_import(document(subscriber("new@example.com")), ImportOptions(**flags))

    assert status_of("new@example.com") == after


@pytest.mark.parametrize("reason", ["80", "16"])
def test_force_opt_in_never_reverses_bounce_or_complaint(demo, reason):
    set_status("blocked@example.com", Status.UNSUBSCRIBED, reason)

    job = soap_import(document(subscriber("blocked@example.com")), ImportOptions(force_opt_in=True))

    subscription = Subscription.objects.get(recipient__email="blocked@example.com")
    assert subscription.status == Status.UNSUBSCRIBED
    assert subscription.optout_reason == reason
    assert job.count("rejected") == 1


@pytest.mark.parametrize(
    "flags, after",
    [
        ({"confirm_email": True, "force_opt_in": True}, Status.PENDING),
        ({"force_opt_in": True}, Status.SUBSCRIBED),
    ],
    ids=["pending", "subscribed"],
)
def test_import_out_of_unsubscribed_clears_optout(demo, sink, flags, after):
    soap_import(document(subscriber("anna@example.com")))
    soap_import(document(subscriber("anna@example.com")), ImportOptions(as_opt_out=True))
    assert Subscription.objects.get(recipient__email="anna@example.com").optout_reason == "4"

    job = soap_import(document(subscriber("anna@example.com")), ImportOptions(**flags))

    assert job.status == Import.Status.COMPLETED
    subscription = Subscription.objects.get(recipient__email="anna@example.com")
    assert subscription.status == after
    assert subscription.optout_at is None
    assert subscription.optout_reason == ""
    assert subscription.optout_message_id is None


def test_row_status_pending_clears_optout(demo, sink):
    set_status("anna@example.com", Status.UNSUBSCRIBED, "2")
    row = lists_services.ImportRow(contact=lists_services.Contact(email="anna@example.com"), status=Status.PENDING)

    [result] = lists_services.import_batch(demo_list(), [row])

    assert result.outcome == "updated"
    subscription = Subscription.objects.get(recipient__email="anna@example.com")
    assert subscription.status == Status.PENDING
    assert subscription.optout_at is None
    assert subscription.optout_reason == ""


def test_confirm_email_sends_request_to_subscribed(demo, sink):
    set_status("anna@example.com", Status.SUBSCRIBED)

    soap_import(document(subscriber("anna@example.com")), ImportOptions(confirm_email=True))

    [request] = sink.wait_for(1)
    assert request.rcpt_to == ["anna@example.com"]


def test_replace_groups(demo):
    first, second = demo_list().groups.all()[:2]
    soap_import(document(subscriber("anna@example.com")), ImportOptions(group_ids=(first.pk,)))

    soap_import(document(subscriber("anna@example.com")), ImportOptions(group_ids=(second.pk,), replace_groups=True))

    groups = set(Recipient.objects.get(email="anna@example.com").group_memberships.values_list("group_id", flat=True))
    assert groups == {second.pk}


def test_fields_follow_import_type(demo):
    fields = "<campo0>ignored</campo0><campo1>Anna</campo1><campo2>Rossi</campo2><campo3>Acme</campo3>"
    soap_import(document(subscriber("anna@example.com", fields)))

    soap_import(document(subscriber("anna@example.com", "<campo1></campo1><campo2> </campo2>")))
    kept_and_cleared = Recipient.objects.get(email="anna@example.com").fields
    clearing = services.PayloadSettings(clear_empty=True)
    soap_import(document(subscriber("anna@example.com", "<campo1></campo1>")), payload=clearing)
    all_cleared = Recipient.objects.get(email="anna@example.com").fields

    assert kept_and_cleared == {"1": "Anna", "2": "", "3": "Acme"}
    assert all_cleared["1"] == ""
    assert "0" not in all_cleared


def test_field_values_keep_backslashes_and_tabs(demo):
    value = "C:\\dati\tRossi \\N"
    soap_import(document(subscriber("anna@example.com", f"<campo1>{value}</campo1>")))

    assert Recipient.objects.get(email="anna@example.com").fields["1"] == value


def test_new_recipient_written_whole(demo):
    group = demo_list().groups.create(name="Clienti")
    options = ImportOptions(as_opt_out=True, group_ids=(group.pk,))
    payload = services.PayloadSettings(mobile_input_type=xmldoc.SPLIT_MOBILE)
    row = subscriber("anna@example.com", '<campo1>Anna "Rossi"</campo1>', prefix="+39", number="3331234567")

    soap_import(document(row), options, payload)

    recipient = Recipient.objects.get()
    subscriptions = {subscription.channel: subscription for subscription in recipient.subscriptions.all()}
    events = SubscriptionEvent.objects.filter(recipient=recipient).order_by("id")
    assert recipient.fields == {"1": 'Anna "Rossi"'}
    assert sorted(subscriptions) == [Channel.EMAIL, Channel.SMS]
    for subscription in subscriptions.values():
        assert (subscription.status, subscription.optout_reason) == (Status.UNSUBSCRIBED, "4")
        assert subscription.optout_at is not None
        assert subscription.requested_at is None
    assert list(recipient.group_memberships.values_list("group_id", flat=True)) == [group.pk]
    assert [(event.kind, event.channel, event.reason) for event in events] == [
        (SubscriptionEvent.Kind.UNSUBSCRIBE, Channel.EMAIL, "4"),
        (SubscriptionEvent.Kind.UNSUBSCRIBE, Channel.SMS, "4"),
    ]
    assert events[0].details == lists_services.BULK_IMPORT_EVENT_DETAILS


@pytest.mark.parametrize(
    "mobile_input_type, prefix, number",
    [(xmldoc.MERGED_MOBILE, "", "+393331234567"), (xmldoc.SPLIT_MOBILE, "+39", "3331234567")],
)
def test_mobile_input_types(demo, mobile_input_type, prefix, number):
    payload = services.PayloadSettings(mobile_input_type=mobile_input_type)
    soap_import(document(subscriber("", prefix=prefix, number=number)), payload=payload)

    recipient = Recipient.objects.get()
    assert (recipient.mobile_prefix, recipient.mobile_number) == ("0039", "3331234567")
    assert recipient.subscriptions.get().channel == Channel.SMS


def test_email_only_import_type_rejects_mobile_only_row(demo):
    options = ImportOptions(channels=(Channel.EMAIL,))

    job = soap_import(document(subscriber("", prefix="+39", number="3331234567")), options)

    assert job.count("rejected") == 1
    assert not Subscription.objects.exists()


def test_bad_rows_are_counted_and_kept(demo):
    long_email = "a" * 45 + "@example.com"
    rows = [subscriber("not-an-address"), subscriber(long_email), subscriber("", "<campo1>x</campo1>"), subscriber("ok@example.com")]

    job = soap_import(document(*rows))

    assert job.count("rejected") == 3
    assert job.count("created") == 1
    assert [rejection[0] for rejection in job.rejections] == [1, 2, 3]
    assert "longer than 50" in job.rejections[1][2]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE subscribers [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<subscribers><subscriber email="bomb@example.com" Prefix="" Number="" Name=""><campo1>&lol3;</campo1></subscriber></subscribers>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE subscribers [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<subscribers><subscriber email="xxe@example.com" Prefix="" Number="" Name=""><campo1>&secret;</campo1></subscriber></subscribers>"""


@pytest.mark.parametrize(
    "xml_doc, message",
    [
        (BILLION_LAUGHS, "document type declaration"),
        (EXTERNAL_ENTITY, "document type declaration"),
        ("<subscribers><subscriber email=", "not well-formed"),
        (document(subscriber("pipe@example.com", "<campo1>a|b</campo1>")), "pipe character"),
        ("<subscribers/>", "no recipients"),
    ],
    ids=["billion-laughs", "external-entity", "truncated", "pipe", "empty"],
)
def test_hostile_xmldoc_is_rejected_before_storing(demo, xml_doc, message):
    with pytest.raises(importing.InputRejected, match=message):
        soap_import(xml_doc)

    assert not Import.objects.exists()
    assert not Recipient.objects.exists()


class WorkerKilled(BaseException):
    """Stands for a worker process killed in the middle of a batch: no handler of the engine catches it."""


def test_crashed_import_resumes_without_duplicates(demo, settings, monkeypatch):
    settings.IMPORT_BATCH_SIZE = 2
    emails = [f"person{number}@example.com" for number in range(5)]
    job = services.create_import(
        demo_list(), Import.Kind.SOAP, services.XMLDOC, document(*map(subscriber, emails)), ImportOptions()
    )
    real_import_batch = lists_services.import_batch
    calls = []

    def crash_on_second_batch(*arguments, **keywords):
        calls.append(1)
        if len(calls) == 2:
            raise WorkerKilled()
        return real_import_batch(*arguments, **keywords)

    monkeypatch.setattr(lists_services, "import_batch", crash_on_second_batch)
    with pytest.raises(WorkerKilled):
        services.start_import(job)
    job.refresh_from_db()
    checkpoint = job.rows_done
    Import.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    services.run_import(job.pk)

    job.refresh_from_db()
    assert checkpoint == 2
    assert job.status == Import.Status.COMPLETED
    assert job.counts["created"] == 5
    assert job.counts["total"] == 5
    assert Recipient.objects.count() == 5
    assert SubscriptionEvent.objects.filter(kind="subscribe").count() == 5


def test_recipient_created_meanwhile_retries_batch(demo, monkeypatch):
    set_status("anna@example.com", Status.SUBSCRIBED)
    real_find_recipients = bulk_import.SqlStore.find_recipients
    calls = []

    def miss_on_first_read(store, *arguments, **keywords):
        # The first read runs before another transaction commits anna.
        calls.append(1)
        found = real_find_recipients(store, *arguments, **keywords)
        return [] if len(calls) == 1 else found

    monkeypatch.setattr(bulk_import.SqlStore, "find_recipients", miss_on_first_read)
    job = soap_import(document(subscriber("anna@example.com"), subscriber("bea@example.com")))

    assert job.status == Import.Status.COMPLETED
    assert (job.counts["created"], job.counts["unchanged"]) == (1, 1)
    assert Recipient.objects.filter(email__in=["anna@example.com", "bea@example.com"]).count() == 2
    assert Subscription.objects.filter(recipient__email="bea@example.com").count() == 1


def test_running_import_is_not_claimed_twice(demo):
    job = services.create_import(
        demo_list(), Import.Kind.SOAP, services.XMLDOC, document(subscriber("a@example.com")), ImportOptions()
    )
    Import.objects.filter(pk=job.pk).update(status=Import.Status.RUNNING, heartbeat_at=timezone.now())

    assert services.run_import(job.pk) is None
    assert not Recipient.objects.exists()


def test_second_import_of_list_waits(demo):
    running = services.create_import(
        demo_list(), Import.Kind.SOAP, services.XMLDOC, document(subscriber("a@example.com")), ImportOptions()
    )
    Import.objects.filter(pk=running.pk).update(status=Import.Status.RUNNING, heartbeat_at=timezone.now())
    waiting = services.create_import(
        demo_list(), Import.Kind.SOAP, services.XMLDOC, document(subscriber("b@example.com")), ImportOptions()
    )

    services.start_import(waiting)

    waiting.refresh_from_db()
    assert waiting.status == Import.Status.QUEUED
    assert importing.stalled_imports(timezone.now() + timedelta(minutes=2)) == [waiting.pk]


def test_post_operation_on_import_source_runs(demo):
    from integrations.models import PostOperation, RuleEvent

    post_operation = PostOperation.objects.create(
        account=demo_list().account, event=RuleEvent.SUBSCRIBE, sources=[Source.IMPORT]
    )
    post_operation.subscribe_to.set([demo_list(2)])

    soap_import(document(subscriber("anna@example.com")))

    statuses = dict(Subscription.objects.filter(recipient__email="anna@example.com").values_list("list__list_id", "status"))
    assert statuses == {1: Status.SUBSCRIBED, 2: Status.SUBSCRIBED}


def test_failed_file_import_fails_its_run(demo, settings, tmp_path, monkeypatch):
    settings.FTP_ROOT = tmp_path / "ftp"
    account = demo_list().account
    path = services.prepare_home(account) / "import" / "1" / "boom.csv"
    path.write_text("111\nanna@example.com\n", encoding="utf-8")
    monkeypatch.setattr("integrations.tasks.import_uploaded_file.delay", lambda *arguments: None)
    upload = services.receive_upload(account, path)

    def fail(*arguments, **keywords):
        raise RuntimeError("disk full")

    monkeypatch.setattr(lists_services, "import_batch", fail)
    services.import_upload(str(path), upload.sha256)

    upload.refresh_from_db()
    assert upload.status == "failed"
    assert upload.job.status == Import.Status.FAILED
    assert importing.stalled_imports(timezone.now() + timedelta(hours=1)) == []


def test_read_ahead_raises_source_error_in_order():
    def source():
        yield from range(1200)
        raise importing.InputRejected("broken at 1200")

    seen = []
    with pytest.raises(importing.InputRejected, match="broken at 1200"):
        with importing.read_ahead(source()) as records:
            seen.extend(records)

    assert seen == list(range(1200))


def test_read_ahead_stops_thread_on_exit():
    reader = importing.read_ahead(iter(range(100_000)))
    with pytest.raises(ZeroDivisionError):
        with reader as records:
            for record in records:
                if record == 10:
                    raise ZeroDivisionError()

    assert not reader.thread.is_alive()
